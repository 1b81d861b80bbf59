package history

import (
	"context"
	"strings"
	"testing"
)

// ownershipHistory is a small history of registrations: two acknowledged,
// one of unknown outcome that was stored, one of unknown outcome that was
// not, one that surely failed; every node serves the stored ones.
func ownershipHistory() History {
	ops := []Op{
		{Client: 0, Seq: 1, Kind: RegisterOwner, Key: "async_search/own-0-1", Outcome: OK, Status: 201, Created: true, OwnersSeq: 4},
		{Client: 1, Seq: 1, Kind: RegisterOwner, Key: "detector/own-1-1", Outcome: OK, Status: 201, Created: true, OwnersSeq: 5},
		{Client: 1, Seq: 2, Kind: RegisterOwner, Key: "detector/own-1-2", Outcome: Unknown, Status: 503},
		{Client: 2, Seq: 1, Kind: RegisterOwner, Key: "async_search/own-2-1", Outcome: Unknown, TimedOut: true},
		{Client: 2, Seq: 2, Kind: RegisterOwner, Key: "async_search/own-2-2", Outcome: Failed, Status: 503},
	}
	final := func(node int) NodeState {
		return NodeState{Node: node, Revision: 13, StateHash: "abc", Tenants: map[string]string{},
			Extra: map[string]map[string]string{"ownership": {"async_search/own-0-1": "", "detector/own-1-1": "", "detector/own-1-2": ""}}}
	}
	return History{Ops: ops, Final: []NodeState{final(0), final(1), final(2)}}
}

func TestOwnershipCheck(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(h *History)
		want    string // finding kind; "" for a clean history
		summary string
	}{
		{"every acknowledged record present", func(*History) {}, "",
			"registered 5, acknowledged 2, lost 0 (unknown 2, 1 of them present; failed 1)"},
		{"acknowledged record lost on one node", func(h *History) {
			delete(h.Final[1].Extra["ownership"], "detector/own-1-1")
		}, FindingLost, "registered 5, acknowledged 2, lost 1 (unknown 2, 1 of them present; failed 1)"},
		{"unknown and failed registrations missing everywhere are not lost", func(h *History) {
			for _, s := range h.Final {
				delete(s.Extra["ownership"], "detector/own-1-2")
			}
		}, "", "registered 5, acknowledged 2, lost 0 (unknown 2, 0 of them present; failed 1)"},
		{"a node whose records could not be read", func(h *History) {
			h.Final[2].Extra, h.Final[2].ExtraErr = nil, map[string]string{"ownership": "list async_search records on node 2: 503"}
		}, FindingUnavailable, "registered 5, acknowledged 2, lost 0 (unknown 2, 1 of them present; failed 1)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := ownershipHistory()
			tc.mutate(&h)
			o := &Ownership{}
			r := Check(h, CheckOptions{Extensions: []Extension{o}})
			if tc.want == "" && !r.OK() {
				t.Fatalf("findings: %v", r.Findings)
			}
			if tc.want != "" && r.Count(tc.want) != 1 {
				t.Fatalf("want one %s finding, got %v", tc.want, r.Findings)
			}
			if got := o.Summary(h); got != tc.summary {
				t.Fatalf("summary %q, want %q", got, tc.summary)
			}
			rep := &Report{History: h, Result: r, extensions: []Extension{o}}
			if !strings.Contains(rep.String(), "ownership      "+tc.summary) {
				t.Fatalf("report lacks the ownership line:\n%s", rep)
			}
		})
	}
}

func TestClassifyRegister(t *testing.T) {
	seq := func(r Response, s string) Response { r.Header.Set("X-Authz-Owners-Seq", s); return r }
	tests := []struct {
		name       string
		resp       Response
		err        error
		want       Outcome
		seq        uint64
		unexpected bool
	}{
		{"created", seq(resp(201, "", `{"status":"CREATED"}`), "7"), nil, OK, 7, false},
		{"already registered to the same owner", seq(resp(200, "", `{"status":"OK"}`), "7"), nil, OK, 7, false},
		{"acknowledged without a sequence", resp(201, "", `{}`), nil, OK, 0, true},
		{"nothing written", resp(503, "", `{"status":"UNAVAILABLE","message":"`+ownerNothingWrittenMessage+`"}`), nil, Failed, 0, false},
		{"not confirmed: unknown", resp(503, "", `{"status":"UNAVAILABLE","message":"`+ownerUnknownMessage+`"}`), nil, Unknown, 0, false},
		{"not initialized", resp(500, "", `{"status":"INTERNAL_SERVER_ERROR","message":"Security index not initialized"}`), nil, Failed, 0, false},
		{"other 5xx: unknown", resp(502, "", `{}`), nil, Unknown, 0, false},
		{"refused", resp(403, "", `{}`), nil, Failed, 0, true},
		{"connection refused", Response{}, errDial, Failed, 0, false},
		{"connection reset", Response{}, errReset, Unknown, 0, false},
		{"client timeout", Response{}, context.DeadlineExceeded, Unknown, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			op := Op{Kind: RegisterOwner}
			classifyRegister(&op, tc.resp, tc.err, false)
			if op.Outcome != tc.want || op.OwnersSeq != tc.seq || op.Unexpected != tc.unexpected || op.Rev != 0 {
				t.Fatalf("got %s seq %d unexpected %v rev %d, want %s %d %v 0", op.Outcome, op.OwnersSeq, op.Unexpected, op.Rev, tc.want, tc.seq, tc.unexpected)
			}
		})
	}
}
