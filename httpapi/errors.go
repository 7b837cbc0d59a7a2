package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/doubleboiler/boiler/store"
)

// apiError is an error with the HTTP status it is answered with.
type apiError struct {
	Status  int    `json:"status"`
	Message string `json:"message"`
}

func (e *apiError) Error() string { return e.Message }

// errorf makes an apiError.
func errorf(status int, format string, args ...any) *apiError {
	return &apiError{Status: status, Message: fmt.Sprintf(format, args...)}
}

// asAPIError gives err its status: an apiError keeps its own, a missing
// job is 404, a running one 409, a too large body 413, a feature the
// store does not implement yet 501, anything else (the store failed) 500.
func asAPIError(err error) *apiError {
	var ae *apiError
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.As(err, &tooBig):
		return errorf(http.StatusRequestEntityTooLarge, "request body is larger than %d bytes", tooBig.Limit)
	case errors.Is(err, store.ErrNotFound):
		return errorf(http.StatusNotFound, "%s", err)
	case errors.Is(err, store.ErrJobRunning):
		return errorf(http.StatusConflict, "%s", err)
	case errors.Is(err, errors.ErrUnsupported):
		return errorf(http.StatusNotImplemented, "%s: this store does not support it yet", err)
	}
	return errorf(http.StatusInternalServerError, "%s", err)
}

// writeError answers err as {"error":{"status":..,"message":..}}.
func writeError(w http.ResponseWriter, err error) {
	ae := asAPIError(err)
	writeJSON(w, ae.Status, map[string]*apiError{"error": ae})
}

// writeJSON answers v as JSON with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b, _ = json.Marshal(map[string]*apiError{"error": errorf(status, "encoding the response: %s", err)})
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}
