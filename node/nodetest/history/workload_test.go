package history

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"
	"testing"
)

func resp(status int, rev, body string) Response {
	h := http.Header{}
	if rev != "" {
		h.Set("X-Authz-Revision", rev)
	}
	return Response{Status: status, Header: h, Body: []byte(body)}
}

var (
	errDial  = &url.Error{Op: "Put", URL: "https://n1", Err: &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}}
	errReset = &url.Error{Op: "Put", URL: "https://n1", Err: &net.OpError{Op: "read", Net: "tcp", Err: errors.New("connection reset by peer")}}
)

func TestClassifyWrite(t *testing.T) {
	tests := []struct {
		name       string
		resp       Response
		err        error
		want       Outcome
		rev        uint64
		created    bool
		unexpected bool
	}{
		{"created", resp(201, "12", `{"status":"CREATED","message":"'x' created."}`), nil, OK, 12, true, false},
		{"updated", resp(200, "13", `{"status":"OK","message":"'x' updated."}`), nil, OK, 13, false, false},
		{"acknowledged without a revision", resp(201, "", `{}`), nil, OK, 0, true, true},
		{"no leader: surely not applied", resp(503, "", `{"status":"UNAVAILABLE","message":"No leader is available to accept writes, try again later"}`), nil, Failed, 0, false, false},
		{"leader changed: unknown", resp(503, "", `{"status":"UNAVAILABLE","message":"The leader changed or became unreachable before the write was confirmed; it may or may not have been applied"}`), nil, Unknown, 0, false, false},
		{"timeout answer: unknown", resp(504, "", `{"status":"GATEWAY_TIMEOUT","message":"The request timed out"}`), nil, Unknown, 0, false, false},
		{"not initialized: refused before proposing", resp(500, "", `{"status":"INTERNAL_SERVER_ERROR","message":"Security index not initialized"}`), nil, Failed, 0, false, false},
		{"internal error: unknown", resp(500, "", `{"status":"INTERNAL_SERVER_ERROR","message":"Internal error (request id 1)"}`), nil, Unknown, 0, false, false},
		{"refusal of a valid request", resp(400, "", `{"status":"BAD_REQUEST","message":"x"}`), nil, Failed, 0, false, true},
		{"connection refused: not sent", Response{}, errDial, Failed, 0, false, false},
		{"connection cut: unknown", Response{}, errReset, Unknown, 0, false, false},
		{"client timeout: unknown", Response{}, context.DeadlineExceeded, Unknown, 0, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			op := Op{Kind: WriteUnique, Key: "x"}
			classifyWrite(&op, tc.resp, tc.err, false)
			if op.Outcome != tc.want || op.Rev != tc.rev || op.Created != tc.created || op.Unexpected != tc.unexpected {
				t.Fatalf("got outcome %s rev %d created %v unexpected %v, want %s %d %v %v",
					op.Outcome, op.Rev, op.Created, op.Unexpected, tc.want, tc.rev, tc.created, tc.unexpected)
			}
		})
	}
}

func TestClassifyRead(t *testing.T) {
	tests := []struct {
		name       string
		resp       Response
		err        error
		want       Outcome
		found      bool
		value      string
		unexpected bool
	}{
		{"found", resp(200, "20", `{"reg-1":{"reserved":false,"hidden":false,"description":"c1-2","static":false}}`), nil, OK, true, "c1-2", false},
		{"not found", resp(404, "20", `{"status":"NOT_FOUND","message":"Tenant 'reg-1' not found."}`), nil, OK, false, "", false},
		{"200 without the resource", resp(200, "20", `{}`), nil, Failed, false, "", true},
		{"served without a revision", resp(404, "", `{}`), nil, OK, false, "", true},
		{"min_revision not reached", resp(503, "", `{"status":"UNAVAILABLE","message":"The requested min_revision was not reached in time"}`), nil, Failed, false, "", false},
		{"connection cut", Response{}, errReset, Failed, false, "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			op := Op{Kind: ReadRegister, Key: "reg-1"}
			classifyRead(&op, tc.resp, tc.err, false)
			if op.Outcome != tc.want || op.Found != tc.found || op.Value != tc.value || op.Unexpected != tc.unexpected {
				t.Fatalf("got outcome %s found %v value %q unexpected %v, want %s %v %q %v",
					op.Outcome, op.Found, op.Value, op.Unexpected, tc.want, tc.found, tc.value, tc.unexpected)
			}
		})
	}
}
