// Package web is Keel's chat page: plain HTML, JavaScript and CSS embedded
// in the binary, served at / and talking to /api.
//
// There is no build step and no framework: the page is three files in
// static/. Assets are addressed by content hash (/assets/app.js?v=…), so
// they are cached for a year and a new binary's page fetches the new ones;
// the page itself is revalidated on every load. A strict
// Content-Security-Policy allows only the page's own scripts and styles
// and connections to its own origin.
package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed static
var static embed.FS

// csp allows nothing but the page's own files and /api (connect-src): no
// inline script or style, no frames, no plugins, no form posts elsewhere.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

type asset struct {
	body    []byte
	ctype   string
	version string // first 16 hex digits of the SHA-256 of body
}

// Handler serves the page and its assets.
func Handler() http.Handler {
	assets := map[string]*asset{}
	for _, name := range []string{"app.js", "markdown.js", "style.css", "favicon.svg"} {
		b, err := fs.ReadFile(static, "static/"+name)
		if err != nil {
			panic("web: missing embedded asset " + name) // a build that lost its files
		}
		sum := sha256.Sum256(b)
		assets[name] = &asset{body: b, ctype: mime.TypeByExtension(path.Ext(name)), version: hex.EncodeToString(sum[:8])}
	}
	page, err := fs.ReadFile(static, "static/index.html")
	if err != nil {
		panic("web: missing embedded index.html")
	}
	// The page names each asset by its hash: {{app.js}} becomes
	// /assets/app.js?v=0123456789abcdef.
	for name, a := range assets {
		page = bytes.ReplaceAll(page, []byte("{{"+name+"}}"), []byte("/assets/"+name+"?v="+a.version))
	}
	pageSum := sha256.Sum256(page)
	pageETag := `"` + hex.EncodeToString(pageSum[:8]) + `"`
	modTime := time.Time{} // unknown: ETags do the revalidation

	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		switch p := r.URL.Path; {
		case p == "/" || p == "/index.html":
			h.Set("Content-Security-Policy", csp)
			h.Set("X-Frame-Options", "DENY")
			h.Set("Content-Type", "text/html; charset=utf-8")
			h.Set("Cache-Control", "no-cache")
			h.Set("ETag", pageETag)
			http.ServeContent(w, r, "index.html", modTime, bytes.NewReader(page))
		case strings.HasPrefix(p, "/assets/"):
			a := assets[strings.TrimPrefix(p, "/assets/")]
			if a == nil {
				http.NotFound(w, r)
				return
			}
			h.Set("Content-Type", a.ctype)
			h.Set("ETag", `"`+a.version+`"`)
			if r.URL.Query().Get("v") == a.version {
				// The URL changes whenever the content does.
				h.Set("Cache-Control", "public, max-age=31536000, immutable")
			} else {
				h.Set("Cache-Control", "no-cache")
			}
			http.ServeContent(w, r, "", modTime, bytes.NewReader(a.body))
		case p == "/favicon.ico":
			http.Redirect(w, r, "/assets/favicon.svg?v="+assets["favicon.svg"].version, http.StatusMovedPermanently)
		default:
			http.NotFound(w, r)
		}
	})
}
