package peer

import (
	"bytes"
	"context"
	"crypto/rand"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"image"
	"image/color"
	"image/png"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"veil/cluster/api"
	"veil/cluster/client"
	"veil/internal/webstyle"
	"veil/stego"
)

// The user's app: web pages on the control address, for a browser on the
// same machine. Sign-in gives a session cookie (SameSite=Strict, HttpOnly);
// every form posts back to the page's own origin, and a cross-origin post is
// refused (http.CrossOriginProtection). The pages call what the control API
// calls, so they show nothing the API would refuse; they ship in the binary
// and load nothing from elsewhere.

//go:embed web
var webFiles embed.FS

var pages = template.Must(template.ParseFS(webFiles, "web/app.html"))

// appCSP: the page's own style, images from itself or inline data (a
// viewed original), forms to itself; no script at all.
const appCSP = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

const sessionCookie = "veil_session"

// sessions are the signed-in browsers, in memory: a restart signs out.
type sessions struct {
	mu  sync.Mutex
	ids map[string]time.Time // token → expiry
}

const sessionTTL = 12 * time.Hour

func (s *sessions) open() string {
	var b [24]byte
	rand.Read(b[:])
	tok := hex.EncodeToString(b[:])
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ids == nil {
		s.ids = map[string]time.Time{}
	}
	now := time.Now()
	for k, exp := range s.ids {
		if now.After(exp) {
			delete(s.ids, k)
		}
	}
	s.ids[tok] = now.Add(sessionTTL)
	return tok
}

func (s *sessions) valid(tok string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	exp, ok := s.ids[tok]
	return ok && time.Now().Before(exp)
}

func (s *sessions) close(tok string) {
	s.mu.Lock()
	delete(s.ids, tok)
	s.mu.Unlock()
}

// page is what the templates get.
type page struct {
	Title, User, Flash string
	Bad                bool
	Status             Status
	Mine               []mineRow
	Shared             []sharedRow
	Online             []api.OnlineReply
	StaleOnline        bool
	Requests           []Request
	// the image page; Src is a path of this app, so it is marked safe for
	// the template
	Src          template.URL
	Alt, Caption string
}

type viewerRow struct {
	Name                    string
	Online, Leased, Offline int
	Until                   time.Time
}

type mineRow struct {
	ID, Short string
	Viewers   []viewerRow
}

type sharedRow struct {
	ID, Short, Owner string
	Online, Leased   int
	Held             bool
	Holders          string
}

func short(id string) string { return id[:min(8, len(id))] + "…" }

func (p *Peer) appHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /app/base.css", webstyle.Handler())
	mux.HandleFunc("GET /app/style.css", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/css; charset=utf-8")
		b, _ := webFiles.ReadFile("web/style.css")
		w.Write(b)
	})
	mux.HandleFunc("GET /app/{$}", p.signedIn(p.appHome))
	mux.HandleFunc("GET /app/signin", func(w http.ResponseWriter, r *http.Request) { p.render(w, "signin", page{Title: "Sign in"}) })
	mux.HandleFunc("POST /app/signin", p.appSignIn)
	mux.HandleFunc("POST /app/signout", p.signedIn(p.appSignOut))
	mux.HandleFunc("POST /app/put", p.signedIn(p.appPut))
	mux.HandleFunc("POST /app/share", p.signedIn(p.appShare))
	mux.HandleFunc("POST /app/fetch", p.signedIn(p.appFetch))
	mux.HandleFunc("POST /app/view", p.signedIn(p.appView))
	mux.HandleFunc("POST /app/approve", p.signedIn(p.appApprove))
	mux.HandleFunc("POST /app/deny", p.signedIn(p.appDeny))
	mux.HandleFunc("GET /app/images/{id}", p.signedIn(p.appImage))
	mux.HandleFunc("GET /app/images/{id}/veiled.png", p.signedIn(p.appVeiled))
	mux.HandleFunc("GET /app/shown/{token}", p.signedIn(p.appShown))
	mux.Handle("GET /app", http.RedirectHandler("/app/", http.StatusSeeOther))
	var cop http.CrossOriginProtection
	return cop.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", appCSP)
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Referrer-Policy", "no-referrer")
		r.Body = http.MaxBytesReader(w, r.Body, maxLocalBody)
		mux.ServeHTTP(w, r)
	}))
}

func (p *Peer) render(w http.ResponseWriter, name string, pg page) {
	var b bytes.Buffer
	if err := pages.ExecuteTemplate(&b, name, pg); err != nil {
		http.Error(w, "page: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Write(b.Bytes())
}

func (p *Peer) signedIn(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, err := r.Cookie(sessionCookie)
		if err != nil || !p.sessions.valid(c.Value) {
			http.Redirect(w, r, "/app/signin", http.StatusSeeOther)
			return
		}
		h(w, r)
	}
}

func (p *Peer) appSignIn(w http.ResponseWriter, r *http.Request) {
	wait, ok := p.signIn(r, r.FormValue("user"), r.FormValue("password"))
	if wait > 0 {
		secs := retryAfterSeconds(wait)
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusTooManyRequests)
		p.render(w, "signin", page{Title: "Sign in", Flash: fmt.Sprintf("Too many wrong passwords: try again in %d s.", secs), Bad: true})
		return
	}
	if !ok {
		w.WriteHeader(http.StatusUnauthorized)
		p.render(w, "signin", page{Title: "Sign in", Flash: "Wrong user or password: this peer is " + "its user's own.", Bad: true})
		return
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: p.sessions.open(), Path: "/app/", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, MaxAge: int(sessionTTL / time.Second)})
	http.Redirect(w, r, "/app/", http.StatusSeeOther)
}

func (p *Peer) appSignOut(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(sessionCookie); err == nil {
		p.sessions.close(c.Value)
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/app/", MaxAge: -1})
	http.Redirect(w, r, "/app/signin", http.StatusSeeOther)
}

// back sends the browser home with a message.
func back(w http.ResponseWriter, r *http.Request, msg string, bad bool) {
	q := url.Values{"msg": {msg}}
	if bad {
		q.Set("bad", "1")
	}
	http.Redirect(w, r, "/app/?"+q.Encode(), http.StatusSeeOther)
}

// errText is an error as a user reads it.
func errText(err error) string {
	var pe *Error
	var ce *client.Error
	switch {
	case errors.As(err, &pe):
		return pe.Message
	case errors.As(err, &ce):
		return ce.Message
	}
	return err.Error()
}

func (p *Peer) appHome(w http.ResponseWriter, r *http.Request) {
	pg := page{Title: "Home", User: p.cfg.User, Status: p.status(), Flash: r.URL.Query().Get("msg"), Bad: r.URL.Query().Get("bad") != ""}
	ctx, cancel := context.WithTimeout(r.Context(), p.cfg.CloudTimeout)
	defer cancel()
	dir := p.snapshot().Directory
	if d, err := p.cloud.Directory(ctx); err == nil {
		dir = d
		p.heardDirectory(d, nil)
	} else {
		p.cloudFailed(err)
	}
	pg.Online, pg.StaleOnline = p.snapshot().Online, true
	if o, err := p.cloud.Online(ctx); err == nil {
		pg.Online, pg.StaleOnline = o, false
	}
	leased := map[string]int{}
	for _, l := range pg.Status.Leases {
		if !l.Revoked {
			leased[l.Image] += l.Left
		}
	}
	for _, e := range dir.Images {
		if e.Owner == p.cfg.User {
			row := mineRow{ID: e.ID, Short: short(e.ID)}
			for name, n := range e.Viewers {
				v := viewerRow{Name: name, Online: n, Offline: e.Offline[name]}
				for _, l := range e.Leases {
					if l.Viewer == name && !l.Revoked {
						v.Leased += l.Views
						if l.Expires.After(v.Until) {
							v.Until = l.Expires
						}
					}
				}
				row.Viewers = append(row.Viewers, v)
			}
			sort.Slice(row.Viewers, func(i, j int) bool { return row.Viewers[i].Name < row.Viewers[j].Name })
			pg.Mine = append(pg.Mine, row)
			continue
		}
		_, held := p.store.Get(e.ID)
		var hs []string
		for _, h := range e.Holders {
			if h.Device != p.Device() {
				hs = append(hs, h.User)
			}
		}
		pg.Shared = append(pg.Shared, sharedRow{ID: e.ID, Short: short(e.ID), Owner: e.Owner, Online: e.ViewsLeft,
			Leased: leased[e.ID], Held: held, Holders: strings.Join(hs, ", ")})
	}
	pg.Requests = p.Requests()
	p.render(w, "home", pg)
}

func (p *Peer) appPut(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseMultipartForm(maxLocalBody); err != nil {
		back(w, r, "put: "+err.Error(), true)
		return
	}
	read := func(name string) ([]byte, error) {
		f, _, err := r.FormFile(name)
		if errors.Is(err, http.ErrMissingFile) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		defer f.Close()
		return io.ReadAll(f)
	}
	secret, err := read("secret")
	if err == nil && len(secret) == 0 {
		err = errors.New("choose an image to veil")
	}
	cover, cerr := read("cover")
	if err == nil {
		err = cerr
	}
	viewers, verr := api.ParseViewers(r.FormValue("viewers"), 1)
	if err == nil {
		err = verr
	}
	level, lerr := stego.ParseLevel(r.FormValue("stealth"))
	if err == nil {
		err = lerr
	}
	if err != nil {
		back(w, r, "put: "+err.Error(), true)
		return
	}
	res, err := p.ops.Hide(r.Context(), client.HideRequest{Secret: secret, Cover: cover, Viewers: viewers, Stealth: level.String()})
	if err != nil {
		back(w, r, "put: "+errText(err), true)
		return
	}
	if _, err := p.store.PutOwn(res.ImageID, p.cfg.User, res.PNG, secret); err != nil {
		back(w, r, "put: the cloud veiled it, but this peer could not keep it: "+err.Error(), true)
		return
	}
	p.offerNow(r.Context())
	http.Redirect(w, r, "/app/images/"+res.ImageID, http.StatusSeeOther)
}

func (p *Peer) appShare(w http.ResponseWriter, r *http.Request) {
	id := r.FormValue("image")
	set, err := api.ParseViewers(r.FormValue("viewers"), 1)
	if err == nil {
		err = checkID(id)
	}
	if err != nil {
		back(w, r, "share: "+err.Error(), true)
		return
	}
	var remove []string
	for _, n := range strings.Split(r.FormValue("remove"), ",") {
		if n = strings.TrimSpace(n); n != "" {
			remove = append(remove, n)
		}
	}
	if len(set) == 0 && len(remove) == 0 {
		back(w, r, "share: nothing to change", true)
		return
	}
	_, queued, err := p.Share(r.Context(), id, set, remove)
	switch {
	case err != nil:
		back(w, r, "share: "+errText(err), true)
	case queued != nil:
		back(w, r, fmt.Sprintf("The cloud is away: the change is queued (%d waiting) and goes when it is back.", queued.Position), false)
	default:
		back(w, r, "Viewers of "+short(id)+" changed.", false)
	}
}

func (p *Peer) appFetch(w http.ResponseWriter, r *http.Request) {
	id := r.FormValue("image")
	if err := checkID(id); err != nil {
		back(w, r, "fetch: "+err.Error(), true)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), fetchTimeout)
	defer cancel()
	res, err := p.Fetch(ctx, id, "", LeaseAll)
	if err != nil {
		back(w, r, "fetch: "+errText(err), true)
		return
	}
	msg := fmt.Sprintf("Fetched %s from %s (%d bytes).", short(id), res.Source, res.Size)
	if res.Lease != nil {
		msg += fmt.Sprintf(" %d views leased to this device for offline use.", res.Lease.Views)
	}
	back(w, r, msg, false)
}

// appView shows the original of a held image, spending a view, as the
// control API's view does; a refusal shows the reason, and no image.
func (p *Peer) appView(w http.ResponseWriter, r *http.Request) {
	id := r.FormValue("image")
	rec := &recorder{header: http.Header{}}
	req, _ := http.NewRequestWithContext(r.Context(), http.MethodPost, "/local/v1/view", strings.NewReader(`{"image":"`+id+`"}`))
	if err := p.handleView(rec, req); err != nil {
		writeLocalError(rec, err)
	}
	pg := page{Title: "View", User: p.cfg.User, Status: p.status()}
	if rec.status >= 300 {
		e := decodeError(rec.status, rec.body.Bytes())
		pg.Title, pg.Src = "Not shown", "/app/images/denied.png"
		pg.Alt, pg.Caption = "The default image: "+e.Message, fmt.Sprintf("%s (%s)", e.Message, e.Code)
		pg.Flash, pg.Bad = e.Message, true
		p.render(w, "image", pg)
		return
	}
	left := rec.header.Get("Veil-Views-Left")
	session := ""
	if c, err := r.Cookie(sessionCookie); err == nil {
		session = c.Value
	}
	pg.Src = template.URL("/app/shown/" + p.shown.put(session, bytes.Clone(rec.body.Bytes()), imageType(rec.body.Bytes()), time.Now()))
	pg.Alt = "The original of image " + id
	switch {
	case rec.header.Get("Veil-By-Owner") == "true":
		pg.Caption = "Yours: no view spent."
	case rec.header.Get("Veil-Offline") == "true":
		pg.Caption = "A leased view, spent on this device; " + left + " left here."
	default:
		pg.Caption = "Through the cloud; " + left + " views left."
	}
	p.render(w, "image", pg)
}

// imageType is the type of an original, as the app serves it: one of the
// image types the cloud takes, never anything a browser would run.
func imageType(b []byte) string {
	switch t := http.DetectContentType(b); t {
	case "image/png", "image/jpeg", "image/gif":
		return t
	}
	return "application/octet-stream"
}

// recorder keeps what a handler writes.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
}
func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.body.Write(b)
}

func (p *Peer) appImage(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if id == "denied.png" {
		w.Header().Set("Content-Type", "image/png")
		w.Write(DeniedImage())
		return
	}
	e, ok := p.store.Get(id)
	if !ok {
		back(w, r, "no image "+id+" here", true)
		return
	}
	p.render(w, "image", page{Title: "Image " + short(id), User: p.cfg.User, Status: p.status(),
		Src: template.URL("/app/images/" + id + "/veiled.png"), Alt: "The veiled picture of image " + id,
		Caption: fmt.Sprintf("Veiled: %d bytes, SHA-256 %s…. Anyone may pass it around; only its viewers open it.", e.Size, e.Digest[:16])})
}

func (p *Peer) appVeiled(w http.ResponseWriter, r *http.Request) {
	b, err := p.store.Veiled(r.PathValue("id"))
	if err != nil {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("Content-Disposition", `inline; filename="`+r.PathValue("id")+`.png"`)
	w.Write(b)
}

func (p *Peer) appApprove(w http.ResponseWriter, r *http.Request) {
	views, _ := strconv.Atoi(r.FormValue("views"))
	user, id := r.FormValue("user"), r.FormValue("image")
	if _, err := p.Approve(r.Context(), user, id, views); err != nil {
		back(w, r, "approve: "+errText(err), true)
		return
	}
	back(w, r, fmt.Sprintf("%s may see %s, %d views.", user, short(id), views), false)
}

func (p *Peer) appDeny(w http.ResponseWriter, r *http.Request) {
	p.dropRequest(r.FormValue("user"), r.FormValue("image"))
	back(w, r, "Request denied.", false)
}

// DeniedImage is what a viewer gets instead of an original it may not
// see: a plain grey 64x64 PNG with a dark diagonal cross.
func DeniedImage() []byte {
	img := image.NewGray(image.Rect(0, 0, 64, 64))
	for y := 0; y < 64; y++ {
		for x := 0; x < 64; x++ {
			c := uint8(200)
			if x == y || x == 63-y {
				c = 60
			}
			img.SetGray(x, y, color.Gray{Y: c})
		}
	}
	var b bytes.Buffer
	_ = png.Encode(&b, img) // cannot fail on an in-memory image
	return b.Bytes()
}
