package storeurl

import "strings"

// redacted replaces a secret in a redacted URL.
const redacted = "xxxxx"

// Redact returns raw with its secrets replaced by xxxxx: the password of
// its user info and the value of any password-like parameter (password,
// pass, pwd, sslpassword), in a URL or in a key=value connection string.
// It works on malformed URLs too, erring on the side of hiding too much,
// so it is safe to put its result in an error message or a log.
func Redact(raw string) string {
	out := raw
	if i := strings.Index(out, "://"); i >= 0 {
		head, rest := out[:i+3], out[i+3:]
		// The user info ends at the last @. A password may hold a / or a ?
		// the user forgot to escape, so the whole rest is searched: at
		// worst a host is hidden too.
		if at := strings.LastIndexByte(rest, '@'); at >= 0 {
			if colon := strings.IndexByte(rest[:at], ':'); colon >= 0 {
				rest = rest[:colon+1] + redacted + rest[at:]
			}
		}
		out = head + rest
	}
	return redactParams(out)
}

// redactParams hides the values of password-like key=value parameters,
// separated by &, ;, spaces or the start of a query.
func redactParams(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		key, ok := secretKeyAt(s, i)
		if !ok {
			b.WriteByte(s[i])
			i++
			continue
		}
		b.WriteString(s[i : i+len(key)+1])
		b.WriteString(redacted)
		i += len(key) + 1
		for i < len(s) && !isParamSep(s[i]) {
			i++
		}
	}
	return b.String()
}

// secretKeyAt reports whether a password-like key followed by = starts at
// s[i] (at the start of s or after a separator), and returns the key.
func secretKeyAt(s string, i int) (string, bool) {
	if i > 0 && !isParamSep(s[i-1]) && s[i-1] != '?' {
		return "", false
	}
	for _, key := range []string{"sslpassword", "password", "pass", "pwd"} {
		if hasPrefixFold(s[i:], key+"=") {
			return s[i : i+len(key)], true
		}
	}
	return "", false
}

// isParamSep reports whether c separates parameters.
func isParamSep(c byte) bool {
	return c == '&' || c == ';' || c == ' ' || c == '\t' || c == '\n' || c == '#'
}
