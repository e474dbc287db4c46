package peer

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/hashicorp/go-hclog"

	"veil/cluster/client"
	"veil/internal/throttle"
)

// Policy says what the owner's peer does with a request from a user who is
// not among an image's viewers.
type Policy string

const (
	// PolicyRefuse answers "not found", as for an image that does not
	// exist: a non-viewer learns nothing. The default.
	PolicyRefuse Policy = "refuse"
	// PolicyRequests queues the request for the owner to approve; approval
	// adds the viewer through the cloud. The requester learns that the
	// owner has the image.
	PolicyRequests Policy = "requests"
)

// Config configures a peer.
type Config struct {
	User, Password string
	// Listen is where other peers reach this one (host:port). Advertise,
	// when set, is the address given to the cloud instead, for a peer
	// behind a forwarded port.
	Listen, Advertise string
	// Local is the control API's address; it must be a loopback address.
	Local string
	// DataDir holds the device key, the images and what the peer last
	// heard from the cloud.
	DataDir string
	// API lists some cloud nodes' API addresses.
	API []string
	// CloudTLS is the TLS configuration for the cloud's API (its
	// authority as the only root: veil peer --ca); nil trusts the
	// system's roots, when the addresses say https.
	CloudTLS *tls.Config
	// Route is how the peer picks a node: by default the coordinator, once
	// a reply has named it (the peer then reads its own writes at once);
	// client.RouteAny keeps to the addresses in API, which forward, for a
	// peer whose network reaches only those.
	Route client.Route
	// Policy for requests from non-viewers. Default PolicyRefuse.
	Policy Policy
	// CloudTimeout bounds one call to the cloud, retries included.
	// Default 5 s: a peer whose cloud is away works on without it.
	CloudTimeout time.Duration
	// RequestTimeout bounds a put, view or share the user asked for,
	// retries included: long enough to ride out a failover of the cloud.
	// Default 30 s.
	RequestTimeout time.Duration
	// RetryInterval is how soon a peer tries the cloud again after failing
	// to reach it. Default 2 s.
	RetryInterval time.Duration

	// The two servers' bounds on a connection (other peers' over TLS, the
	// control API's on loopback). HeaderTimeout bounds the TLS handshake
	// and reading a request's headers; default 10 s. IdleTimeout closes a
	// kept-alive connection that carries no request; default 60 s.
	// StallTimeout cuts an image sent to another peer that has moved no
	// bytes for that long (a reader that stopped reading), however long
	// the transfer has lasted, and bounds the rest of a peer's request
	// (it has no body) and the write of any other answer; default 30 s.
	// The control API's own bounds follow from these and from the longest
	// thing it waits for (see localServer).
	HeaderTimeout, IdleTimeout, StallTimeout time.Duration

	// Logins slows down wrong passwords on the control API and the app's
	// sign-in, per source address and per (user, source); the zero value
	// is throttle.DefaultConfig (5 free, then 1 s doubling to 5 minutes).
	Logins throttle.Config

	Logger hclog.Logger
}

// Validate fills in the defaults and checks the configuration.
func (c *Config) Validate() error {
	if c.Policy == "" {
		c.Policy = PolicyRefuse
	}
	if c.CloudTimeout <= 0 {
		c.CloudTimeout = 5 * time.Second
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = 30 * time.Second
	}
	if c.RetryInterval <= 0 {
		c.RetryInterval = 2 * time.Second
	}
	if c.HeaderTimeout <= 0 {
		c.HeaderTimeout = 10 * time.Second
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = time.Minute
	}
	if c.StallTimeout <= 0 {
		c.StallTimeout = 30 * time.Second
	}
	if c.Logins == (throttle.Config{}) {
		c.Logins = throttle.DefaultConfig()
	}
	if c.Logger == nil {
		c.Logger = hclog.NewNullLogger()
	}
	if c.Advertise == "" {
		c.Advertise = c.Listen
	}
	switch {
	case c.User == "":
		return errors.New("peer: no user")
	case c.Password == "":
		return errors.New("peer: no password")
	case c.DataDir == "":
		return errors.New("peer: no data directory")
	case len(c.API) == 0:
		return errors.New("peer: no cloud node addresses")
	case c.Policy != PolicyRefuse && c.Policy != PolicyRequests:
		return fmt.Errorf("peer: policy %q: want refuse or requests", c.Policy)
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return fmt.Errorf("peer: listen address %q: %v", c.Listen, err)
	}
	if err := loopbackAddr(c.Local); err != nil {
		return err
	}
	if err := c.Logins.Validate(); err != nil {
		return fmt.Errorf("peer: logins: %w", err)
	}
	return nil
}

// loopbackAddr checks that the control API stays on this machine.
func loopbackAddr(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("peer: local address %q: %v", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || !ip.IsLoopback() {
		return fmt.Errorf("peer: local address %q: the control API must listen on a loopback address (127.0.0.1 or ::1)", addr)
	}
	return nil
}
