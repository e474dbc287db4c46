package peer

import (
	"bytes"
	"crypto/ed25519"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"veil/cluster/vouch"
)

// The peer-to-peer protocol: HTTP/1.1 or HTTP/2 over TLS 1.3, in which both
// sides show a self-signed certificate for their device key. The
// certificate is only the carrier of the key; what makes the key a user's
// is the cloud's device statement, sent in a header of every request and
// every reply and checked against the key of the connection. A statement
// shown over a connection made with another key is refused, so a captured
// request cannot be replayed by anyone but the device that made it.
//
//	GET /p2p/v1/images/{id}
//	  Veil-Device: the requester's device statement (required)
//	  Veil-Ticket: the cloud's ticket for the image (required at a relay)
//	  Range, If-Range: resume a cut transfer (RFC 9110)
//	→ 200 or 206, the veiled PNG; ETag is its digest in quotes,
//	  Veil-Device the server's statement.
//
// Errors are {"error":{"code":…,"message":…}}, as the cloud's are.

// WireVersion is the version of the peer-to-peer protocol, in its paths.
const WireVersion = 1

const (
	hdrDevice = "Veil-Device"
	hdrTicket = "Veil-Ticket"
	hdrDigest = "Veil-Digest"
	// maxStatementLen bounds a statement or ticket header; both are well
	// under 400 bytes.
	maxStatementLen = 2048
)

// Errors a peer answers with; each has a stable code.
var (
	ErrBadStatement = errors.New("peer: bad device statement")
	ErrNotAllowed   = errors.New("peer: not allowed")
	ErrRequested    = errors.New("peer: asked the owner")
)

// wireError is the body of every error answer.
type wireError struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// Error is an error answer from a peer (or from the cloud, passed on by the
// local API).
type Error struct {
	Status  int
	Code    string
	Message string
}

func (e *Error) Error() string { return fmt.Sprintf("%s (%d %s)", e.Message, e.Status, e.Code) }

func writeError(w http.ResponseWriter, status int, code, format string, a ...any) {
	var we wireError
	we.Error.Code, we.Error.Message = code, fmt.Sprintf(format, a...)
	b, _ := json.Marshal(we)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// decodeError reads an error answer; anything else becomes a generic one.
func decodeError(status int, body []byte) *Error {
	var we wireError
	if err := json.Unmarshal(body, &we); err != nil || we.Error.Code == "" {
		msg := strings.TrimSpace(string(body))
		if len(msg) > 200 {
			msg = msg[:200] + "…"
		}
		return &Error{Status: status, Code: http.StatusText(status), Message: msg}
	}
	return &Error{Status: status, Code: we.Error.Code, Message: we.Error.Message}
}

// serverTLS is the TLS configuration of a peer's listener: every client
// must show a certificate, whose key the handler checks against the
// client's statement.
func serverTLS(cert tls.Certificate) *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequireAnyClientCert,
		MinVersion:   tls.VersionTLS13,
		NextProtos:   []string{"h2", "http/1.1"},
	}
}

// clientTLS is the TLS configuration to reach a peer whose device key is
// want: the handshake fails unless the server proves that key.
func clientTLS(cert tls.Certificate, want ed25519.PublicKey) *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   tls.VersionTLS13,
		// The chain is not checked by name or CA: the one thing trusted is
		// the key, checked here against what the cloud vouched for.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			k, err := leafKey(cs.PeerCertificates)
			if err != nil {
				return err
			}
			if !k.Equal(want) {
				return fmt.Errorf("%w: the peer's key is not the key the cloud lists for it", ErrBadStatement)
			}
			return nil
		},
	}
}

func leafKey(certs []*x509.Certificate) (ed25519.PublicKey, error) {
	if len(certs) == 0 {
		return nil, fmt.Errorf("%w: no certificate on the connection", ErrBadStatement)
	}
	k, ok := certs[0].PublicKey.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("%w: the connection's key is %T, want Ed25519", ErrBadStatement, certs[0].PublicKey)
	}
	return k, nil
}

// request is what a peer has been asked, once authenticated.
type request struct {
	From   vouch.Device  // who asks: the statement, checked against the connection's key
	Ticket *vouch.Ticket // the ticket shown, when one was and it is valid for From
}

// readRequest authenticates a peer request: its statement must be the
// cloud's, unexpired, and for the key of the connection; a ticket, when
// there is one, must be the cloud's, unexpired and for the same user.
func readRequest(cloud ed25519.PublicKey, h http.Header, conn *tls.ConnectionState, now time.Time) (request, error) {
	var rq request
	if conn == nil {
		return rq, fmt.Errorf("%w: not a TLS connection", ErrBadStatement)
	}
	k, err := leafKey(conn.PeerCertificates)
	if err != nil {
		return rq, err
	}
	st := h.Get(hdrDevice)
	if st == "" {
		return rq, fmt.Errorf("%w: no %s header", ErrBadStatement, hdrDevice)
	}
	if len(st) > maxStatementLen {
		return rq, fmt.Errorf("%w: %s is %d bytes", ErrBadStatement, hdrDevice, len(st))
	}
	d, err := vouch.VerifyDevice(cloud, st, now)
	if err != nil {
		return rq, fmt.Errorf("%w: %w", ErrBadStatement, err)
	}
	if !d.Key.Equal(k) {
		return rq, fmt.Errorf("%w: the statement is for another key than this connection's", ErrBadStatement)
	}
	rq.From = d
	if tk := h.Get(hdrTicket); tk != "" {
		if len(tk) > maxStatementLen {
			return rq, fmt.Errorf("%w: %s is %d bytes", ErrBadStatement, hdrTicket, len(tk))
		}
		t, err := vouch.VerifyTicket(cloud, tk, now)
		if err != nil {
			return rq, fmt.Errorf("%w: ticket: %w", ErrBadStatement, err)
		}
		if t.User != d.User {
			return rq, fmt.Errorf("%w: the ticket is for %q, the statement for %q", ErrBadStatement, t.User, d.User)
		}
		rq.Ticket = &t
	}
	return rq, nil
}

// ticketFits reports whether a ticket lets its holder fetch the image e.
func ticketFits(t *vouch.Ticket, e Entry) bool {
	if t == nil || t.Image != e.ID {
		return false
	}
	d, err := hex.DecodeString(e.Digest)
	return err == nil && bytes.Equal(t.Digest[:], d)
}
