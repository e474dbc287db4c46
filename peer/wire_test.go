package peer

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"veil/cluster/vouch"
)

// connOf is the TLS state of a connection made with id's key.
func connOf(t testing.TB, id Identity) *tls.ConnectionState {
	t.Helper()
	cert, err := id.certificate()
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	return &tls.ConnectionState{PeerCertificates: []*x509.Certificate{leaf}}
}

func newID(t testing.TB) Identity {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return Identity{Key: k}
}

func statement(t testing.TB, cloud ed25519.PrivateKey, user string, key ed25519.PublicKey, issued, expires time.Time) string {
	s, err := vouch.SignDevice(cloud, vouch.Device{User: user, Device: vouch.DeviceID(key), Key: key, Issued: issued, Expires: expires})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func ticket(t testing.TB, cloud ed25519.PrivateKey, user, image string, digest [32]byte, issued, expires time.Time) string {
	s, err := vouch.SignTicket(cloud, vouch.Ticket{User: user, Image: image, Digest: digest, Issued: issued, Expires: expires})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// A peer request is taken only with the cloud's statement, unexpired, for
// the very key of the connection, and a ticket only when it is the cloud's
// and for the same user.
func TestAPeerRequestIsTakenOnlyWithTheCloudsWordForThisConnection(t *testing.T) {
	_, cloud, _ := ed25519.GenerateKey(rand.Reader)
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	pub := cloud.Public().(ed25519.PublicKey)
	bob, carol := newID(t), newID(t)
	now := time.Now()
	day := now.Add(24 * time.Hour)
	image := strings.Repeat("ab", 16)
	digest := sha256.Sum256([]byte("veiled"))
	bobSays := statement(t, cloud, "bob", bob.Public(), now, day)

	tests := []struct {
		name    string
		conn    Identity
		device  string
		ticket  string
		wantErr bool
	}{
		{"the cloud's statement for this key", bob, bobSays, "", false},
		{"with the cloud's ticket for the same user", bob, bobSays, ticket(t, cloud, "bob", image, digest, now, day), false},
		{"no statement", bob, "", "", true},
		{"not a statement", bob, "hello", "", true},
		{"a statement signed by another key", bob, statement(t, other, "bob", bob.Public(), now, day), "", true},
		{"an expired statement", bob, statement(t, cloud, "bob", bob.Public(), now.Add(-48*time.Hour), now.Add(-time.Hour)), "", true},
		{"bob's statement replayed over carol's connection", carol, bobSays, "", true},
		{"a statement of a huge size", bob, bobSays + strings.Repeat("A", maxStatementLen), "", true},
		{"a ticket for another user", bob, bobSays, ticket(t, cloud, "carol", image, digest, now, day), true},
		{"a forged ticket", bob, bobSays, ticket(t, other, "bob", image, digest, now, day), true},
		{"an expired ticket", bob, bobSays, ticket(t, cloud, "bob", image, digest, now.Add(-48*time.Hour), now.Add(-time.Hour)), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			if tt.device != "" {
				h.Set(hdrDevice, tt.device)
			}
			if tt.ticket != "" {
				h.Set(hdrTicket, tt.ticket)
			}
			rq, err := readRequest(pub, h, connOf(t, tt.conn), now)
			if tt.wantErr {
				if !errors.Is(err, ErrBadStatement) {
					t.Fatalf("err = %v, want ErrBadStatement", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if rq.From.User != "bob" {
				t.Fatalf("user %q", rq.From.User)
			}
		})
	}
	if _, err := readRequest(pub, http.Header{hdrDevice: {bobSays}}, nil, now); !errors.Is(err, ErrBadStatement) {
		t.Fatalf("without TLS: %v", err)
	}
}

// Who may fetch what: a relay serves only a ticket for that image and
// those bytes; the owner's peer also serves its viewers and its user's
// other devices.
func TestWhoMayFetchAnImage(t *testing.T) {
	digest := sha256.Sum256([]byte("veiled"))
	id := strings.Repeat("cd", 16)
	own := Entry{ID: id, Owner: "alice", Digest: hex.EncodeToString(digest[:]), Own: true}
	relayed := own
	relayed.Own = false
	p := &Peer{cfg: Config{User: "alice"}, viewers: map[string]map[string]int{id: {"bob": 0}}}
	tk := func(user, image string, d [32]byte) *vouch.Ticket {
		return &vouch.Ticket{User: user, Image: image, Digest: d}
	}
	tests := []struct {
		name string
		user string
		tk   *vouch.Ticket
		e    Entry
		want bool
	}{
		{"the owner serves a listed viewer, even with no views left", "bob", nil, own, true},
		{"the owner serves its own user's other device", "alice", nil, own, true},
		{"the owner refuses a stranger", "carol", nil, own, false},
		{"the owner serves a ticket the directory has not caught up with", "carol", tk("carol", id, digest), own, true},
		{"a relay refuses a viewer without a ticket", "bob", nil, relayed, false},
		{"a relay serves a ticket for the image", "bob", tk("bob", id, digest), relayed, true},
		{"a relay refuses a ticket for another image", "bob", tk("bob", strings.Repeat("ef", 16), digest), relayed, false},
		{"a relay refuses a ticket for other bytes", "bob", tk("bob", id, sha256.Sum256([]byte("x"))), relayed, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rq := request{From: vouch.Device{User: tt.user}, Ticket: tt.tk}
			if got := p.mayFetch(rq, tt.e); got != tt.want {
				t.Fatalf("mayFetch = %v, want %v", got, tt.want)
			}
		})
	}
}

func FuzzReadRequest(f *testing.F) {
	_, cloud, _ := ed25519.GenerateKey(rand.Reader)
	id := newID(f)
	conn := connOf(f, id)
	now := time.Now()
	st := statement(f, cloud, "bob", id.Public(), now, now.Add(time.Hour))
	tk := ticket(f, cloud, "bob", strings.Repeat("ab", 16), [32]byte{1}, now, now.Add(time.Hour))
	f.Add(st, tk)
	f.Add(st, "")
	f.Add("", "")
	f.Add(st[:len(st)/2], tk[1:])
	pub := cloud.Public().(ed25519.PublicKey)
	f.Fuzz(func(t *testing.T, device, ticket string) {
		h := http.Header{}
		h.Set(hdrDevice, device)
		h.Set(hdrTicket, ticket)
		rq, err := readRequest(pub, h, conn, now)
		if err != nil {
			if !errors.Is(err, ErrBadStatement) {
				t.Fatalf("error not ErrBadStatement: %v", err)
			}
			return
		}
		if !rq.From.Key.Equal(id.Public()) {
			t.Fatal("accepted a statement for another key than the connection's")
		}
		if rq.Ticket != nil && rq.Ticket.User != rq.From.User {
			t.Fatal("accepted a ticket for another user")
		}
	})
}

func FuzzDecodeError(f *testing.F) {
	f.Add([]byte(`{"error":{"code":"not_found","message":"no"}}`))
	f.Add([]byte(`<html>`))
	f.Add([]byte(`{"error":null}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		e := decodeError(502, b)
		if e.Status != 502 || e.Code == "" {
			t.Fatalf("%+v", e)
		}
	})
}
