package peer

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"sync"
	"time"
)

// The web app shows an original it has just opened by a link of its own
// (/app/shown/TOKEN), not inline: a photograph of some megabytes as a
// data: URL would swell the page by a third and make the browser decode it
// from text. The original stays in memory for the session that opened it,
// for shownTTL, and at most maxShown at once.

const (
	shownTTL = time.Minute
	maxShown = 2
)

type shownImage struct {
	session     string
	body        []byte
	contentType string
	until       time.Time
}

// shownImages keeps the originals the app has just opened.
type shownImages struct {
	mu sync.Mutex
	m  map[string]shownImage // by token
}

// put keeps body for session and returns the token of its link. The
// oldest is dropped to keep maxShown.
func (s *shownImages) put(session string, body []byte, contentType string, now time.Time) string {
	var b [16]byte
	rand.Read(b[:])
	token := hex.EncodeToString(b[:])
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string]shownImage{}
	}
	s.expire(now)
	for len(s.m) >= maxShown {
		oldest := ""
		for t, img := range s.m {
			if oldest == "" || img.until.Before(s.m[oldest].until) {
				oldest = t
			}
		}
		delete(s.m, oldest)
	}
	s.m[token] = shownImage{session: session, body: body, contentType: contentType, until: now.Add(shownTTL)}
	return token
}

// get returns what token shows to session, if it has not expired.
func (s *shownImages) get(session, token string, now time.Time) (shownImage, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expire(now)
	img, ok := s.m[token]
	if !ok || img.session != session {
		return shownImage{}, false
	}
	return img, true
}

func (s *shownImages) expire(now time.Time) {
	for t, img := range s.m {
		if !now.Before(img.until) {
			delete(s.m, t)
		}
	}
}

// appShown serves an original the app has just opened, to the session
// that opened it.
func (p *Peer) appShown(w http.ResponseWriter, r *http.Request) {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	img, ok := p.shown.get(c.Value, r.PathValue("token"), time.Now())
	if !ok {
		http.Error(w, "this picture is no longer shown: view the image again", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", img.contentType)
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Write(img.body)
}
