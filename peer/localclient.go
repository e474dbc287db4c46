package peer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"veil/cluster/api"
	"veil/cluster/client"
)

// LocalClient talks to a running peer's control API, as its user. Every
// call carries the user's password and the header LocalHeader.
type LocalClient struct {
	base           string
	user, password string
	http           *http.Client
}

// NewLocalClient returns a client of the peer whose control API is at addr
// (host:port or http://host:port).
func NewLocalClient(addr, user, password string) (*LocalClient, error) {
	if !strings.Contains(addr, "://") {
		addr = "http://" + addr
	}
	u, err := url.Parse(addr)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("peer: %q is not an address of a peer's control API", addr)
	}
	if !loopbackHost(u.Host) {
		return nil, fmt.Errorf("peer: %s: a peer's control API is on this machine (localhost or a loopback address)", u.Host)
	}
	return &LocalClient{base: u.Scheme + "://" + u.Host, user: user, password: password,
		http: &http.Client{Timeout: 10 * time.Minute}}, nil
}

// startWait is how long a refused connection is tried again: the time a
// peer takes to start listening.
const startWait = 3 * time.Second

func (c *LocalClient) do(ctx context.Context, method, path, contentType string, body []byte) (*http.Response, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, bytes.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.SetBasicAuth(c.user, c.password)
	req.Header.Set(LocalHeader, "1")
	resp, err := c.http.Do(req)
	// A peer started a moment ago may not listen yet: a refused connection
	// carried nothing, so it is tried again for a little while.
	for wait := time.Now().Add(startWait); err != nil && errors.Is(err, syscall.ECONNREFUSED) && time.Now().Before(wait); {
		select {
		case <-ctx.Done():
			return nil, nil, fmt.Errorf("peer at %s does not answer (is `veil peer` running?): %w", c.base, err)
		case <-time.After(100 * time.Millisecond):
		}
		req.Body = io.NopCloser(bytes.NewReader(body))
		resp, err = c.http.Do(req)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("peer at %s does not answer (is `veil peer` running?): %w", c.base, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, MaxImageBytes))
	if err != nil {
		return nil, nil, err
	}
	if resp.StatusCode >= 300 {
		return resp, b, decodeError(resp.StatusCode, b)
	}
	return resp, b, nil
}

func (c *LocalClient) getJSON(ctx context.Context, path string, v any) error {
	_, b, err := c.do(ctx, http.MethodGet, path, "", nil)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

func (c *LocalClient) sendJSON(ctx context.Context, method, path string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	_, b, err := c.do(ctx, method, path, "application/json", body)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, out)
}

// Status returns the peer's state.
func (c *LocalClient) Status(ctx context.Context) (Status, error) {
	var s Status
	return s, c.getJSON(ctx, "/local/v1/status", &s)
}

// Online lists the online peers.
func (c *LocalClient) Online(ctx context.Context) (OnlineList, error) {
	var o OnlineList
	return o, c.getJSON(ctx, "/local/v1/online", &o)
}

// Directory lists the images the user may see.
func (c *LocalClient) Directory(ctx context.Context) (DirectoryList, error) {
	var d DirectoryList
	return d, c.getJSON(ctx, "/local/v1/directory", &d)
}

// Images lists the images the peer holds.
func (c *LocalClient) Images(ctx context.Context) ([]Entry, error) {
	var e []Entry
	return e, c.getJSON(ctx, "/local/v1/images", &e)
}

// Put veils secret through the cloud; the peer keeps it and offers it.
// It returns the veiled PNG and the image id.
func (c *LocalClient) Put(ctx context.Context, secret, cover []byte, viewers map[string]int) ([]byte, string, error) {
	return c.Hide(ctx, client.HideRequest{Secret: secret, Cover: cover, Viewers: viewers})
}

// Hide is Put with its arguments in one struct, and a stealth level.
func (c *LocalClient) Hide(ctx context.Context, req client.HideRequest) ([]byte, string, error) {
	secret, cover, viewers := req.Secret, req.Cover, req.Viewers
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, part := range []struct {
		name string
		b    []byte
	}{{"secret", secret}, {"cover", cover}} {
		if part.b == nil {
			continue
		}
		w, err := mw.CreateFormFile(part.name, part.name)
		if err != nil {
			return nil, "", err
		}
		w.Write(part.b)
	}
	var vs []string
	for name, n := range viewers {
		vs = append(vs, name+"="+strconv.Itoa(n))
	}
	mw.WriteField("viewers", strings.Join(vs, ","))
	if req.Stealth != "" {
		mw.WriteField("stealth", req.Stealth)
	}
	mw.Close()
	resp, b, err := c.do(ctx, http.MethodPost, "/local/v1/images", mw.FormDataContentType(), buf.Bytes())
	if err != nil {
		return nil, "", err
	}
	return b, resp.Header.Get("Veil-Image-Id"), nil
}

// Share changes an image's viewers through the peer. With the cloud away
// the peer queues the change: queued is then set, and the image reply
// empty.
func (c *LocalClient) Share(ctx context.Context, id string, set map[string]int, remove []string) (img api.ImageReply, queued *Queued, err error) {
	body, err := json.Marshal(ShareRequest{Set: set, Remove: remove})
	if err != nil {
		return img, nil, err
	}
	resp, b, err := c.do(ctx, http.MethodPatch, "/local/v1/images/"+url.PathEscape(id), "application/json", body)
	if err != nil {
		return img, nil, err
	}
	if resp.StatusCode == http.StatusAccepted {
		var q Queued
		return img, &q, json.Unmarshal(b, &q)
	}
	return img, nil, json.Unmarshal(b, &img)
}

// Fetch has the peer fetch an image from another peer, then lease views of
// it for offline use: lease of them, LeaseAll, or 0 for none.
func (c *LocalClient) Fetch(ctx context.Context, id, from string, lease int) (FetchResult, error) {
	var out FetchResult
	return out, c.sendJSON(ctx, http.MethodPost, "/local/v1/fetch", FetchRequest{Image: id, From: from, Lease: &lease}, &out)
}

// Viewed is the original of an image the peer opened.
type Viewed struct {
	Secret    []byte
	ViewsLeft int
	ByOwner   bool
	Offline   bool // opened from the peer's own store, the cloud away
}

// View opens a held image, spending one view. A denial is an *Error with
// status 403 and the reason as its code.
func (c *LocalClient) View(ctx context.Context, id string) (Viewed, error) {
	body, _ := json.Marshal(ViewRequest{Image: id})
	resp, b, err := c.do(ctx, http.MethodPost, "/local/v1/view", "application/json", body)
	if err != nil {
		return Viewed{}, err
	}
	left, _ := strconv.Atoi(resp.Header.Get("Veil-Views-Left"))
	return Viewed{Secret: b, ViewsLeft: left, ByOwner: resp.Header.Get("Veil-By-Owner") == "true",
		Offline: resp.Header.Get("Veil-Offline") == "true"}, nil
}

// Veiled returns a held veiled PNG.
func (c *LocalClient) Veiled(ctx context.Context, id string) ([]byte, error) {
	_, b, err := c.do(ctx, http.MethodGet, "/local/v1/images/"+url.PathEscape(id)+"/veiled", "", nil)
	return b, err
}

// GiveBack returns the device's leases of image (all, for ""): their
// unspent views go back online. It says how many leases were returned.
func (c *LocalClient) GiveBack(ctx context.Context, image string) (int, error) {
	var out struct {
		Returned int `json:"returned"`
	}
	return out.Returned, c.sendJSON(ctx, http.MethodPost, "/local/v1/leases/return", GiveBackRequest{Image: image}, &out)
}

// Requests lists requests from non-viewers.
func (c *LocalClient) Requests(ctx context.Context) ([]Request, error) {
	var out []Request
	return out, c.getJSON(ctx, "/local/v1/requests", &out)
}

// Approve grants a requester views of an image.
func (c *LocalClient) Approve(ctx context.Context, user, image string, views int) (api.ImageReply, error) {
	var out api.ImageReply
	return out, c.sendJSON(ctx, http.MethodPost, "/local/v1/requests/approve", ApproveRequest{User: user, Image: image, Views: views}, &out)
}
