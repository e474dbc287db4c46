package cluster

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
	"veil/cluster/api"

	"filippo.io/age"
	"filippo.io/age/agessh"
	"golang.org/x/crypto/ssh"

	"veil/cluster/registry"
	"veil/cluster/vouch"
)

// Offline leases (the escrow of views): a viewer's device takes some of the
// viewer's views of an image for use without the cloud. The registry moves
// them from the online count to the lease in one replicated step; the reply
// is the cloud's signed lease and the original, encrypted to the device's
// key, so that no other device, and no one who copies the file, can open it.
// Back online, the device reports what it spent, signed with its key; the
// unspent views come back, unless the owner lowered or removed the viewer's
// views meanwhile (the lease is then revoked, and its unspent views are
// forfeited).
//
//	POST /v1/leases?views=K   body: the veiled PNG; Veil-Device: the device's statement
//	POST /v1/leases/{id}/return  {"statement", "spent", "proof"}

// LeaseReply is api.LeaseReply, as this package has always named it.
type LeaseReply = api.LeaseReply

// ReturnRequest is api.ReturnRequest, as this package has always named it.
type ReturnRequest = api.ReturnRequest

// ReturnReply is api.ReturnReply, as this package has always named it.
type ReturnReply = api.ReturnReply

// LeaseInfo is api.LeaseInfo, as this package has always named it.
type LeaseInfo = api.LeaseInfo

// deviceOf checks the device statement a peer sends with a request: the
// cloud's, current, and for the caller.
func (n *Node) deviceOf(statement, user string) (vouch.Device, error) {
	if statement == "" {
		return vouch.Device{}, fmt.Errorf("%w: no device statement: a lease is for one device; send its statement (POST /v1/peers/vouch gives one) in Veil-Device", ErrBadStatement)
	}
	d, err := vouch.VerifyDevice(n.vouchKey.Public().(ed25519.PublicKey), statement, time.Now())
	switch {
	case err != nil:
		return d, fmt.Errorf("%w: %w; ask for a new one (POST /v1/peers/vouch)", ErrBadStatement, err)
	case d.User != user:
		return d, fmt.Errorf("%w: the statement is for user %q, not %q", ErrBadStatement, d.User, user)
	}
	return d, nil
}

// handleTakeLease is POST /v1/leases: the image is opened where it arrives
// (as a view is), the registry moves the views, and the original goes back
// sealed to the device.
func (n *Node) handleTakeLease(w http.ResponseWriter, r *http.Request) error {
	if err := n.shedding(r); err != nil {
		return err
	}
	viewer, body, err := n.admit(w, r, true)
	if err != nil {
		return err
	}
	d, err := n.deviceOf(r.Header.Get("Veil-Device"), viewer)
	if err != nil {
		return err
	}
	views, err := strconv.Atoi(r.URL.Query().Get("views"))
	if err != nil || views < 1 || views > registry.MaxViews {
		return badRequest("views=%q: want the number of views to lease, 1 to %d", r.URL.Query().Get("views"), registry.MaxViews)
	}
	if len(body) == 0 {
		return badRequest("no image: send the veiled PNG as the body")
	}
	o := n.work(r.Context(), job{path: "/v1/internal/reveal", contentType: r.Header.Get("Content-Type"), body: body})
	if o.status != http.StatusOK {
		o.write(w)
		return nil
	}
	key := r.Header.Get(hdrIdempotencyKey)
	var idb [16]byte
	if _, err := io.ReadFull(n.seeded("lease", viewer, key), idb[:]); err != nil {
		return err
	}
	now := time.Now().UTC().Truncate(time.Second)
	take := registry.TakeLease{
		ID: hex.EncodeToString(idb[:]), Image: o.header.Get(hdrImageID), Viewer: viewer, Device: d.Device,
		Views: views, Issued: now, Expires: now.Add(n.cfg.LeaseTTL), IdemKey: key,
	}
	reply, fail := n.commitRemote(r.Context(), take)
	if fail != nil {
		if code := replyCode(fail.body); code == "not_allowed" || code == "no_views_left" {
			// Denied: the original stays here.
			var e struct {
				Error apiError `json:"error"`
			}
			_ = json.Unmarshal(fail.body, &e)
			return writeOutcome(w, jsonOutcome(http.StatusForbidden, map[string]apiError{"error": {Code: code, Message: e.Error.Message}}))
		}
		return writeOutcome(w, fail)
	}
	lease := vouch.Lease{ID: take.ID, User: viewer, Device: d.Device, Image: take.Image, Views: reply.Leased, Issued: take.Issued, Expires: take.Expires}
	if reply.Replayed {
		// A retry: the first attempt's lease stands.
		var l registry.Lease
		var ok bool
		find := func(s *registry.State) { l, ok = s.Lease(take.ID) }
		if err := n.repl.read(r.Context(), find); err != nil {
			// Not the coordinator: this node's copy has the lease once it
			// has caught up with the commit the coordinator just replayed.
			n.repl.readLocal(find)
		}
		if !ok {
			return fmt.Errorf("%w: the lease of a replayed request is no longer held", ErrUnknownOutcome)
		}
		lease.Views, lease.Issued, lease.Expires = l.Views, l.Issued, l.Expires
	}
	reply.stamp(w.Header())
	lease.Digest = sha256.Sum256(body)
	st, err := vouch.SignLease(n.vouchKey, lease)
	if err != nil {
		return err
	}
	sealed, err := sealTo(d.Key, o.body)
	if err != nil {
		return err
	}
	n.log.Info("lease taken", "image", lease.Image, "viewer", viewer, "device", d.Device, "views", lease.Views)
	writeJSON(w, http.StatusOK, LeaseReply{
		Lease: st, ID: lease.ID, Image: lease.Image, Views: lease.Views, ViewsLeft: reply.ViewsLeft, Expires: lease.Expires,
		Sealed: base64.StdEncoding.EncodeToString(sealed),
	})
	return nil
}

func writeOutcome(w http.ResponseWriter, o *outcome) error {
	o.write(w)
	return nil
}

// sealTo encrypts b to a device's Ed25519 key with age.
func sealTo(key ed25519.PublicKey, b []byte) ([]byte, error) {
	pk, err := ssh.NewPublicKey(key)
	if err != nil {
		return nil, err
	}
	rcpt, err := agessh.NewEd25519Recipient(pk)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	wc, err := age.Encrypt(&out, rcpt)
	if err != nil {
		return nil, err
	}
	if _, err := wc.Write(b); err != nil {
		return nil, err
	}
	if err := wc.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// handleReturnLease is POST /v1/leases/{id}/return: the device's report of
// what it spent; the unspent views go back to the online count.
func (n *Node) handleReturnLease(w http.ResponseWriter, r *http.Request) error {
	viewer, body, err := n.admit(w, r, true)
	if err != nil {
		return err
	}
	var req ReturnRequest
	if err := decodeStrict(body, &req); err != nil {
		return err
	}
	id := r.PathValue("id")
	if err := registry.ValidImageID(id); err != nil {
		return badRequest("lease id: %v", err)
	}
	d, err := n.deviceOf(req.Statement, viewer)
	if err != nil {
		return err
	}
	var l registry.Lease
	var held bool
	n.repl.readLocal(func(s *registry.State) { l, held = s.Lease(id) })
	if held && l.Device != d.Device {
		return fmt.Errorf("%w: lease %s is held by device %s, not %s", ErrNotYourDevice, id, l.Device, d.Device)
	}
	sig, err := base64.StdEncoding.DecodeString(req.Proof)
	if err != nil || !ed25519.Verify(d.Key, vouch.ReportProof(id, req.Spent), sig) {
		return fmt.Errorf("%w: the report is not signed by the device's key", ErrBadStatement)
	}
	key := r.Header.Get(hdrIdempotencyKey)
	if key == "" {
		key = "return-" + id // one report per lease, whatever the retries
	}
	reply, fail := n.commitRemote(r.Context(), registry.ReturnLease{ID: id, Viewer: viewer, Spent: req.Spent, IdemKey: key})
	if fail != nil {
		return writeOutcome(w, fail)
	}
	n.log.Info("lease returned", "lease", id, "viewer", viewer, "spent", req.Spent, "returned", reply.Returned)
	reply.stamp(w.Header())
	writeJSON(w, http.StatusOK, ReturnReply{ID: id, Image: reply.ID, Returned: reply.Returned, ViewsLeft: reply.ViewsLeft})
	return nil
}

// leaseInfos lists leases for the directory.
func leaseInfos(ls []registry.Lease, only string) []LeaseInfo {
	var out []LeaseInfo
	for _, l := range ls {
		if only != "" && l.Viewer != only {
			continue
		}
		out = append(out, LeaseInfo{ID: l.ID, Viewer: l.Viewer, Device: l.Device, Views: l.Views, Expires: l.Expires, Revoked: l.Revoked})
	}
	return out
}
