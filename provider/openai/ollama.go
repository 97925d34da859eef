package openai

import (
	"net"
	"strconv"
	"strings"
)

// OllamaBaseURL turns an OLLAMA_HOST value into the base URL of Ollama's
// OpenAI-compatible API. It reads the variable as Ollama does: the scheme
// defaults to http, the host to 127.0.0.1, the port to 11434 (80 or 443
// when the scheme is given without one); quotes and spaces are trimmed.
// An unspecified address (0.0.0.0, [::]), which OLLAMA_HOST often holds so
// that the server listens everywhere, is dialed as loopback.
//
//	""                   -> http://127.0.0.1:11434/v1
//	"0.0.0.0"            -> http://127.0.0.1:11434/v1
//	"gpu-box:8080"       -> http://gpu-box:8080/v1
//	"https://ollama.lan" -> https://ollama.lan:443/v1
func OllamaBaseURL(host string) string {
	host = strings.TrimSpace(strings.Trim(strings.TrimSpace(host), `"'`))
	defaultPort := "11434"
	scheme, hostport, ok := strings.Cut(host, "://")
	switch {
	case !ok:
		scheme, hostport = "http", host
	case scheme == "http":
		defaultPort = "80"
	case scheme == "https":
		defaultPort = "443"
	}
	hostport, path, _ := strings.Cut(hostport, "/")
	// Credentials in the URL (user:password@host) stay as they are.
	var userinfo string
	if i := strings.LastIndex(hostport, "@"); i >= 0 {
		userinfo, hostport = hostport[:i+1], hostport[i+1:]
	}
	h, port, err := net.SplitHostPort(hostport)
	if err != nil {
		h, port = hostport, defaultPort
	}
	h = strings.Trim(h, "[]")
	if n, err := strconv.Atoi(port); err != nil || n <= 0 || n > 65535 {
		port = defaultPort
	}
	if ip := net.ParseIP(h); h == "" || (ip != nil && ip.IsUnspecified()) {
		h = "127.0.0.1"
	}
	path = strings.TrimRight(path, "/")
	if path != "" {
		path = "/" + path
	}
	if !strings.HasSuffix(path, "/v1") {
		path += "/v1"
	}
	return scheme + "://" + userinfo + net.JoinHostPort(h, port) + path
}
