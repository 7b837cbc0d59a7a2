package httpapi

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"strings"
)

// CSRFHeader is the request header that carries the CSRF token.
const CSRFHeader = "X-CSRF-Token"

// CSRFToken returns the CSRF token of session under secret: a hex
// HMAC-SHA256. The dashboard renders it in <meta name="csrf-token"> and
// its scripts send it back in the X-CSRF-Token header.
func CSRFToken(secret []byte, session string) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("boiler csrf v1\x00"))
	m.Write([]byte(session))
	return hex.EncodeToString(m.Sum(nil))
}

// CSRFTokenFor returns the CSRF token a page served for r must embed: the
// session is the basic-auth user name ("" without basic auth).
func CSRFTokenFor(secret []byte, r *http.Request) string {
	user, _, _ := r.BasicAuth()
	return CSRFToken(secret, user)
}

// Auth checks the credentials of requests (see the package doc). The
// dashboard wraps its pages with the same Auth as the API.
type Auth struct {
	// Token is the bearer token of programs; "" disables bearer auth.
	Token string
	// Password is the basic-auth password of people (any user name); ""
	// disables basic auth. With neither Token nor Password, every request
	// is let in.
	Password string
	// Secret keys the CSRF tokens. Required when Password is set.
	Secret []byte
}

// equal compares secrets in constant time (their lengths may leak, their
// contents do not).
func equal(got, want string) bool {
	return subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// Wrap returns h behind the checks: 401 without valid credentials (when
// any are configured), 403 on a mutating request that is cross-origin
// or, under basic auth, lacks a valid X-CSRF-Token. /healthz is open.
func (a *Auth) Wrap(h http.Handler) http.Handler {
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, errorf(http.StatusForbidden, "cross-origin %s refused: send it from the dashboard's own origin", r.Method))
	}))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			h.ServeHTTP(w, r)
			return
		}
		bearer, err := a.authenticate(r)
		if err != nil {
			if a.Password != "" {
				w.Header().Set("WWW-Authenticate", `Basic realm="boiler", charset="UTF-8"`)
			}
			writeError(w, err)
			return
		}
		if bearer || !mutating(r.Method) {
			h.ServeHTTP(w, r)
			return
		}
		if a.Password != "" {
			if len(a.Secret) == 0 {
				writeError(w, errorf(http.StatusInternalServerError, "server misconfigured: Auth.Secret is empty, so CSRF tokens cannot be checked"))
				return
			}
			got := r.Header.Get(CSRFHeader)
			if got == "" {
				writeError(w, errorf(http.StatusForbidden, "missing %s header: a %s with basic auth needs the dashboard's CSRF token (programs use the bearer token)", CSRFHeader, r.Method))
				return
			}
			if !equal(got, CSRFTokenFor(a.Secret, r)) {
				writeError(w, errorf(http.StatusForbidden, "%s does not match: reload the dashboard", CSRFHeader))
				return
			}
		}
		cop.Handler(h).ServeHTTP(w, r)
	})
}

// authenticate reports whether r carries the valid bearer token, or an
// error (401) when credentials are required and r has none valid.
func (a *Auth) authenticate(r *http.Request) (bearer bool, err error) {
	if a.Token == "" && a.Password == "" {
		return false, nil
	}
	if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		if a.Token == "" {
			return false, errorf(http.StatusUnauthorized, "bearer tokens are not enabled on this server (no BOILER_API_TOKEN): use basic auth")
		}
		if !equal(strings.TrimSpace(tok), a.Token) {
			return false, errorf(http.StatusUnauthorized, "invalid bearer token")
		}
		return true, nil
	}
	if a.Password != "" {
		_, pass, ok := r.BasicAuth()
		if !ok {
			return false, errorf(http.StatusUnauthorized, "authentication required: basic auth with the dashboard password (BOILER_DASHBOARD_PASSWORD), or a bearer token")
		}
		if !equal(pass, a.Password) {
			return false, errorf(http.StatusUnauthorized, "wrong password")
		}
		return false, nil
	}
	return false, errorf(http.StatusUnauthorized, "authentication required: send Authorization: Bearer <BOILER_API_TOKEN>")
}

// mutating reports whether method changes state.
func mutating(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return false
	}
	return true
}
