package cluster

import (
	"errors"
	"net/http"
	"time"
	"veil/cluster/api"

	"veil/cluster/registry"
)

// ImageReply is api.ImageReply, as this package has always named it.
type ImageReply = api.ImageReply

// SharedReply is api.SharedReply, as this package has always named it.
type SharedReply = api.SharedReply

func imageReply(img registry.Image) ImageReply {
	return ImageReply{ID: img.ID, Owner: img.Owner, Viewers: img.Viewers, Created: img.Created, Version: img.Version}
}

// handlePut is POST /v1/images: a hide by a logged-in owner that is recorded
// in the registry. The coordinator sends the work to the best worker; any
// other node works it where it arrived (entry.go). The veiled PNG is
// returned only once the record is committed by a majority. With an Idempotency-Key, a retry (on any
// coordinator) returns the same image, byte for byte, and records nothing
// twice.
func (n *Node) handlePut(w http.ResponseWriter, r *http.Request) error {
	if err := n.shedding(r); err != nil {
		return err
	}
	owner, body, err := n.admit(w, r, true)
	if err != nil {
		return err
	}
	req, err := parseHide(r.Header.Get("Content-Type"), r.URL.Query(), body, owner)
	if err != nil {
		return err
	}
	if err := n.cfg.checkSecret(len(req.secret), req.level, req.cover != nil); err != nil {
		return err
	}
	n.putHere(r, req, owner, body).write(w) // entry.go
	return nil
}

// planPut fixes the id, creation time and random seed of a put. With an
// idempotency key they derive from it (keyed by the master key), so that a
// retry that reaches another coordinator seals the same image.
func (n *Node) planPut(owner, key string, now time.Time) *putPlan {
	p := &putPlan{owner: owner, created: now}
	r := n.seeded("put", owner, key)
	if _, err := r.Read(p.id[:]); err != nil {
		panic("cluster: random source failed: " + err.Error())
	}
	if _, err := r.Read(p.seed[:]); err != nil {
		panic("cluster: random source failed: " + err.Error())
	}
	return p
}

// handleView is POST /v1/view with a veiled PNG as the body. The owner
// always sees the image; a listed viewer with views left gets it and spends
// one view, in one replicated step; anyone else gets 403 and nothing of the
// image.
func (n *Node) handleView(w http.ResponseWriter, r *http.Request) error {
	if err := n.shedding(r); err != nil {
		return err
	}
	viewer, body, err := n.admit(w, r, true)
	if err != nil {
		return err
	}
	if len(body) == 0 {
		return badRequest("no image: send the veiled PNG as the body")
	}
	n.viewHere(r, body, viewer).write(w) // entry.go
	return nil
}

// shareRequest is the body of PATCH /v1/images/{id}.
type shareRequest struct {
	Set    map[string]int `json:"set"`
	Remove []string       `json:"remove"`
}

// handleShare is PATCH /v1/images/{id}: the owner adds or removes viewers
// and sets their views left.
func (n *Node) handleShare(w http.ResponseWriter, r *http.Request) error {
	caller, body, err := n.admit(w, r, true)
	if err != nil {
		return err
	}
	var s shareRequest
	if err := decodeStrict(body, &s); err != nil {
		return err
	}
	if err := canonicalShare(&s); err != nil {
		return err
	}
	cmd := registry.Share{ID: r.PathValue("id"), Caller: caller, Set: s.Set, Remove: s.Remove, IdemKey: r.Header.Get(hdrIdempotencyKey)}
	if err := cmd.Validate(); err != nil {
		return badRequest("%v", err)
	}
	return n.atCoordinator(w, r, body, func() *outcome {
		_, err := n.commit(r.Context(), cmd)
		if err != nil {
			return errorOutcome(err)
		}
		var img registry.Image
		var ok bool
		if err := n.repl.read(r.Context(), func(st *registry.State) { img, ok = st.Image(cmd.ID) }); err != nil || !ok {
			return errorOutcome(errors.Join(err, registry.ErrUnknownImage))
		}
		return jsonOutcome(http.StatusOK, imageReply(img))
	})
}

// handleImages is GET /v1/images: the caller's own images.
func (n *Node) handleImages(w http.ResponseWriter, r *http.Request) error {
	user, err := n.authUser(r)
	if err != nil {
		return err
	}
	return n.atCoordinator(w, r, nil, func() *outcome {
		var out []ImageReply
		if err := n.repl.read(r.Context(), func(s *registry.State) {
			for _, img := range s.ImagesOwnedBy(user) {
				out = append(out, imageReply(img))
			}
		}); err != nil {
			return errorOutcome(err)
		}
		if out == nil {
			out = []ImageReply{}
		}
		return jsonOutcome(http.StatusOK, out)
	})
}

// handleShared is GET /v1/shared: the images shared with the caller and the
// views left on each.
func (n *Node) handleShared(w http.ResponseWriter, r *http.Request) error {
	user, err := n.authUser(r)
	if err != nil {
		return err
	}
	return n.atCoordinator(w, r, nil, func() *outcome {
		out := []SharedReply{}
		if err := n.repl.read(r.Context(), func(s *registry.State) {
			for _, sh := range s.SharedWith(user) {
				out = append(out, SharedReply{ID: sh.ID, Owner: sh.Owner, ViewsLeft: sh.ViewsLeft, Created: sh.Created})
			}
		}); err != nil {
			return errorOutcome(err)
		}
		return jsonOutcome(http.StatusOK, out)
	})
}
