package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/authzd/authzd/authz"
)

// Sentinel errors that handlers and the proposer return; writeError maps them.
var (
	// ErrNoLeader means no Raft leader could be reached within the write deadline.
	ErrNoLeader = errors.New("no leader")
	// ErrRevisionTimeout means the node did not reach the requested min_revision in time.
	ErrRevisionTimeout = errors.New("revision not reached")
	// ErrUnauthenticated means the request carried no valid credentials.
	ErrUnauthenticated = errors.New("unauthenticated")
	// ErrBodyTooLarge means the request body exceeded the size limit.
	ErrBodyTooLarge = errors.New("request body too large")
	// ErrOutcomeUnknown means a write reached a leader but no result came back
	// (leadership lost, connection cut after sending): it may or may not have
	// been committed, so the client must check before retrying.
	ErrOutcomeUnknown = errors.New("write outcome unknown")
	// ErrBusUnavailable means NATS/JetStream could not be reached; nothing was written.
	ErrBusUnavailable = errors.New("nats unavailable")
	// ErrOwnerOutcomeUnknown means an ownership write was sent to NATS
	// JetStream but not acknowledged in time: it may or may not be stored. It
	// wraps ErrOutcomeUnknown.
	ErrOwnerOutcomeUnknown = fmt.Errorf("ownership store: %w", ErrOutcomeUnknown)
	// ErrOwnerSeqTimeout means the ownership index did not reach min_seq in time.
	ErrOwnerSeqTimeout = errors.New("ownership sequence not reached")
	// ErrOwnerNotFound means no ownership record exists for the kind and id.
	ErrOwnerNotFound = errors.New("ownership record not found")
	// ErrOwnerChanged means the record changed between the check and the write.
	ErrOwnerChanged = errors.New("ownership record changed")
)

// statusTable maps sentinel errors to responses; it is walked with errors.Is so
// wrapping never breaks it.
var statusTable = []struct {
	target  error
	status  int
	message string
}{
	{ErrNoLeader, http.StatusServiceUnavailable, "No leader is available to accept writes, try again later"},
	{ErrOwnerOutcomeUnknown, http.StatusServiceUnavailable, "The ownership store (NATS JetStream) did not confirm the write in time; it may or may not have been applied"},
	{ErrOutcomeUnknown, http.StatusServiceUnavailable, "The leader changed or became unreachable before the write was confirmed; it may or may not have been applied"},
	{ErrRevisionTimeout, http.StatusServiceUnavailable, "The requested min_revision was not reached in time"},
	{ErrUnauthenticated, http.StatusUnauthorized, "Unauthorized"},
	{ErrBodyTooLarge, http.StatusRequestEntityTooLarge, "Request body too large"},
	{ErrStreamUnavailable, http.StatusServiceUnavailable, "The change stream (NATS JetStream) is unavailable, try again later"},
	{ErrBusUnavailable, http.StatusServiceUnavailable, "The ownership store (NATS JetStream) is unavailable; nothing was written, try again later"},
	{ErrOwnerSeqTimeout, http.StatusServiceUnavailable, "The requested min_seq was not reached in time"},
	{ErrOwnerNotFound, http.StatusNotFound, "No ownership record for this resource"},
	{ErrOwnerChanged, http.StatusConflict, "The ownership record changed meanwhile; try again"},
	{context.DeadlineExceeded, http.StatusGatewayTimeout, "The request timed out"},
}

// writeError is the one place where an error becomes an HTTP response. Plugin-shaped
// refusals (*authz.Error) are sent as they are; known sentinels get their status;
// anything else is a 500 with a generic message and the request id, the cause
// going to the log.
func writeError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	var ae *authz.Error
	if errors.As(err, &ae) {
		writeRaw(w, ae.Status, ae.Body)
		return
	}
	for _, row := range statusTable {
		if errors.Is(err, row.target) {
			if row.status == http.StatusUnauthorized {
				w.Header().Set("WWW-Authenticate", `Basic realm="Authorization Required"`)
			}
			if row.status >= 500 {
				log.Warn("request failed", "request_id", requestID(r), "method", r.Method, "path", r.URL.Path, "status", row.status, "err", err)
			}
			writeRaw(w, row.status, authz.StatusMessage(row.status, row.message).Body)
			return
		}
	}
	log.Error("request failed", "request_id", requestID(r), "method", r.Method, "path", r.URL.Path, "err", err)
	msg := fmt.Sprintf("Internal error (request id %s)", requestID(r))
	writeRaw(w, http.StatusInternalServerError, authz.StatusMessage(http.StatusInternalServerError, msg).Body)
}

// writeJSON sends v as JSON with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		b = authz.StatusMessage(http.StatusInternalServerError, "encode response").Body
		status = http.StatusInternalServerError
	}
	writeRaw(w, status, b)
}

func writeRaw(w http.ResponseWriter, status int, body []byte) {
	w.Header()["Content-Type"] = jsonContentType
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// status sends the plugin's {"status","message"} body.
func status(w http.ResponseWriter, code int, message string) {
	writeRaw(w, code, authz.StatusMessage(code, message).Body)
}
