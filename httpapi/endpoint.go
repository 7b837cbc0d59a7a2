package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
)

// Body size limits.
const (
	maxBody      = 1 << 20  // one job, or a bodiless action
	maxBatchBody = 16 << 20 // POST /api/jobs/batch
)

// route is one mounted route: a Go 1.22 pattern and its handler.
type route struct {
	pattern string
	handler http.Handler
}

// fromRequest is implemented by request types that read path values or
// the query string.
type fromRequest interface {
	fromRequest(r *http.Request) error
}

// withBody is implemented by request types decoded from a JSON body; it
// returns the body's size limit.
type withBody interface {
	bodyLimit() int64
}

// withStatus is implemented by response types whose success status is not
// 200.
type withStatus interface {
	statusCode() int
}

// endpoint mounts a typed endpoint at pattern: the request is decoded into
// a new Req (path and query through fromRequest, the body when Req has
// bodyLimit), execute runs, and its response or error is written as JSON.
func endpoint[Req, Resp any](a *api, pattern string, execute func(context.Context, *Req) (*Resp, error)) route {
	return route{pattern: pattern, handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req := new(Req)
		if err := decodeRequest(w, r, req); err != nil {
			a.fail(w, r, err)
			return
		}
		resp, err := execute(r.Context(), req)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		status := http.StatusOK
		if s, ok := any(resp).(withStatus); ok {
			status = s.statusCode()
		}
		writeJSON(w, status, resp)
	})}
}

// fail answers err, and logs it when it is the server's fault.
func (a *api) fail(w http.ResponseWriter, r *http.Request, err error) {
	ae := asAPIError(err)
	if ae.Status >= 500 {
		a.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	writeError(w, ae)
}

// decodeRequest fills req from r.
func decodeRequest(w http.ResponseWriter, r *http.Request, req any) error {
	if fr, ok := req.(fromRequest); ok {
		if err := fr.fromRequest(r); err != nil {
			return err
		}
	}
	wb, ok := req.(withBody)
	if !ok {
		return nil
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct != "application/json" {
		return errorf(http.StatusUnsupportedMediaType, "Content-Type is %q: send JSON with Content-Type: application/json", r.Header.Get("Content-Type"))
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, wb.bodyLimit()))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return err
		}
		return errorf(http.StatusBadRequest, "reading the request body: %s", err)
	}
	return decodeJSON(body, req)
}

// decodeJSON decodes body, one JSON object without unknown fields, into v,
// with errors that name the field or the offset.
func decodeJSON(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return errorf(http.StatusBadRequest, "request body is empty: want a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		if dec.More() {
			off := dec.InputOffset()
			return errorf(http.StatusBadRequest, "request body: unexpected data after the JSON object at offset %d (%s)", off, position(body, off))
		}
		return nil
	}
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		// Offset counts the bad byte: it is at Offset-1.
		off := max(syn.Offset-1, 0)
		return errorf(http.StatusBadRequest, "request body: invalid JSON at offset %d (%s): %s", off, position(body, off), syn)
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			field = "the body"
		}
		return errorf(http.StatusBadRequest, "request body: %s must be %s, got JSON %s at offset %d (%s)",
			field, jsonType(typ.Type.String()), typ.Value, typ.Offset, position(body, typ.Offset))
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errorf(http.StatusBadRequest, "request body: JSON ends early at offset %d (%s)", len(body), position(body, int64(len(body))))
	case strings.HasPrefix(err.Error(), "json: unknown field"):
		return errorf(http.StatusBadRequest, "request body: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	return errorf(http.StatusBadRequest, "request body: %s", err)
}

// position is "line L, column C" (from 1) of the byte at offset off
// (from 0) in body.
func position(body []byte, off int64) string {
	off = min(max(off, 0), int64(len(body)))
	before := body[:off]
	line := bytes.Count(before, []byte("\n")) + 1
	col := int(off) - (bytes.LastIndexByte(before, '\n') + 1) + 1
	return fmt.Sprintf("line %d, column %d", line, col)
}

// jsonType names a Go type as its JSON kind.
func jsonType(goType string) string {
	switch {
	case strings.HasPrefix(goType, "int"), strings.HasPrefix(goType, "uint"), strings.HasPrefix(goType, "float"):
		return "a number"
	case goType == "string":
		return "a string"
	case goType == "bool":
		return "true or false"
	case strings.HasPrefix(goType, "[]"):
		return "an array"
	}
	return "an object"
}
