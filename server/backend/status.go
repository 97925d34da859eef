package backend

import (
	"net/http"

	"github.com/keelai/keel/llm"
)

// Status is the HTTP status a front end answers an error of kind k with,
// when its wire format has no reason to differ: the table all three front
// ends share, so that a kind means the same status on every route. A front
// end overrides only what its format does otherwise (Anthropic's 529 for
// overloaded, for instance). Kinds it does not know, KindServer among them,
// are 500.
func Status(k llm.ErrorKind) int {
	switch k {
	case llm.KindAuth:
		return http.StatusUnauthorized
	case llm.KindPermission:
		return http.StatusForbidden
	case llm.KindNotFound:
		return http.StatusNotFound
	case llm.KindInvalidRequest, llm.KindContextLength, llm.KindContentFilter:
		return http.StatusBadRequest
	case llm.KindRateLimited:
		return http.StatusTooManyRequests
	case llm.KindBudgetExceeded:
		// 402, not 429: clients retry a 429, and a spent budget does not
		// come back by waiting a few seconds.
		return http.StatusPaymentRequired
	case llm.KindOverloaded:
		return http.StatusServiceUnavailable
	case llm.KindTimeout:
		return http.StatusGatewayTimeout
	case llm.KindNetwork:
		return http.StatusBadGateway
	case llm.KindCanceled:
		// nginx's "client closed request": nobody reads it, logs do.
		return 499
	}
	return http.StatusInternalServerError
}
