package peer

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"veil/cluster/api"
	"veil/cluster/vouch"
)

// MaxImageBytes bounds a fetched veiled PNG: a holder that sends more is
// cut off.
const MaxImageBytes = 256 << 20

// Errors of a fetch a caller can act on.
var (
	// ErrUnknownImage: the directory lists no such image for this user
	// (it does not exist, or it is not the user's to see).
	ErrUnknownImage = errors.New("peer: no such image in your directory")
	// ErrNoHolder: no online peer holds a copy.
	ErrNoHolder = errors.New("peer: no online peer holds the image")
)

// FetchResult says how a fetch went.
type FetchResult struct {
	Entry
	Source   string `json:"source"`   // the user whose peer sent the last bytes
	Address  string `json:"address"`  // and its address
	Moved    int64  `json:"moved"`    // bytes received by this fetch
	Resumed  int64  `json:"resumed"`  // bytes already there from an earlier, cut fetch
	Attempts int    `json:"attempts"` // transfers started
	Already  bool   `json:"already"`  // the image was held already; nothing moved
	Duration string `json:"duration"` // how long the fetch took
	// Lease is the views leased for offline use after the fetch, if any;
	// LeaseErr says why none was taken when one was asked for.
	Lease    *LeaseState `json:"lease,omitempty"`
	LeaseErr string      `json:"lease_error,omitempty"`
}

// Fetch gets the veiled copy of image id (see fetch), then leases views of
// it for offline use: lease of them, or LeaseAll, or none for 0. A lease
// needs the cloud; without it the fetch stands and LeaseErr says why.
func (p *Peer) Fetch(ctx context.Context, id, from string, lease int) (FetchResult, error) {
	res, err := p.fetch(ctx, id, from)
	if err != nil || lease == 0 || res.Owner == p.cfg.User {
		return res, err
	}
	var e api.DirectoryEntry
	cctx, cancel := context.WithTimeout(ctx, p.cfg.CloudTimeout)
	defer cancel()
	d, derr := p.cloud.Directory(cctx)
	if derr == nil {
		i := slices.IndexFunc(d.Images, func(x api.DirectoryEntry) bool { return x.ID == id })
		if i < 0 {
			derr = fmt.Errorf("%w: %s", ErrUnknownImage, id)
		} else {
			e = d.Images[i]
		}
	}
	p.cloudFailed(derr)
	if derr != nil {
		res.LeaseErr = derr.Error()
		return res, nil
	}
	ls, lerr := p.takeLease(ctx, e, lease)
	switch {
	case lerr != nil:
		res.LeaseErr = lerr.Error()
	case ls.ID != "":
		res.Lease = &ls
	}
	return res, nil
}

// fetch gets the veiled copy of image id from a peer that holds it: the
// owner's, or any online holder's (from, when set, is tried first). The
// bytes go straight between the two peers, checked against the digest the
// cloud recorded; a fetch that is cut resumes where it stopped, at the same
// holder or another. With the cloud away, the directory last heard is used.
func (p *Peer) fetch(ctx context.Context, id, from string) (FetchResult, error) {
	start := time.Now()
	if err := checkID(id); err != nil {
		return FetchResult{}, err
	}
	if e, ok := p.store.Get(id); ok {
		return FetchResult{Entry: e, Already: true, Duration: "0s"}, nil
	}
	entry, online, err := p.lookup(ctx, id)
	if err != nil {
		return FetchResult{}, err
	}
	if entry.Digest == "" {
		return FetchResult{}, fmt.Errorf("peer: image %s was put before the cloud kept digests; a copy could not be checked, so it is not fetched", id)
	}
	cands := p.candidates(entry, online, from)
	if len(cands) == 0 {
		who := "no peer"
		if from != "" {
			who = from + "'s peer"
		}
		return FetchResult{}, fmt.Errorf("%w: %s (owner %s): %s is online with a copy", ErrNoHolder, id, entry.Owner, who)
	}
	st := p.snapshot()
	res := FetchResult{}
	var errs []error
	for _, h := range cands {
		// A holder that cuts the transfer is tried once more, resuming.
		for try := 0; try < 2; try++ {
			res.Attempts++
			moved, resumed, err := p.fetchFrom(ctx, h, entry, st.Statement)
			res.Moved += moved
			res.Resumed = resumed
			if err == nil {
				e, ferr := p.store.finishPartial(id, entry.Owner, h.User, entry.Digest)
				if ferr == nil {
					res.Entry, res.Source, res.Address = e, h.User, h.Address
					res.Duration = time.Since(start).Round(time.Millisecond).String()
					p.log.Info("fetched an image", "image", id, "from", h.User, "bytes", res.Moved, "resumed", res.Resumed)
					p.offerNow(ctx)
					return res, nil
				}
				err = ferr
			}
			errs = append(errs, fmt.Errorf("%s at %s: %w", h.User, h.Address, err))
			if ctx.Err() != nil {
				return res, errors.Join(errs...)
			}
			var pe *Error
			if errors.As(err, &pe) || errors.Is(err, ErrDigestMismatch) || errors.Is(err, ErrBadStatement) {
				break // an answer, not a cut: no use asking this holder again
			}
		}
	}
	return res, fmt.Errorf("peer: fetch of %s failed at every holder: %w", id, errors.Join(errs...))
}

// lookup finds an image in the directory: the cloud's, or the one last
// heard when the cloud does not answer.
func (p *Peer) lookup(ctx context.Context, id string) (api.DirectoryEntry, []api.OnlineReply, error) {
	dir, online := p.snapshot().Directory, p.snapshot().Online
	// The cloud's word is fresher, but a fetch must not wait long for a
	// cloud that is away when the image is known already.
	wait := p.cfg.CloudTimeout
	if slices.ContainsFunc(dir.Images, func(e api.DirectoryEntry) bool { return e.ID == id }) {
		wait = min(wait, time.Second)
	}
	cctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	d, err := p.cloud.Directory(cctx)
	if err == nil {
		dir = d
		if o, err := p.cloud.Online(cctx); err == nil {
			online = o
		}
		p.heardDirectory(dir, online)
	}
	p.cloudFailed(err)
	for _, e := range dir.Images {
		if e.ID == id {
			return e, online, nil
		}
	}
	return api.DirectoryEntry{}, nil, fmt.Errorf("%w: %s", ErrUnknownImage, id)
}

// candidates orders the peers to fetch from: from's first, then the
// owner's, then the other holders; never this device. When the directory
// lists no holder for the user asked for, but that user is online, its
// peer is asked anyway (it may hold the image by now).
func (p *Peer) candidates(e api.DirectoryEntry, online []api.OnlineReply, from string) []api.Holder {
	var out []api.Holder
	for _, h := range e.Holders {
		if h.Device != p.Device() {
			out = append(out, h)
		}
	}
	if from != "" && !slices.ContainsFunc(out, func(h api.Holder) bool { return h.User == from }) {
		for _, o := range online {
			if o.User == from && o.Device != p.Device() {
				out = append(out, api.Holder{User: o.User, Device: o.Device, Address: o.Address, Key: o.Key})
			}
		}
	}
	rank := func(h api.Holder) int {
		switch {
		case from != "" && h.User == from:
			return 0
		case h.User == e.Owner:
			return 1
		}
		return 2
	}
	slices.SortStableFunc(out, func(a, b api.Holder) int { return rank(a) - rank(b) })
	return out
}

// fetchFrom moves what is missing of the image from one holder into the
// partial file. It returns the bytes it received and those that were
// already there.
func (p *Peer) fetchFrom(ctx context.Context, h api.Holder, e api.DirectoryEntry, statement string) (moved, resumed int64, err error) {
	key, err := holderKey(h)
	if err != nil {
		return 0, 0, err
	}
	f, off, err := p.store.partial(e.ID)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	hc := p.peerClient(key)
	defer hc.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+h.Address+"/p2p/v1/images/"+url.PathEscape(e.ID), nil)
	if err != nil {
		return 0, off, err
	}
	req.Header.Set(hdrDevice, statement)
	if e.Ticket != "" {
		req.Header.Set(hdrTicket, e.Ticket)
	}
	if off > 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(off, 10)+"-")
		req.Header.Set("If-Range", `"`+e.Digest+`"`)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, off, err
	}
	defer resp.Body.Close()
	if err := p.checkServer(resp, h); err != nil {
		return 0, off, err
	}
	switch resp.StatusCode {
	case http.StatusOK:
		if off > 0 {
			// The holder sent the whole file: start again from zero.
			if err := f.Truncate(0); err != nil {
				return 0, off, err
			}
			off = 0
		}
	case http.StatusPartialContent:
		if !strings.HasPrefix(resp.Header.Get("Content-Range"), "bytes "+strconv.FormatInt(off, 10)+"-") {
			return 0, off, fmt.Errorf("peer: asked for bytes from %d, got %q", off, resp.Header.Get("Content-Range"))
		}
	case http.StatusRequestedRangeNotSatisfiable:
		return 0, off, nil // the partial file already holds it all; the digest tells
	default:
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return 0, off, decodeError(resp.StatusCode, body)
	}
	n, err := io.Copy(f, io.LimitReader(resp.Body, MaxImageBytes-off+1))
	if err == nil && off+n > MaxImageBytes {
		err = fmt.Errorf("peer: the holder sent more than %d bytes", MaxImageBytes)
		f.Truncate(0)
	}
	if serr := f.Sync(); err == nil {
		err = serr
	}
	return n, off, err
}

// checkServer checks that the peer that answered is the holder the
// directory lists: the TLS handshake already proved its key; its statement
// must say the same user.
func (p *Peer) checkServer(resp *http.Response, h api.Holder) error {
	st := p.snapshot()
	d, err := vouch.VerifyDevice(st.cloudKey(), resp.Header.Get(hdrDevice), time.Now())
	if err != nil {
		return fmt.Errorf("%w: the holder's statement: %w", ErrBadStatement, err)
	}
	if resp.TLS == nil {
		return fmt.Errorf("%w: not a TLS connection", ErrBadStatement)
	}
	k, err := leafKey(resp.TLS.PeerCertificates)
	if err != nil {
		return err
	}
	if !d.Key.Equal(k) || d.User != h.User {
		return fmt.Errorf("%w: the holder's statement is for %s, not for %s with this key", ErrBadStatement, d.User, h.User)
	}
	return nil
}

// peerClient is an HTTP client that only talks to the device with key.
func (p *Peer) peerClient(key ed25519.PublicKey) *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext:           (&net.Dialer{Timeout: 3 * time.Second}).DialContext,
		TLSClientConfig:       clientTLS(p.cert, key),
		TLSHandshakeTimeout:   5 * time.Second,
		ResponseHeaderTimeout: 10 * time.Second,
		ForceAttemptHTTP2:     true,
	}}
}
