package load

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"veil/cluster/client"
)

// The user the bench's writes are made as. Every put needs a logged-in
// owner; the bench registers this one on the clusters it starts and on the
// ones it is pointed at. Viewer is the one viewer of its puts
// (HideRequest): a put may name only registered users, so it is
// registered too, with the same password.
const (
	User     = "bench"
	Password = "bench password"
	Viewer   = "viewer"
)

// EnsureUser registers the bench's user and its viewer on the cluster
// behind nodes, unless they exist already. hc may be nil.
func EnsureUser(ctx context.Context, nodes []string, hc *http.Client) error {
	cl, err := client.New(client.Config{Nodes: nodes, HTTP: hc})
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	for _, name := range []string{User, Viewer} {
		err = cl.Register(ctx, name, Password)
		var apiErr *client.Error
		if err != nil && !(errors.As(err, &apiErr) && apiErr.Code == "user_exists") {
			return fmt.Errorf("bench: registering the user %q: %w", name, err)
		}
	}
	return nil
}
