package peer

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"time"

	"veil/cluster/api"
	"veil/cluster/client"
	"veil/cluster/vouch"
)

// What keeps the peer useful with the cloud away: leases of views taken
// while online, spent offline and reported back; and the owner's changes,
// queued while the cloud is away and sent in order when it is back.

// LeaseAll asks a fetch to lease every view the viewer has left.
const LeaseAll = -1

// QueuedChange is an owner's change made while the cloud was away.
type QueuedChange struct {
	Key    string         `json:"key"` // idempotency key: sent twice, applied once
	Image  string         `json:"image"`
	Set    map[string]int `json:"set,omitempty"`
	Remove []string       `json:"remove,omitempty"`
	At     time.Time      `json:"at"`
}

// takeLease leases views of a held image for this device: all the viewer
// has left (LeaseAll) or k.
func (p *Peer) takeLease(ctx context.Context, e api.DirectoryEntry, k int) (LeaseState, error) {
	if e.Owner == p.cfg.User {
		return LeaseState{}, nil // the owner views without a lease
	}
	if k == LeaseAll {
		k = e.ViewsLeft
	}
	if k <= 0 {
		return LeaseState{}, nil
	}
	// A sync must not take a lease for one the device lost while it is
	// being stored here.
	p.leaseMu.Lock()
	defer p.leaseMu.Unlock()
	veiled, err := p.store.Veiled(e.ID)
	if err != nil {
		return LeaseState{}, err
	}
	st := p.snapshot()
	reply, err := p.ops.TakeLease(ctx, veiled, st.Statement, min(k, e.ViewsLeft))
	if err != nil {
		return LeaseState{}, err
	}
	ls, err := p.leases.keep(st.cloudKey(), p.Device(), reply)
	if err != nil {
		return LeaseState{}, err
	}
	p.log.Info("leased views for offline use", "image", e.ID, "lease", ls.ID, "views", ls.Views, "expires", ls.Expires)
	return ls, nil
}

// syncLeases reports the leases that are done (spent, expired, revoked, or
// of an image the user may no longer see) and marks the revoked ones, with
// the directory the cloud just gave.
func (p *Peer) syncLeases(ctx context.Context, dir api.DirectoryReply) {
	p.leaseMu.Lock()
	defer p.leaseMu.Unlock()
	byImage := map[string]api.DirectoryEntry{}
	for _, e := range dir.Images {
		byImage[e.ID] = e
	}
	// A lease the cloud holds for this device that the device does not
	// have: the peer stopped between the cloud's answer and keeping it.
	// It is reported with what the log says was spent of it (nothing, if
	// it never arrived), so its views come back instead of staying locked.
	held := map[string]bool{}
	for _, s := range p.leases.states() {
		held[s.ID] = true
	}
	for _, e := range dir.Images {
		for _, li := range e.Leases {
			if li.Device == p.Device() && !held[li.ID] {
				if err := p.reportLost(ctx, li); err != nil {
					p.log.Warn("could not give back a lease this device lost; will try again", "lease", li.ID, "err", err)
				}
			}
		}
	}
	now := time.Now()
	for _, s := range p.leases.states() {
		e, visible := byImage[s.Image]
		revoked := s.Revoked || !visible
		if i := slices.IndexFunc(e.Leases, func(li api.LeaseInfo) bool { return li.ID == s.ID }); i >= 0 && e.Leases[i].Revoked {
			revoked = true
		}
		if revoked && !s.Revoked {
			if err := p.leases.revoke(s.ID); err != nil {
				p.log.Warn("could not mark a revoked lease", "lease", s.ID, "err", err)
			}
			p.log.Info("the owner revoked a lease: its views are spent no more", "lease", s.ID, "image", s.Image)
		}
		if revoked || s.Left == 0 || !now.Before(s.Expires) {
			if err := p.reportLease(ctx, s.ID); err != nil {
				p.log.Warn("could not report a lease; will try again", "lease", s.ID, "err", err)
			}
		}
	}
}

// reportLease tells the cloud what a lease spent, signed with the device
// key, and forgets it once the cloud has it.
func (p *Peer) reportLease(ctx context.Context, id string) error {
	f, err := p.leases.read(id)
	if err != nil {
		return err
	}
	spent := p.leases.spentOf(f)
	st := p.snapshot()
	req := api.ReturnRequest{
		Statement: st.Statement, Spent: spent,
		Proof: encodeSig(signReport(p.id, id, spent)),
	}
	reply, err := p.cloud.ReturnLease(ctx, id, req)
	var ce *client.Error
	if errors.As(err, &ce) && ce.Code == "unknown_lease" {
		err = nil // reported before: the first report stands
	}
	if err != nil {
		return err
	}
	p.log.Info("reported a lease", "lease", id, "image", f.Image, "spent", spent, "returned", reply.Returned)
	return p.leases.drop(id)
}

// reportLost reports a lease the cloud holds for this device and the
// device does not.
func (p *Peer) reportLost(ctx context.Context, li api.LeaseInfo) error {
	spent := min(p.leases.loggedOf(li.ID), li.Views)
	st := p.snapshot()
	_, err := p.cloud.ReturnLease(ctx, li.ID, api.ReturnRequest{Statement: st.Statement, Spent: spent, Proof: encodeSig(signReport(p.id, li.ID, spent))})
	var ce *client.Error
	if errors.As(err, &ce) && ce.Code == "unknown_lease" {
		return nil
	}
	if err == nil {
		p.log.Info("gave back a lease this device did not keep", "lease", li.ID, "spent", spent)
		err = p.leases.drop(li.ID)
	}
	return err
}

func signReport(id Identity, lease string, spent int) []byte {
	return ed25519.Sign(id.Key, vouch.ReportProof(lease, spent))
}

// Share changes an image's viewers through the cloud, or, with the cloud
// away, queues the change to send when it is back (queued is then set).
func (p *Peer) Share(ctx context.Context, id string, set map[string]int, remove []string) (img api.ImageReply, queued *Queued, err error) {
	err = errCloudAway
	if p.isOnline() {
		img, err = p.ops.Share(ctx, id, set, remove)
	}
	var ce *client.Error
	if err == nil || errors.As(err, &ce) {
		if err == nil {
			p.Kick() // learn the new viewers at once
		}
		return img, nil, err
	}
	p.cloudFailed(err)
	q, n, err := p.queueChange(id, set, remove)
	if err != nil {
		return img, nil, err
	}
	return img, &Queued{Queued: true, Position: n, Change: q}, nil
}

// queueChange keeps an owner's change to send when the cloud is back.
func (p *Peer) queueChange(image string, set map[string]int, remove []string) (QueuedChange, int, error) {
	var kb [16]byte
	if _, err := rand.Read(kb[:]); err != nil {
		return QueuedChange{}, 0, err
	}
	q := QueuedChange{Key: "queued-" + hex.EncodeToString(kb[:]), Image: image, Set: set, Remove: remove, At: time.Now().UTC()}
	n, full := 0, false
	// On disk before the answer: a crash after it loses nothing.
	err := p.update(func(s *cloudState) {
		if full = len(s.Queue) >= maxQueue; !full {
			s.Queue = append(slices.Clone(s.Queue), q)
			n = len(s.Queue)
		}
	})
	if full {
		return QueuedChange{}, 0, &localError{503, "queue_full", fmt.Errorf("%d changes wait for the cloud already", maxQueue)}
	}
	if err != nil {
		return QueuedChange{}, 0, err
	}
	p.log.Info("the cloud is away: change queued", "image", image, "position", n)
	return q, n, nil
}

// maxQueue bounds the owner's queue of changes.
const maxQueue = 1000

// flushQueue sends the queued changes in order. A change the cloud refuses
// (the image is gone, say) is dropped and its refusal kept for the status;
// one it does not answer stays, and so does every change after it.
func (p *Peer) flushQueue(ctx context.Context) error {
	for {
		st := p.snapshot()
		if len(st.Queue) == 0 {
			return nil
		}
		q := st.Queue[0]
		_, err := p.ops.Share(client.WithIdempotencyKey(ctx, q.Key), q.Image, q.Set, q.Remove)
		var ce *client.Error
		if err != nil && !errors.As(err, &ce) {
			return err
		}
		if err != nil {
			p.mu.Lock()
			p.queueErr = fmt.Sprintf("queued change to %s refused: %v", q.Image, err)
			p.mu.Unlock()
		}
		if err := p.update(func(s *cloudState) {
			if len(s.Queue) > 0 && s.Queue[0].Key == q.Key {
				s.Queue = slices.Clone(s.Queue[1:])
			}
		}); err != nil {
			return err
		}
		p.log.Info("queued change sent", "image", q.Image, "err", err)
	}
}

// GiveBack reports the leases of image (every lease when image is empty)
// now, whatever views they have left: those come back to the online count.
// It returns how many leases were reported.
func (p *Peer) GiveBack(ctx context.Context, image string) (int, error) {
	p.leaseMu.Lock()
	defer p.leaseMu.Unlock()
	n := 0
	for _, s := range p.leases.states() {
		if image != "" && s.Image != image {
			continue
		}
		if err := p.reportLease(ctx, s.ID); err != nil {
			p.cloudFailed(err)
			return n, err
		}
		n++
	}
	return n, nil
}
