// Package webstyle is the stylesheet the operator's dashboard (package
// cluster) and the user's app (package peer) share: type, colours with
// enough contrast, tables, forms and a visible keyboard focus. Each page
// adds its own rules in a second stylesheet.
package webstyle

import (
	_ "embed"
	"net/http"
)

//go:embed base.css
var css []byte

// Handler serves the shared stylesheet.
func Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/css; charset=utf-8")
		w.Write(css)
	})
}
