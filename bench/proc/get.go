package proc

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// GetTimeout bounds one GetJSON, so that a paused node does not hold up
// whoever polls it.
const GetTimeout = time.Second

// URL is the URL of path on the node API at api: host:port, called over
// http, or a base URL that names its scheme (https://host:port, for a
// cluster that runs TLS).
func URL(api, path string) string {
	if strings.Contains(api, "://") {
		return api + path
	}
	return "http://" + api + path
}

// Rebase gives addr, a host:port as the nodes name each other's APIs, the
// scheme of api, if api names one.
func Rebase(api, addr string) string {
	if scheme, _, ok := strings.Cut(api, "://"); ok && !strings.Contains(addr, "://") {
		return scheme + "://" + addr
	}
	return addr
}

// GetJSON is a GET of path from the node API at api (see URL), bounded by
// GetTimeout, with the JSON reply decoded into v when v is not nil. Any
// status but 200 is a *StatusError: the node is up, but said no.
func GetJSON(ctx context.Context, hc *http.Client, api, path string, v any) error {
	ctx, cancel := context.WithTimeout(ctx, GetTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, URL(api, path), nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		e := &StatusError{Path: path, Status: resp.StatusCode, Body: strings.TrimSpace(string(body))}
		var reply struct {
			Error struct{ Code string } `json:"error"`
		}
		if json.Unmarshal(body, &reply) == nil {
			e.Code = reply.Error.Code
		}
		return e
	}
	if v == nil {
		return nil
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("GET %s: reply is not the JSON expected: %w", path, err)
	}
	return nil
}

// StatusError is an answer other than 200 OK.
type StatusError struct {
	Path   string
	Status int
	Code   string // the API's error code, e.g. no_coordinator
	Body   string
}

func (e *StatusError) Error() string { return fmt.Sprintf("GET %s: %d %s", e.Path, e.Status, e.Body) }
