package history

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// RegisterOwner is a PUT of a new ownership record (the Ownership extension).
const RegisterOwner Kind = "register-owner"

// Messages of ownership refusals: nothing was written (NATS could not be
// reached), and the write was sent but not confirmed (outcome unknown).
const (
	ownerNothingWrittenMessage = "The ownership store (NATS JetStream) is unavailable; nothing was written, try again later"
	ownerUnknownMessage        = "The ownership store (NATS JetStream) did not confirm the write in time; it may or may not have been applied"
)

// ownerKinds are the kinds the extension registers records of.
var ownerKinds = []string{"async_search", "detector"}

// FinalReader is an Extension that reads its own part of every node's final
// state. Run calls ReadFinal once per node after the cluster converged, with
// every recorded operation, and stores the answer in NodeState.Extra (or the
// error in NodeState.ExtraErr) under the extension's Name, for its Check.
type FinalReader interface {
	ReadFinal(ctx context.Context, c Cluster, node int, ops []Op) (map[string]string, error)
}

// Summarizer is an Extension that adds a line to the report.
type Summarizer interface {
	Summary(h History) string
}

// Ownership is an Extension that registers ownership records (async searches
// and detectors, PUT /_plugins/_authz/resources/{kind}/{id}) on random nodes
// during the faults. At the end it lists the records every node serves
// (_visible, after min_seq of the last acknowledged registration), and its
// Check reports every acknowledged registration missing on a node as lost. A
// registration of unknown outcome (timeout, 503 "may or may not have been
// applied", a cut connection) or a definite failure ("nothing was written")
// is never lost; unknown ones found present are counted.
type Ownership struct {
	// Prefix starts every id, so that records of earlier runs in the same
	// cluster are not counted; default "own".
	Prefix string
}

// Name is "ownership".
func (o *Ownership) Name() string { return "ownership" }

func (o *Ownership) prefix() string {
	if o.Prefix == "" {
		return "own"
	}
	return o.Prefix
}

// Step registers one new record on s.Node as the admin user.
func (o *Ownership) Step(ctx context.Context, c Cluster, s StepInfo) Op {
	kind := ownerKinds[s.Rand.IntN(len(ownerKinds))]
	id := fmt.Sprintf("%s-%d-%d", o.prefix(), s.Client, s.Seq)
	op := Op{Kind: RegisterOwner, Key: kind + "/" + id}
	rctx, cancel := context.WithTimeout(ctx, s.OpTimeout)
	defer cancel()
	resp, err := c.Do(rctx, s.Node, http.MethodPut, resourcePath(kind, id), "")
	timedOut := err != nil && errors.Is(rctx.Err(), context.DeadlineExceeded) && ctx.Err() == nil
	classifyRegister(&op, resp, err, timedOut)
	return op
}

func resourcePath(kind, id string) string {
	return "/_plugins/_authz/resources/" + kind + "/" + url.PathEscape(id)
}

// classifyRegister sets the outcome of a registration. Rev stays 0: the
// ownership sequence is not a Raft revision and must not reach the sessions.
func classifyRegister(op *Op, resp Response, err error, timedOut bool) {
	if classifyFailure(op, err, timedOut) {
		return
	}
	op.Status = resp.Status
	switch msg := message(resp.Body); {
	case resp.Status == http.StatusCreated || resp.Status == http.StatusOK:
		op.Outcome, op.Created = OK, resp.Status == http.StatusCreated
		op.OwnersSeq, _ = strconv.ParseUint(resp.Header.Get("X-Authz-Owners-Seq"), 10, 64)
		op.Unexpected = op.OwnersSeq == 0
	case resp.Status == http.StatusServiceUnavailable && msg == ownerNothingWrittenMessage:
		op.Outcome = Failed
	case resp.Status == http.StatusInternalServerError && msg == notInitializedMessage:
		op.Outcome = Failed
	case resp.Status >= 500:
		op.Outcome = Unknown
	default:
		op.Outcome, op.Unexpected = Failed, true
	}
	if op.Outcome != OK || op.Unexpected {
		op.Err = string(bytes.TrimSpace(resp.Body))
	}
}

// ReadFinal lists the records of this run that node serves, as "kind/id"
// keys, after its index reached the sequence of the last acknowledged
// registration. It retries for up to a minute: a restarted node reloads its
// index from the bucket.
func (o *Ownership) ReadFinal(ctx context.Context, c Cluster, node int, ops []Op) (map[string]string, error) {
	var minSeq uint64
	for _, op := range ops {
		if op.Kind == RegisterOwner && op.Outcome == OK {
			minSeq = max(minSeq, op.OwnersSeq)
		}
	}
	deadline := time.Now().Add(time.Minute)
	for {
		got, err := o.list(ctx, c, node, minSeq)
		if err == nil {
			return got, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// list pages through _visible of every kind on node.
func (o *Ownership) list(ctx context.Context, c Cluster, node int, minSeq uint64) (map[string]string, error) {
	out := map[string]string{}
	for _, kind := range ownerKinds {
		after := ""
		for {
			body, _ := json.Marshal(map[string]any{"size": 10000, "after": after})
			rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			resp, err := c.Do(rctx, node, http.MethodPost, fmt.Sprintf("/_plugins/_authz/resources/%s/_visible?min_seq=%d", kind, minSeq), string(body))
			cancel()
			if err != nil {
				return nil, fmt.Errorf("list %s records on node %d: %w", kind, node, err)
			}
			if resp.Status != http.StatusOK {
				return nil, fmt.Errorf("list %s records on node %d: %s", kind, node, resp)
			}
			var page struct {
				IDs  []string `json:"ids"`
				Next *string  `json:"next"`
			}
			if err := json.Unmarshal(resp.Body, &page); err != nil {
				return nil, fmt.Errorf("list %s records on node %d: decode: %w", kind, node, err)
			}
			for _, id := range page.IDs {
				if strings.HasPrefix(id, o.prefix()+"-") {
					out[kind+"/"+id] = ""
				}
			}
			if page.Next == nil || *page.Next == "" {
				break
			}
			after = *page.Next
		}
	}
	return out, nil
}

// OwnershipStats are the totals of the Ownership extension over a history.
type OwnershipStats struct {
	// Registered counts registrations attempted, Acknowledged those answered
	// 2xx, Unknown and Failed the others.
	Registered, Acknowledged, Unknown, Failed int
	// UnknownPresent counts registrations of unknown outcome present on
	// every node that answered.
	UnknownPresent int
	// Lost counts acknowledged registrations missing on some node.
	Lost int
}

// Stats totals h's registrations and checks them against the final states.
func (o *Ownership) Stats(h History) OwnershipStats {
	st, _ := o.check(h)
	return st
}

// Check reports every acknowledged registration missing on a node (lost)
// and every node whose records could not be read (unavailable).
func (o *Ownership) Check(h History) []Finding {
	_, f := o.check(h)
	return f
}

// Summary is the report line: "registered N, acknowledged M, lost L (...)".
func (o *Ownership) Summary(h History) string {
	st := o.Stats(h)
	return fmt.Sprintf("registered %d, acknowledged %d, lost %d (unknown %d, %d of them present; failed %d)",
		st.Registered, st.Acknowledged, st.Lost, st.Unknown, st.UnknownPresent, st.Failed)
}

func (o *Ownership) check(h History) (OwnershipStats, []Finding) {
	var st OwnershipStats
	var out []Finding
	var read []NodeState
	for _, s := range h.Final {
		if e, ok := s.ExtraErr[o.Name()]; ok {
			out = append(out, Finding{Kind: FindingUnavailable, Detail: fmt.Sprintf("node %d ownership records: %s", s.Node, e)})
			continue
		}
		if s.Extra[o.Name()] == nil {
			out = append(out, Finding{Kind: FindingUnavailable, Detail: fmt.Sprintf("node %d ownership records were not read", s.Node)})
			continue
		}
		read = append(read, s)
	}
	for _, op := range h.Ops {
		if op.Kind != RegisterOwner {
			continue
		}
		st.Registered++
		var missing []string
		for _, s := range read {
			if _, ok := s.Extra[o.Name()][op.Key]; !ok {
				missing = append(missing, strconv.Itoa(s.Node))
			}
		}
		switch op.Outcome {
		case OK:
			st.Acknowledged++
			if len(missing) > 0 {
				st.Lost++
				out = append(out, Finding{Kind: FindingLost, Detail: fmt.Sprintf("ownership record %s (client %d op %d on node %d [%s..%s], seq %d) missing on node(s) %s",
					op.Key, op.Client, op.Seq, op.Node, fmtDur(op.Start), fmtDur(op.End), op.OwnersSeq, strings.Join(missing, ","))})
			}
		case Unknown:
			st.Unknown++
			if len(missing) == 0 && len(read) > 0 {
				st.UnknownPresent++
			}
		default:
			st.Failed++
		}
	}
	return st, out
}
