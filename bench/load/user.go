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
// ones it is pointed at.
const (
	User     = "bench"
	Password = "bench password"
)

// EnsureUser registers the bench's user on the cluster behind nodes, unless
// it exists already. hc may be nil.
func EnsureUser(ctx context.Context, nodes []string, hc *http.Client) error {
	cl, err := client.New(client.Config{Nodes: nodes, HTTP: hc})
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	err = cl.Register(ctx, User, Password)
	var apiErr *client.Error
	if err != nil && !(errors.As(err, &apiErr) && apiErr.Code == "user_exists") {
		return fmt.Errorf("bench: registering the user %q: %w", User, err)
	}
	return nil
}
