package cluster

// Compaction and snapshot transfer in Bully mode. Every node compacts its
// own log once SnapshotThreshold entries have been committed past its last
// snapshot, keeping TrailingLogs entries before it. A follower that needs
// an entry its coordinator no longer keeps gets the snapshot instead, sent
// in chunks it appends to a file and checks end to end (the snapshot's own
// CRC-32C, then every rule Restore checks) before it installs it; a
// transfer cut off resumes where the follower's file ends. A new
// coordinator whose log is behind the compaction point of the most
// up-to-date log it must adopt pulls that node's snapshot the same way.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"veil/cluster/registry"
)

// snapshotChunk is the size of one piece of a snapshot on the wire.
const snapshotChunk = 1 << 20

// incomingName is the file a snapshot being received is gathered in.
const incomingName = "snapshot-incoming.part"

// maybeCompact starts a compaction of the store once enough entries are
// committed past its snapshot, unless one is running.
func (r *replicator) maybeCompact() {
	st := r.store.Status()
	if st.Commit-st.SnapshotIndex < r.n.cfg.SnapshotThreshold || !r.compacting.CompareAndSwap(false, true) {
		return
	}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		defer r.compacting.Store(false)
		start := time.Now()
		idx, err := r.store.Compact(r.n.cfg.TrailingLogs)
		if err != nil {
			r.log.Error("compaction failed", "error", err)
			return
		}
		r.log.Info("registry compacted", "snapshot_index", idx, "took", time.Since(start).Round(time.Millisecond))
	}()
}

// snapshotMeta names a snapshot on the wire: its index and epoch, and its
// size in bytes.
type snapshotMeta struct {
	Index uint64
	Epoch registry.Epoch
	Size  int64
}

func (m snapshotMeta) query(q url.Values) url.Values {
	q.Set("index", strconv.FormatUint(m.Index, 10))
	q.Set("snap_term", strconv.FormatUint(m.Epoch.Term, 10))
	q.Set("snap_node", m.Epoch.Node)
	q.Set("size", strconv.FormatInt(m.Size, 10))
	return q
}

func parseSnapshotMeta(q url.Values) (snapshotMeta, error) {
	var m snapshotMeta
	var err1, err2, err3 error
	m.Index, err1 = strconv.ParseUint(q.Get("index"), 10, 64)
	m.Epoch.Term, err2 = strconv.ParseUint(q.Get("snap_term"), 10, 64)
	m.Epoch.Node = q.Get("snap_node")
	m.Size, err3 = strconv.ParseInt(q.Get("size"), 10, 64)
	if err := errors.Join(err1, err2, err3); err != nil || m.Index == 0 || m.Size <= 0 {
		return snapshotMeta{}, badRequest("snapshot: want index, snap_term, snap_node and size: %v", err)
	}
	return m, nil
}

// receiver gathers a snapshot in a file of the data directory, chunk by
// chunk, and installs it once whole.
type receiver struct {
	mu   sync.Mutex
	path string
	meta snapshotMeta // of the snapshot being gathered; zero when none
	have int64
}

// errSnapshotOffset: a chunk does not start where the gathered file ends;
// have says where it does.
type errSnapshotOffset struct{ have int64 }

func (e *errSnapshotOffset) Error() string {
	return fmt.Sprintf("the snapshot gathered so far holds %d bytes", e.have)
}

// add appends chunk, at offset of the snapshot m, and installs the
// snapshot through install once it is whole. It returns the bytes held and
// whether the snapshot was installed. A chunk of another snapshot at
// offset 0 starts over; any other chunk out of place is errSnapshotOffset.
func (rc *receiver) add(m snapshotMeta, offset int64, chunk []byte, install func(registry.Snapshot) error) (int64, bool, error) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if m != rc.meta || offset != rc.have {
		if offset != 0 {
			if m != rc.meta {
				return 0, false, &errSnapshotOffset{0}
			}
			return rc.have, false, &errSnapshotOffset{rc.have}
		}
		rc.meta, rc.have = m, 0
		if err := os.Remove(rc.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return 0, false, err
		}
	}
	if rc.have+int64(len(chunk)) > m.Size {
		rc.reset()
		return 0, false, badRequest("snapshot: a chunk of %d bytes at %d runs past its size, %d", len(chunk), offset, m.Size)
	}
	f, err := os.OpenFile(rc.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return rc.have, false, err
	}
	_, err = f.Write(chunk)
	if err = errors.Join(err, f.Close()); err != nil {
		rc.reset()
		return 0, false, err
	}
	rc.have += int64(len(chunk))
	if rc.have < m.Size {
		return rc.have, false, nil
	}
	data, err := os.ReadFile(rc.path)
	rc.reset()
	if err != nil {
		return 0, false, err
	}
	if err := install(registry.Snapshot{Index: m.Index, Epoch: m.Epoch, Data: data}); err != nil {
		return 0, false, err
	}
	return int64(len(data)), true, nil
}

// reset forgets the snapshot being gathered.
func (rc *receiver) reset() {
	rc.meta, rc.have = snapshotMeta{}, 0
	os.Remove(rc.path)
}

// handleSnapshotChunk is POST /v1/internal/snapshot: a chunk of the
// coordinator's snapshot for this follower.
func (r *replicator) handleSnapshotChunk(w http.ResponseWriter, req *http.Request) error {
	if err := r.n.fromPeer(req); err != nil {
		return err
	}
	if m, ok := r.n.mship.member(req.Header.Get(hdrPeer)); r.n.gate.Silenced() || (ok && r.n.gate.closedTo(m.Gossip)) {
		return fmt.Errorf("%w: cut off from %s", ErrUnavailable, req.Header.Get(hdrPeer))
	}
	q := req.URL.Query()
	meta, err := parseSnapshotMeta(q)
	if err != nil {
		return err
	}
	leader := registry.Epoch{Node: q.Get("node")}
	leader.Term, err = strconv.ParseUint(q.Get("term"), 10, 64)
	offset, err2 := strconv.ParseInt(q.Get("offset"), 10, 64)
	if err != nil || err2 != nil || offset < 0 {
		return badRequest("snapshot: want term, node and offset")
	}
	if leader.Less(r.store.Promised()) {
		return r.refuse(w, fmt.Errorf("%w: %v, promised %v", registry.ErrStaleEpoch, leader, r.store.Promised()))
	}
	chunk, err := r.n.readBody(w, req)
	if err != nil {
		return err
	}
	have, done, err := r.incoming.add(meta, offset, chunk, func(s registry.Snapshot) error {
		return r.store.InstallSnapshot(leader, s)
	})
	var oe *errSnapshotOffset
	switch {
	case errors.As(err, &oe):
		writeJSON(w, http.StatusConflict, map[string]any{
			"error": apiError{Code: "snapshot_offset", Message: err.Error()},
			"have":  oe.have,
		})
		return nil
	case err != nil:
		r.log.Warn("a snapshot from the coordinator was refused", "from", leader.Node, "index", meta.Index, "error", err)
		return r.refuse(w, err)
	}
	r.n.heardFrom(leader.Node, leader)
	r.stepAside(leader)
	if done {
		r.log.Info("installed the coordinator's snapshot", "index", meta.Index, "bytes", have)
	}
	writeJSON(w, http.StatusOK, map[string]any{"have": have, "installed": done})
	return nil
}

// handleSnapshotRead is GET /v1/internal/snapshot?offset=N: a chunk of
// this node's snapshot, for a new coordinator that must adopt a log it is
// too far behind to copy. The reply's headers name the snapshot.
func (r *replicator) handleSnapshotRead(w http.ResponseWriter, req *http.Request) error {
	if err := r.n.fromPeer(req); err != nil {
		return err
	}
	offset, err := strconv.ParseInt(req.URL.Query().Get("offset"), 10, 64)
	if err != nil || offset < 0 {
		return badRequest("snapshot: want offset >= 0")
	}
	info, f, err := r.store.OpenSnapshot()
	if err != nil {
		return peerRefusal(err)
	}
	defer f.Close()
	if want := req.URL.Query().Get("index"); want != "" && want != strconv.FormatUint(info.Index, 10) {
		offset = 0 // the snapshot changed since the first chunk: start over
	}
	chunk := make([]byte, min(snapshotChunk, max(info.Size-offset, 0)))
	if _, err := f.ReadAt(chunk, offset); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	h := w.Header()
	for k, v := range (snapshotMeta{info.Index, info.Epoch, info.Size}).query(url.Values{"offset": {strconv.FormatInt(offset, 10)}}) {
		h.Set("Veil-Snapshot-"+k, v[0])
	}
	h.Set("Content-Type", "application/octet-stream")
	w.WriteHeader(http.StatusOK)
	_, err = w.Write(chunk)
	return err
}

// sendSnapshot sends this node's snapshot to peer, for the reign of e,
// resuming where the peer's gathered file ends. It returns the snapshot's
// index once the peer has installed it.
func (r *replicator) sendSnapshot(ctx context.Context, e registry.Epoch, peer string) (uint64, error) {
	info, f, err := r.store.OpenSnapshot()
	if err != nil {
		return 0, err
	}
	defer f.Close()
	meta := snapshotMeta{info.Index, info.Epoch, info.Size}
	r.log.Debug("sending the snapshot to a follower the log cannot catch up", "peer", peer, "index", info.Index, "bytes", info.Size)
	var offset int64
	buf := make([]byte, snapshotChunk)
	for ctx.Err() == nil {
		n, err := f.ReadAt(buf[:min(int64(len(buf)), info.Size-offset)], offset)
		if err != nil && !errors.Is(err, io.EOF) {
			return 0, err
		}
		q := meta.query(url.Values{
			"term": {strconv.FormatUint(e.Term, 10)}, "node": {e.Node}, "offset": {strconv.FormatInt(offset, 10)},
		})
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		b, _, err := r.peerRequest(cctx, peer, http.MethodPost, "/v1/internal/snapshot?"+q.Encode(), "application/octet-stream", buf[:n])
		cancel()
		var pe *peerError
		switch {
		case errors.As(err, &pe) && pe.code == "snapshot_offset":
			offset = pe.have
			continue
		case err != nil:
			return 0, err
		}
		var rep struct {
			Have      int64 `json:"have"`
			Installed bool  `json:"installed"`
		}
		if err := decodeKnown(b, &rep); err != nil {
			return 0, err
		}
		if rep.Installed {
			r.log.Info("a follower the log could not catch up installed the snapshot", "peer", peer, "index", info.Index, "bytes", info.Size)
			return info.Index, nil
		}
		offset = rep.Have
	}
	return 0, ctx.Err()
}

// pullSnapshot fetches peer's snapshot and installs it here, for a new
// coordinator at e whose log is behind peer's compaction point.
func (r *replicator) pullSnapshot(ctx context.Context, e registry.Epoch, peer string) error {
	var offset int64
	index := ""
	for ctx.Err() == nil {
		q := url.Values{"offset": {strconv.FormatInt(offset, 10)}}
		if index != "" {
			q.Set("index", index)
		}
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		chunk, h, err := r.peerRequest(cctx, peer, http.MethodGet, "/v1/internal/snapshot?"+q.Encode(), "application/json", nil)
		cancel()
		if err != nil {
			return fmt.Errorf("fetching the snapshot of %s: %w", peer, err)
		}
		hq := url.Values{}
		for _, k := range []string{"index", "snap_term", "snap_node", "size", "offset"} {
			hq.Set(k, h.Get("Veil-Snapshot-"+k))
		}
		meta, err := parseSnapshotMeta(hq)
		if err != nil {
			return err
		}
		at, err := strconv.ParseInt(hq.Get("offset"), 10, 64)
		if err != nil {
			return badRequest("snapshot: offset: %v", err)
		}
		index = hq.Get("index")
		have, done, err := r.incoming.add(meta, at, chunk, func(s registry.Snapshot) error {
			return r.store.InstallSnapshot(e, s)
		})
		var oe *errSnapshotOffset
		switch {
		case errors.As(err, &oe):
			offset = oe.have
			continue
		case err != nil:
			return err
		case done:
			r.log.Info("coordinator: installed a more up-to-date node's snapshot", "from", peer, "index", meta.Index)
			return nil
		}
		offset = have
	}
	return ctx.Err()
}

func newReceiver(dataDir string) *receiver {
	return &receiver{path: filepath.Join(dataDir, incomingName)}
}
