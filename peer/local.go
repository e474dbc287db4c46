package peer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"veil/cluster/api"
	"veil/cluster/client"
	"veil/stego"
)

// The control API, on a loopback address: what the veil command's --peer
// flag uses (the web app calls the same handlers, under /app). Every route
// needs HTTP Basic authentication with the peer's user and password, a
// Host that names this machine, the header Veil-Local, and no sign of
// coming from a web page (Origin, Sec-Fetch-Site), so that a page of
// another site cannot drive it through the user's browser. Errors are
// {"error":{"code":…,"message":…}}; the cloud's errors are passed on with
// their status and code.
//
//	GET   /local/v1/status                 the peer's state
//	GET   /local/v1/online                 who is online (the cloud's list, or the last one heard)
//	GET   /local/v1/directory              the images the user may see, with their holders
//	GET   /local/v1/images                 the images this peer holds
//	POST  /local/v1/images?viewers=bob=2   put (a multipart form as the cloud's, or the secret as the body)
//	GET   /local/v1/images/{id}/veiled     a held veiled PNG
//	PATCH /local/v1/images/{id}            change viewers: {"set":{"bob":3},"remove":["carol"]}
//	POST  /local/v1/fetch                  {"image":ID,"from":USER}
//	POST  /local/v1/view                   {"image":ID}: the original, spending one view
//	GET   /local/v1/requests               requests from non-viewers (policy "requests")
//	POST  /local/v1/requests/approve       {"user":U,"image":ID,"views":N}
//	POST  /local/v1/requests/deny          {"user":U,"image":ID}
//	POST  /local/v1/leases/return          {"image":ID}: give back the leases of an image (all, without one)

// maxLocalBody bounds a control API body (a put carries an image and a cover).
const maxLocalBody = 64 << 20

// LocalHeader is the header every call of the control API carries (with
// any value; LocalClient sends "1"). A web page of another site cannot
// send it: a header of its own makes the browser ask first (a CORS
// preflight), and the control API never says yes. Without it a browser
// could replay Basic credentials it holds for the peer in a plain form
// post or an <img>.
const LocalHeader = "Veil-Local"

// fetchTimeout bounds a fetch the user asked for, through the control API
// or the app: the transfer from another peer and the lease after it.
const fetchTimeout = 5 * time.Minute

// Status is the peer's state, GET /local/v1/status.
type Status struct {
	User      string    `json:"user"`
	Device    string    `json:"device"`
	Listen    string    `json:"listen"`
	Advertise string    `json:"advertise"`
	Online    bool      `json:"online"` // the last contact with the cloud succeeded
	Since     time.Time `json:"since,omitzero"`
	CloudErr  string    `json:"cloud_error,omitempty"`
	Heard     time.Time `json:"heard,omitzero"` // last answer from the cloud
	Expires   time.Time `json:"statement_expires,omitzero"`
	Holds     []string  `json:"holds"`
	Requests  int       `json:"requests"`
	Policy    Policy    `json:"policy"`
	// Leases are the views this device holds for offline use.
	Leases []LeaseState `json:"leases"`
	// Queued are the owner's changes waiting for the cloud; QueueErr is
	// why the cloud refused the last one it refused.
	Queued   []QueuedChange `json:"queued"`
	QueueErr string         `json:"queue_error,omitempty"`
}

// OnlineList is GET /local/v1/online.
type OnlineList struct {
	Peers []api.OnlineReply `json:"peers"`
	Stale bool              `json:"stale"` // the cloud did not answer: this is what it said last
	Heard time.Time         `json:"heard,omitzero"`
}

// DirectoryList is GET /local/v1/directory.
type DirectoryList struct {
	api.DirectoryReply
	Stale bool      `json:"stale"`
	Heard time.Time `json:"heard,omitzero"`
}

// FetchRequest is the body of POST /local/v1/fetch.
type FetchRequest struct {
	Image string `json:"image"`
	From  string `json:"from,omitempty"`
	// Lease is how many views to lease for offline use after the fetch:
	// absent or -1 for all the viewer has left, 0 for none.
	Lease *int `json:"lease,omitempty"`
}

// ViewRequest is the body of POST /local/v1/view.
type ViewRequest struct {
	Image string `json:"image"`
}

// ShareRequest is the body of PATCH /local/v1/images/{id}.
type ShareRequest struct {
	Set    map[string]int `json:"set,omitempty"`
	Remove []string       `json:"remove,omitempty"`
}

// Queued answers a change the owner made while the cloud was away (202).
type Queued struct {
	Queued   bool         `json:"queued"`
	Position int          `json:"position"`
	Change   QueuedChange `json:"change"`
}

var errCloudAway = errors.New("peer: the cloud is away")

// ApproveRequest is the body of the requests routes.
type ApproveRequest struct {
	User  string `json:"user"`
	Image string `json:"image"`
	Views int    `json:"views,omitempty"`
}

func (p *Peer) localHandler() http.Handler {
	mux := http.NewServeMux()
	route := func(pattern string, h func(w http.ResponseWriter, r *http.Request) error) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			if err := h(w, r); err != nil {
				writeLocalError(w, err)
			}
		})
	}
	route("GET /local/v1/status", p.handleStatus)
	route("GET /local/v1/online", p.handleOnline)
	route("GET /local/v1/directory", p.handleDirectory)
	route("GET /local/v1/images", p.handleImages)
	route("POST /local/v1/images", p.handlePut)
	route("GET /local/v1/images/{id}/veiled", p.handleVeiled)
	route("PATCH /local/v1/images/{id}", p.handleShare)
	route("POST /local/v1/fetch", p.handleFetch)
	route("POST /local/v1/view", p.handleView)
	route("GET /local/v1/requests", p.handleRequests)
	route("POST /local/v1/requests/approve", p.handleApprove)
	route("POST /local/v1/requests/deny", p.handleDeny)
	route("POST /local/v1/leases/return", p.handleGiveBack)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", "no such route %s %s", r.Method, r.URL.Path)
	})
	api, app := p.guard(mux), p.appHandler()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case !loopbackHost(r.Host):
			writeError(w, http.StatusForbidden, "bad_host", "Host %q: the control API answers only to localhost or a loopback address", r.Host)
		case r.URL.Path == "/":
			http.Redirect(w, r, "/app/", http.StatusSeeOther)
		case r.URL.Path == "/app" || strings.HasPrefix(r.URL.Path, "/app/"):
			app.ServeHTTP(w, r)
		default:
			api.ServeHTTP(w, r)
		}
	})
}

// guard lets through only requests from this machine's user: a Host that
// is a loopback name, nothing that says a web page sent it, the header
// Veil-Local, and the user's password. The password is checked last, so
// that a request a page of another site made gets its refusal without the
// peer having looked at the credentials the browser added; and only when
// the source has no wrong passwords to wait for (logins.go).
func (p *Peer) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !loopbackHost(r.Host) {
			writeError(w, http.StatusForbidden, "bad_host", "Host %q: the control API answers only to localhost or a loopback address", r.Host)
			return
		}
		if why := fromAPage(r); why != "" {
			writeError(w, http.StatusForbidden, "cross_site",
				"%s: the control API answers only programs of this machine's user (the veil command), never a web page; the app is at /app/", why)
			return
		}
		if r.Header.Get(LocalHeader) == "" {
			writeError(w, http.StatusForbidden, "no_local_header",
				"the control API needs the header %s (the veil command and peer.LocalClient send it; a web page of another site cannot)", LocalHeader)
			return
		}
		u, pw, ok := r.BasicAuth()
		if ok {
			var wait time.Duration
			if wait, ok = p.signIn(r, u, pw); wait > 0 {
				writeTooMany(w, wait)
				return
			}
		}
		if !ok {
			w.Header().Set("WWW-Authenticate", `Basic realm="veil peer", charset="UTF-8"`)
			writeError(w, http.StatusUnauthorized, "unauthorized", "the control API needs the peer's user and password (HTTP Basic)")
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxLocalBody)
		next.ServeHTTP(w, r)
	})
}

// fromAPage says why r looks sent by a web page rather than a program of
// the user's: a browser's Sec-Fetch-Site other than "none" (typed in the
// address bar), or an Origin. The /app pages are the browser's way in;
// their forms post to /app, never here, so even a page of the peer's own
// origin has no business with the control API. An old browser that sends
// neither header is stopped by LocalHeader.
func fromAPage(r *http.Request) string {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "none" {
		return fmt.Sprintf("a request made by a web page (Sec-Fetch-Site: %s)", site)
	}
	if origin := r.Header.Get("Origin"); origin != "" {
		return fmt.Sprintf("a request made by a web page (Origin: %s)", origin)
	}
	return ""
}

func loopbackHost(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = hostport
	}
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(strings.Trim(host, "[]"))
	return err == nil && ip.IsLoopback()
}

// localError is an error with the status and code the control API answers.
type localError struct {
	status int
	code   string
	err    error
}

func (e *localError) Error() string { return e.err.Error() }
func (e *localError) Unwrap() error { return e.err }

func badLocal(format string, a ...any) error {
	return &localError{http.StatusBadRequest, "bad_request", fmt.Errorf(format, a...)}
}

// writeLocalError maps an error to its answer, in one place.
func writeLocalError(w http.ResponseWriter, err error) {
	var le *localError
	var ce *client.Error
	var pe *Error
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &le):
		writeError(w, le.status, le.code, "%v", le.err)
	case errors.As(err, &ce):
		writeError(w, ce.Status, ce.Code, "cloud: %s", ce.Message)
	case errors.As(err, &mbe):
		writeError(w, http.StatusRequestEntityTooLarge, "too_large", "the body passes %d bytes", mbe.Limit)
	case errors.Is(err, ErrUnknownImage):
		writeError(w, http.StatusNotFound, "unknown_image", "%v", err)
	case errors.Is(err, ErrNotHeld):
		writeError(w, http.StatusNotFound, "not_held", "%v; fetch it first", err)
	case errors.Is(err, ErrNoHolder):
		writeError(w, http.StatusServiceUnavailable, "no_holder", "%v", err)
	case errors.As(err, &pe):
		writeError(w, http.StatusBadGateway, pe.Code, "peer: %s", pe.Message)
	case errors.Is(err, ErrDigestMismatch), errors.Is(err, ErrBadStatement):
		writeError(w, http.StatusBadGateway, "bad_peer", "%v", err)
	case errors.Is(err, context.DeadlineExceeded):
		writeError(w, http.StatusGatewayTimeout, "timeout", "%v", err)
	default:
		writeError(w, http.StatusBadGateway, "unreachable", "%v", err)
	}
}

func writeLocalJSON(w http.ResponseWriter, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	_, err = w.Write(append(b, '\n'))
	return err
}

// decodeBody reads a JSON body strictly: unknown fields are an error.
func decodeBody(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		return badLocal("body: %v", err)
	}
	if dec.More() {
		return badLocal("body: more than one JSON value")
	}
	return nil
}

func (p *Peer) status() Status {
	st := p.snapshot()
	p.mu.Lock()
	defer p.mu.Unlock()
	s := Status{
		User: p.cfg.User, Device: p.Device(), Listen: p.ListenAddr(), Advertise: p.cfg.Advertise,
		Online: p.online, CloudErr: p.lastErr, Heard: st.Heard, Expires: st.Expires,
		Holds: p.store.Holds(), Requests: len(st.Requests), Policy: p.cfg.Policy,
		Leases: nonNil(p.leases.states()), Queued: nonNil(st.Queue), QueueErr: p.queueErr,
	}
	if p.online {
		s.Since = p.since
	}
	return s
}

func (p *Peer) handleStatus(w http.ResponseWriter, r *http.Request) error {
	return writeLocalJSON(w, p.status())
}

// cloudCtx bounds one call to the cloud made for the control API.
func (p *Peer) cloudCtx(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), p.cfg.CloudTimeout)
}

func (p *Peer) handleOnline(w http.ResponseWriter, r *http.Request) error {
	ctx, cancel := p.cloudCtx(r)
	defer cancel()
	o, err := p.cloud.Online(ctx)
	if err == nil {
		return writeLocalJSON(w, OnlineList{Peers: o, Heard: time.Now().UTC()})
	}
	p.cloudFailed(err)
	st := p.snapshot()
	return writeLocalJSON(w, OnlineList{Peers: nonNil(st.Online), Stale: true, Heard: st.Heard})
}

func (p *Peer) handleDirectory(w http.ResponseWriter, r *http.Request) error {
	ctx, cancel := p.cloudCtx(r)
	defer cancel()
	d, err := p.cloud.Directory(ctx)
	if err == nil {
		p.heardDirectory(d, nil)
		return writeLocalJSON(w, DirectoryList{DirectoryReply: d, Heard: time.Now().UTC()})
	}
	p.cloudFailed(err)
	st := p.snapshot()
	d = st.Directory
	d.Images = nonNil(d.Images)
	return writeLocalJSON(w, DirectoryList{DirectoryReply: d, Stale: true, Heard: st.Heard})
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func (p *Peer) handleImages(w http.ResponseWriter, r *http.Request) error {
	return writeLocalJSON(w, p.store.List())
}

func (p *Peer) handleVeiled(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if err := checkID(id); err != nil {
		return badLocal("%v", err)
	}
	b, err := p.store.Veiled(id)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("Content-Disposition", `attachment; filename="`+id+`.png"`)
	_, err = w.Write(b)
	return err
}

// handlePut puts an image through the cloud, keeps the original and the
// veiled copy, and offers the copy to the viewers at once.
func (p *Peer) handlePut(w http.ResponseWriter, r *http.Request) error {
	req, err := readPut(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	res, err := p.ops.Hide(ctx, req)
	if err != nil {
		return err
	}
	if _, err := p.store.PutOwn(res.ImageID, p.cfg.User, res.PNG, req.Secret); err != nil {
		return &localError{http.StatusInternalServerError, "store", fmt.Errorf("the cloud veiled image %s, but this peer could not keep it: %w", res.ImageID, err)}
	}
	// Register the new holding before answering, so that a viewer told of
	// the image finds this peer holding it.
	p.offerNow(ctx)
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("Veil-Image-Id", res.ImageID)
	w.Header().Set("Veil-Worker", res.Worker)
	w.Header().Set("Veil-Coordinator", res.Coordinator)
	_, err = w.Write(res.PNG)
	return err
}

// readPut reads a put: the cloud's multipart form (secret, cover, viewers)
// or the secret as the whole body with viewers in the query.
func readPut(r *http.Request) (client.HideRequest, error) {
	var req client.HideRequest
	q := r.URL.Query()
	vs, stealth := q.Get("viewers"), q.Get("stealth")
	mt, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt == "multipart/form-data" {
		mr := multipart.NewReader(r.Body, params["boundary"])
		for {
			part, perr := mr.NextPart()
			if perr == io.EOF {
				break
			}
			if perr != nil {
				return req, badLocal("multipart body: %v", perr)
			}
			b, rerr := io.ReadAll(part)
			if rerr != nil {
				return req, rerr
			}
			switch part.FormName() {
			case "secret":
				req.Secret = b
			case "cover":
				req.Cover = b
			case "viewers":
				vs = string(b)
			case "stealth":
				stealth = string(b)
			default:
				return req, badLocal("multipart body: unknown part %q (want secret, cover, viewers, stealth)", part.FormName())
			}
		}
	} else {
		var err error
		if req.Secret, err = io.ReadAll(r.Body); err != nil {
			return req, err
		}
	}
	if len(req.Secret) == 0 {
		return req, badLocal("no secret image: send it as the body, or as the part \"secret\" of a multipart form")
	}
	var err error
	if req.Viewers, err = api.ParseViewers(vs, 1); err != nil {
		return req, badLocal("%v", err)
	}
	level, err := stego.ParseLevel(stealth)
	if err != nil {
		return req, badLocal("%v", err)
	}
	if stealth != "" {
		req.Stealth = level.String()
	}
	return req, nil
}

func (p *Peer) handleShare(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if err := checkID(id); err != nil {
		return badLocal("%v", err)
	}
	var req ShareRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	if len(req.Set) == 0 && len(req.Remove) == 0 {
		return badLocal("nothing to change: give set or remove")
	}
	img, queued, err := p.Share(r.Context(), id, req.Set, req.Remove)
	if err != nil {
		return err
	}
	if queued != nil {
		// The cloud is away: the change waits here, on disk, and goes
		// when the cloud is back.
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		return writeLocalJSON(w, queued)
	}
	return writeLocalJSON(w, img)
}

func (p *Peer) handleFetch(w http.ResponseWriter, r *http.Request) error {
	var req FetchRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	if err := checkID(req.Image); err != nil {
		return badLocal("%v", err)
	}
	ctx, cancel := context.WithTimeout(r.Context(), fetchTimeout)
	defer cancel()
	lease := LeaseAll
	if req.Lease != nil {
		if lease = *req.Lease; lease < LeaseAll {
			return badLocal("lease %d: want a number of views, 0 for none, or -1 for all", lease)
		}
	}
	res, err := p.Fetch(ctx, req.Image, req.From, lease)
	if err != nil {
		return err
	}
	return writeLocalJSON(w, res)
}

// handleView opens a held image through the cloud, which counts the view.
// The owner's own image opens from the store when the cloud is away.
func (p *Peer) handleView(w http.ResponseWriter, r *http.Request) error {
	var req ViewRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	if err := checkID(req.Image); err != nil {
		return badLocal("%v", err)
	}
	veiled, err := p.store.Veiled(req.Image)
	if err != nil {
		return err
	}
	// Views leased to this device are spent first, online or not: the
	// registry moved them here.
	secret, left, hadLease, lerr := p.leases.spend(req.Image, time.Now())
	if lerr == nil {
		w.Header().Set("Veil-Image-Id", req.Image)
		w.Header().Set("Veil-Views-Left", strconv.Itoa(left))
		w.Header().Set("Veil-Offline", "true")
		w.Header().Set("Content-Type", contentType(secret))
		_, err = w.Write(secret)
		return err
	}
	if !errors.Is(lerr, ErrNoLease) {
		return lerr
	}
	res, err := p.ops.View(r.Context(), veiled)
	var ce *client.Error
	if err != nil && !errors.As(err, &ce) {
		p.cloudFailed(err)
		if hadLease {
			return &localError{http.StatusForbidden, "no_views_left",
				fmt.Errorf("the offline views of %s leased to this device are spent, revoked or expired, and the cloud does not answer", req.Image)}
		}
		if e, ok := p.store.Get(req.Image); ok && e.Own {
			orig, oerr := p.store.Original(req.Image)
			if oerr == nil {
				w.Header().Set("Veil-Image-Id", req.Image)
				w.Header().Set("Veil-By-Owner", "true")
				w.Header().Set("Veil-Offline", "true")
				w.Header().Set("Content-Type", contentType(orig))
				_, err = w.Write(orig)
				return err
			}
		}
		return &localError{http.StatusServiceUnavailable, "cloud_unreachable",
			fmt.Errorf("the cloud does not answer, and a view of %s needs it (%v)", req.Image, err)}
	}
	if err != nil {
		return err
	}
	w.Header().Set("Veil-Image-Id", res.ImageID)
	w.Header().Set("Veil-Views-Left", strconv.Itoa(res.ViewsLeft))
	w.Header().Set("Veil-By-Owner", strconv.FormatBool(res.ByOwner))
	w.Header().Set("Content-Type", contentType(res.Secret))
	_, err = w.Write(res.Secret)
	return err
}

func contentType(b []byte) string { return http.DetectContentType(b) }

// GiveBackRequest is the body of POST /local/v1/leases/return.
type GiveBackRequest struct {
	Image string `json:"image,omitempty"`
}

func (p *Peer) handleGiveBack(w http.ResponseWriter, r *http.Request) error {
	var req GiveBackRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	if req.Image != "" {
		if err := checkID(req.Image); err != nil {
			return badLocal("%v", err)
		}
	}
	ctx, cancel := p.cloudCtx(r)
	defer cancel()
	n, err := p.GiveBack(ctx, req.Image)
	if err != nil {
		return err
	}
	return writeLocalJSON(w, map[string]int{"returned": n})
}

func (p *Peer) handleRequests(w http.ResponseWriter, r *http.Request) error {
	return writeLocalJSON(w, nonNil(p.Requests()))
}

// handleApprove adds the requester as a viewer through the cloud and
// drops the request.
func (p *Peer) handleApprove(w http.ResponseWriter, r *http.Request) error {
	var req ApproveRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	img, err := p.Approve(r.Context(), req.User, req.Image, req.Views)
	if err != nil {
		return err
	}
	return writeLocalJSON(w, img)
}

// Approve grants a requester views of one of the user's images through
// the cloud, and drops the request.
func (p *Peer) Approve(ctx context.Context, user, image string, views int) (api.ImageReply, error) {
	if views <= 0 {
		return api.ImageReply{}, badLocal("views %d: give the number of views to grant (at least 1)", views)
	}
	if !hasRequest(p.Requests(), user, image) {
		return api.ImageReply{}, &localError{http.StatusNotFound, "no_request", fmt.Errorf("no request from %q for %q", user, image)}
	}
	img, err := p.ops.Share(ctx, image, map[string]int{user: views}, nil)
	if err != nil {
		return img, err
	}
	p.dropRequest(user, image)
	p.Kick()
	return img, nil
}

func (p *Peer) handleDeny(w http.ResponseWriter, r *http.Request) error {
	var req ApproveRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	if !p.dropRequest(req.User, req.Image) {
		return &localError{http.StatusNotFound, "no_request", fmt.Errorf("no request from %q for %q", req.User, req.Image)}
	}
	return writeLocalJSON(w, map[string]string{"denied": req.User, "image": req.Image})
}

func hasRequest(qs []Request, user, image string) bool {
	for _, q := range qs {
		if q.User == user && q.Image == image {
			return true
		}
	}
	return false
}
