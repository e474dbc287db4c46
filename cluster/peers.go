package cluster

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"veil/cluster/registry"
	"veil/cluster/vouch"
)

// The discovery service: users' peers register, heartbeat and leave; any
// node answers who is online and, to each user, which images that user may
// see and which online peers hold a copy.
//
// Presence is soft state on the coordinator, as Consul keeps session TTLs on
// its leader: a heartbeat that changes nothing only stamps the time it was
// heard, in memory. What others must agree on (a peer came online, moved,
// offers other images, went offline) goes through the replicated registry
// as PeerUp or PeerDown, so that every node answers the same directory, a
// new coordinator included. A new coordinator has heard no heartbeat yet:
// it gives every peer the registry lists online one whole TTL from the
// moment it takes over before it lets it lapse.

// Errors of the discovery routes.
var (
	// ErrBadStatement: a device statement or proof that does not check.
	ErrBadStatement = errors.New("device statement refused")
	// ErrNotYourDevice: a device registered by another user.
	ErrNotYourDevice = errors.New("device belongs to another user")
	// ErrUnknownDevice: no peer with that device id is registered.
	ErrUnknownDevice = errors.New("unknown device")
)

// presence is the coordinator's record of when it last heard each online
// peer. It is valid only under the reign it was gathered in.
type presence struct {
	mu    sync.Mutex
	reign string               // the leadership it belongs to; "" none
	seen  map[string]time.Time // device → last heartbeat
}

// heard stamps a heartbeat of device under the reign.
func (p *presence) heard(reign, device string, now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.resetIfNew(reign)
	p.seen[device] = now
}

func (p *presence) forget(device string) {
	p.mu.Lock()
	delete(p.seen, device)
	p.mu.Unlock()
}

func (p *presence) resetIfNew(reign string) {
	if p.reign != reign || p.seen == nil {
		p.reign, p.seen = reign, map[string]time.Time{}
	}
}

// lapsed returns the devices among online that have not been heard for
// ttl. A device never heard under this reign is stamped now: it gets a
// whole TTL from the takeover.
func (p *presence) lapsed(reign string, online []string, now time.Time, ttl time.Duration) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.resetIfNew(reign)
	var out []string
	for _, d := range online {
		last, ok := p.seen[d]
		if !ok {
			p.seen[d] = now
			continue
		}
		if now.Sub(last) >= ttl {
			out = append(out, d)
		}
	}
	return out
}

func reignOf(n *Node) string {
	l := n.elector.Leadership()
	if !l.Self {
		return ""
	}
	return fmt.Sprintf("%d/%s", l.Epoch.Term, l.Epoch.Node)
}

// presenceLoop lets the peers whose heartbeats stopped go offline, while
// this node coordinates.
func (n *Node) presenceLoop() {
	every := max(n.cfg.PeerTTL/4, 50*time.Millisecond)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-t.C:
		}
		reign := reignOf(n)
		if reign == "" || n.serving() != nil {
			continue
		}
		var online []string
		n.repl.readLocal(func(s *registry.State) {
			for _, p := range s.OnlinePeers() {
				online = append(online, p.Device)
			}
		})
		now := time.Now().UTC()
		for _, d := range n.presence.lapsed(reign, online, now, n.cfg.PeerTTL) {
			if _, err := n.commit(n.ctx, registry.PeerDown{Device: d, At: now}); err != nil {
				n.log.Debug("peer lapse not recorded", "device", d, "error", err)
				continue
			}
			n.presence.forget(d)
			n.log.Info("peer went offline: no heartbeat", "device", d, "ttl", n.cfg.PeerTTL)
		}
	}
}

// handleCloudKey is GET /v1/cloud-key: the key that checks the cloud's
// statements. It is public.
func (n *Node) handleCloudKey(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, map[string]string{"key": base64.StdEncoding.EncodeToString(n.vouchKey.Public().(ed25519.PublicKey))})
	return nil
}

// handleVouch is POST /v1/peers/vouch: any node signs a statement that the
// caller's device holds a key, once the caller shows it holds the private
// half. Nothing is written: the statement is the record.
func (n *Node) handleVouch(w http.ResponseWriter, r *http.Request) error {
	user, body, err := n.admit(w, r, true)
	if err != nil {
		return err
	}
	var req VouchRequest
	if err := decodeStrict(body, &req); err != nil {
		return err
	}
	key, err := decodeKey(req.Key)
	if err != nil {
		return err
	}
	proof, err := base64.StdEncoding.DecodeString(req.Proof)
	if err != nil || len(proof) != ed25519.SignatureSize {
		return badRequest("proof is not a base64 Ed25519 signature")
	}
	now := time.Now().UTC()
	if d := now.Sub(req.At); d > vouch.Skew || d < -vouch.Skew {
		return fmt.Errorf("%w: proof made at %s, more than %s from this node's clock (%s); check the clock", ErrBadStatement, req.At.Format(time.RFC3339), vouch.Skew, now.Format(time.RFC3339))
	}
	if !ed25519.Verify(key, vouch.PossessionProof(user, req.At), proof) {
		return fmt.Errorf("%w: the proof is not signed by the key given", ErrBadStatement)
	}
	d := vouch.Device{User: user, Device: vouch.DeviceID(key), Key: key, Issued: now, Expires: now.Add(n.cfg.StatementTTL)}
	st, err := vouch.SignDevice(n.vouchKey, d)
	if err != nil {
		return badRequest("%v", err)
	}
	writeJSON(w, http.StatusOK, VouchReply{
		Statement: st, Device: d.Device, Expires: d.Expires,
		CloudKey: base64.StdEncoding.EncodeToString(n.vouchKey.Public().(ed25519.PublicKey)),
	})
	return nil
}

func decodeKey(s string) (ed25519.PublicKey, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, badRequest("key %.60q is not a base64 Ed25519 public key", s)
	}
	return ed25519.PublicKey(b), nil
}

// handlePeerUp is PUT /v1/peers/{device}: a registration or a heartbeat.
// It is forwarded to the coordinator, which writes to the registry only
// when the directory would change.
func (n *Node) handlePeerUp(w http.ResponseWriter, r *http.Request) error {
	user, body, err := n.admit(w, r, true)
	if err != nil {
		return err
	}
	var req PeerRequest
	if err := decodeStrict(body, &req); err != nil {
		return err
	}
	device := r.PathValue("device")
	d, err := vouch.VerifyDevice(n.vouchKey.Public().(ed25519.PublicKey), req.Statement, time.Now())
	switch {
	case err != nil:
		return fmt.Errorf("%w: %w; ask for a new one (POST /v1/peers/vouch)", ErrBadStatement, err)
	case d.User != user:
		return fmt.Errorf("%w: the statement is for user %q, not %q", ErrBadStatement, d.User, user)
	case d.Device != device:
		return fmt.Errorf("%w: the statement is for device %s, not %s", ErrBadStatement, d.Device, device)
	}
	if err := registry.ValidAddr(req.Address); err != nil {
		return badRequest("%v", err)
	}
	holds := slices.Compact(slices.Sorted(slices.Values(req.Holds)))
	if len(holds) > registry.MaxHolds {
		return badRequest("%d images offered, at most %d", len(holds), registry.MaxHolds)
	}
	for _, id := range holds {
		if err := registry.ValidImageID(id); err != nil {
			return badRequest("holds: %v", err)
		}
	}
	return n.atCoordinator(w, r, body, func() *outcome {
		now := time.Now().UTC()
		reign := reignOf(n)
		var cur registry.Peer
		var known bool
		offered := []string{}
		if err := n.repl.read(r.Context(), func(s *registry.State) {
			cur, known = s.Peer(device)
			for _, id := range holds {
				if s.MaySee(user, id) {
					offered = append(offered, id)
				}
			}
		}); err != nil {
			return errorOutcome(err)
		}
		if known && cur.User != user && cur.Online {
			return errorOutcome(fmt.Errorf("%w: %s is online as %q", ErrNotYourDevice, device, cur.User))
		}
		n.presence.heard(reign, device, now)
		since := cur.Since
		if !known || !cur.Online || cur.User != user || cur.Addr != req.Address ||
			!slices.Equal(cur.Key, d.Key) || !slices.Equal(cur.Holds, offered) {
			up := registry.PeerUp{User: user, Device: device, Key: d.Key, Addr: req.Address, Holds: offered, At: now}
			if len(up.Holds) == 0 {
				up.Holds = nil
			}
			if _, err := n.commit(r.Context(), up); err != nil {
				return errorOutcome(err)
			}
			if !known || !cur.Online || cur.User != user {
				since = now
				n.log.Info("peer online", "user", user, "device", device, "address", req.Address)
			}
		}
		return jsonOutcome(http.StatusOK, PeerReply{
			User: user, Device: device, Address: req.Address, Holds: offered, Since: since, TTL: Duration(n.cfg.PeerTTL),
		})
	})
}

// handlePeerDown is DELETE /v1/peers/{device}: a clean stop.
func (n *Node) handlePeerDown(w http.ResponseWriter, r *http.Request) error {
	user, body, err := n.admit(w, r, true)
	if err != nil {
		return err
	}
	device := r.PathValue("device")
	if err := registry.ValidDevice(device); err != nil {
		return badRequest("%v", err)
	}
	return n.atCoordinator(w, r, body, func() *outcome {
		var cur registry.Peer
		var known bool
		if err := n.repl.read(r.Context(), func(s *registry.State) { cur, known = s.Peer(device) }); err != nil {
			return errorOutcome(err)
		}
		switch {
		case !known:
			return errorOutcome(fmt.Errorf("%w: %s", ErrUnknownDevice, device))
		case cur.User != user:
			return errorOutcome(fmt.Errorf("%w: %s", ErrNotYourDevice, device))
		}
		if cur.Online {
			if _, err := n.commit(r.Context(), registry.PeerDown{Device: device, At: time.Now().UTC()}); err != nil {
				return errorOutcome(err)
			}
			n.log.Info("peer left", "user", user, "device", device)
		}
		n.presence.forget(device)
		return jsonOutcome(http.StatusOK, map[string]string{"device": device, "status": "offline"})
	})
}

// handleOnline is GET /v1/online: the peers online, from this node's own
// copy of the registry.
func (n *Node) handleOnline(w http.ResponseWriter, r *http.Request) error {
	if _, err := n.authUser(r); err != nil {
		return err
	}
	if err := n.serving(); err != nil {
		return err
	}
	out := []OnlineReply{}
	n.repl.readLocal(func(s *registry.State) {
		for _, p := range s.OnlinePeers() {
			out = append(out, OnlineReply{
				User: p.User, Device: p.Device, Address: p.Addr,
				Key: base64.StdEncoding.EncodeToString(p.Key), Since: p.Since,
			})
		}
	})
	writeJSON(w, http.StatusOK, out)
	return nil
}

// handleDirectory is GET /v1/directory: the images the caller may see, with
// the online peers that offer each and a ticket to fetch it from them, from
// this node's own copy of the registry. A peer is listed as holding an
// image only while its user may still see it.
func (n *Node) handleDirectory(w http.ResponseWriter, r *http.Request) error {
	user, err := n.authUser(r)
	if err != nil {
		return err
	}
	if err := n.serving(); err != nil {
		return err
	}
	now := time.Now().UTC()
	reply := DirectoryReply{Images: []DirectoryEntry{}, Node: n.cfg.Name}
	n.repl.readLocal(func(s *registry.State) {
		reply.Index = s.LastApplied()
		add := func(img registry.Image) {
			e := DirectoryEntry{ID: img.ID, Owner: img.Owner, Created: img.Created, Holders: []Holder{}}
			for _, p := range s.HoldersOf(img.ID) {
				if s.MaySee(p.User, img.ID) {
					e.Holders = append(e.Holders, Holder{User: p.User, Device: p.Device, Address: p.Addr, Key: base64.StdEncoding.EncodeToString(p.Key)})
				}
			}
			if img.Owner == user {
				e.Viewers = img.Viewers
				e.Offline = img.Offline
				e.Leases = leaseInfos(s.LeasesOf(img.ID), "")
			} else {
				e.ViewsLeft = img.Viewers[user]
				e.Leases = leaseInfos(s.LeasesOf(img.ID), user)
			}
			if len(img.Digest) == registry.DigestLen {
				e.Digest = hex.EncodeToString(img.Digest)
				t := vouch.Ticket{User: user, Image: img.ID, Issued: now, Expires: now.Add(n.cfg.StatementTTL)}
				copy(t.Digest[:], img.Digest)
				if tk, err := vouch.SignTicket(n.vouchKey, t); err == nil {
					e.Ticket = tk
				}
			}
			reply.Images = append(reply.Images, e)
		}
		for _, img := range s.ImagesOwnedBy(user) {
			add(img)
		}
		for _, sh := range s.SharedWith(user) {
			if img, ok := s.Image(sh.ID); ok {
				add(img)
			}
		}
	})
	writeJSON(w, http.StatusOK, reply)
	return nil
}
