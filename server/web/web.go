// Package web is Keel's chat page: plain HTML, JavaScript and CSS embedded
// in the binary, served at / and talking to /api.
package web

import "net/http"

// Handler serves the page and its assets.
// (Contract stub: the web work replaces the body.)
func Handler() http.Handler { return http.NotFoundHandler() }
