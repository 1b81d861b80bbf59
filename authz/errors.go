package authz

import (
	"encoding/json"
	"net/http"
	"strings"
)

// Error is a refusal in the plugin's shape: an HTTP status and the exact JSON body
// the plugin would send. It is returned by validation, carried through the Raft
// log result and across leader forwarding, and written to the client as is.
type Error struct {
	// Status is the HTTP status code.
	Status int `msgpack:"status"`
	// Body is the JSON response body, exactly as sent to the client.
	Body json.RawMessage `msgpack:"body"`
}

func (e *Error) Error() string { return string(e.Body) }

// StatusName is the plugin's status word for an HTTP code (R-API-2), such as
// NOT_FOUND for 404.
func StatusName(code int) string {
	switch code {
	case http.StatusOK:
		return "OK"
	case http.StatusCreated:
		return "CREATED"
	case http.StatusBadRequest:
		return "BAD_REQUEST"
	case http.StatusUnauthorized:
		return "UNAUTHORIZED"
	case http.StatusForbidden:
		return "FORBIDDEN"
	case http.StatusNotFound:
		return "NOT_FOUND"
	case http.StatusMethodNotAllowed:
		return "METHOD_NOT_ALLOWED"
	case http.StatusConflict:
		return "CONFLICT"
	case http.StatusRequestEntityTooLarge:
		return "REQUEST_ENTITY_TOO_LARGE"
	case http.StatusNotImplemented:
		return "NOT_IMPLEMENTED"
	case http.StatusServiceUnavailable:
		return "UNAVAILABLE" // DESIGN.md §6
	case http.StatusGatewayTimeout:
		return "GATEWAY_TIMEOUT"
	}
	if code >= 500 {
		return "INTERNAL_SERVER_ERROR"
	}
	return strings.ToUpper(strings.ReplaceAll(http.StatusText(code), " ", "_"))
}

// StatusMessage builds the plugin's `{"status":"<NAME>","message":"<text>"}` body (R-API-2).
func StatusMessage(code int, message string) *Error {
	b, _ := json.Marshal(struct {
		Status  string `json:"status"`
		Message string `json:"message"`
	}{StatusName(code), message})
	return &Error{Status: code, Body: b}
}

// Reason builds the validation shape `{"status":"error","reason":"<text>"}` with
// HTTP 400 (R-API-14).
func Reason(reason string) *Error {
	b, _ := json.Marshal(struct {
		Status string `json:"status"`
		Reason string `json:"reason"`
	}{"error", reason})
	return &Error{Status: http.StatusBadRequest, Body: b}
}
