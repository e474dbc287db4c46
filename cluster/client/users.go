package client

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"

	"veil/cluster/api"
)

type credentials struct {
	Name     string `json:"name"`
	Password string `json:"password"`
}

// Register creates a user. A retry after a lost reply is safe: the request
// carries one idempotency key for all its tries.
func (c *Client) Register(ctx context.Context, name, password string) error {
	body, err := json.Marshal(credentials{name, password})
	if err != nil {
		return err
	}
	_, _, err = c.do(ctx, http.MethodPost, "/v1/users", "application/json", body, true)
	return err
}

// Login checks a user's password and keeps the token the cluster returns
// for the client's later calls.
func (c *Client) Login(ctx context.Context, name, password string) (api.LoginReply, error) {
	var out api.LoginReply
	body, err := json.Marshal(credentials{name, password})
	if err != nil {
		return out, err
	}
	resp, _, err := c.do(ctx, http.MethodPost, "/v1/login", "application/json", body, false)
	if err != nil {
		return out, err
	}
	if err := json.Unmarshal(resp.body, &out); err != nil {
		return out, err
	}
	c.SetToken(out.Token)
	return out, nil
}

// SetToken sets the bearer token sent with every request.
func (c *Client) SetToken(token string) {
	c.mu.Lock()
	c.token = token
	c.mu.Unlock()
}

// Put veils an image for the logged-in owner and records it in the
// registry; the PNG comes back only once the record is committed.
func (c *Client) Put(ctx context.Context, secret, cover []byte, viewers map[string]int) (*HideResult, error) {
	return c.sendImage(ctx, "/v1/images", secret, cover, map[string]string{"viewers": formatViewers(viewers)})
}

// ViewResult is an image a viewer was allowed to see.
type ViewResult struct {
	Secret    []byte // the original file, byte for byte
	ImageID   string
	ViewsLeft int
	ByOwner   bool   // the viewer owns the image; nothing was spent
	Worker    string // the node that opened the image
}

// View asks to see the original of a veiled PNG as the logged-in user. It
// spends one view (once, whatever the retries). A denial is an *Error with
// status 403 and the reason as its code.
func (c *Client) View(ctx context.Context, veiled []byte) (*ViewResult, error) {
	resp, _, err := c.do(ctx, http.MethodPost, "/v1/view", "image/png", veiled, true)
	if err != nil {
		return nil, err
	}
	left, _ := strconv.Atoi(resp.header.Get("Veil-Views-Left"))
	return &ViewResult{
		Secret: resp.body, ImageID: resp.header.Get("Veil-Image-Id"),
		ViewsLeft: left, ByOwner: resp.header.Get("Veil-By-Owner") == "true",
		Worker: resp.header.Get("Veil-Worker"),
	}, nil
}

// Share changes an image's viewers: set gives views left, remove drops
// viewers. Only the owner may.
func (c *Client) Share(ctx context.Context, id string, set map[string]int, remove []string) (api.ImageReply, error) {
	var out api.ImageReply
	body, err := json.Marshal(map[string]any{"set": set, "remove": remove})
	if err != nil {
		return out, err
	}
	resp, _, err := c.do(ctx, http.MethodPatch, "/v1/images/"+url.PathEscape(id), "application/json", body, true)
	if err != nil {
		return out, err
	}
	return out, json.Unmarshal(resp.body, &out)
}

// Images lists the logged-in user's own images.
func (c *Client) Images(ctx context.Context) ([]api.ImageReply, error) {
	var out []api.ImageReply
	return out, c.getJSON(ctx, "/v1/images", &out)
}

// Shared lists the images shared with the logged-in user.
func (c *Client) Shared(ctx context.Context) ([]api.SharedReply, error) {
	var out []api.SharedReply
	return out, c.getJSON(ctx, "/v1/shared", &out)
}
