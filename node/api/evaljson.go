package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"unicode/utf8"

	"github.com/authzd/authzd/authz"
)

// The single-decision endpoint is the node's hot path: a PEP calls it once per
// request it guards. encoding/json's reflection and its garbage cost several
// times the decision itself, and the garbage makes the collector run more
// often, each cycle marking the whole evaluator. So POST
// /_plugins/_authz/evaluate reads the common shape of request with a small
// strict scanner and writes the answer by appending, both into buffers it
// reuses. Everything else — escapes, non-UTF-8 bytes, keys in another case or
// given twice, nulls, maps, explain — goes through encoding/json as before,
// which also words every error. Tests hold both paths to the same result:
// FuzzDecisionRequestScan for requests, TestDecisionJSONMatchesEncodingJSON
// and FuzzAppendJSONString for answers.

// evalScratch is the reusable state of one single-decision call.
type evalScratch struct {
	body    []byte
	q       decisionRequest
	user    decisionUser
	lists   [5][]string // backing arrays of the request's string lists
	d       authz.Decision
	out     []byte
	text    []byte   // the 403 reason, rendered
	indices []string // the request's indices, sorted and unique
}

var evalScratchPool = sync.Pool{New: func() any { return new(evalScratch) }}

func getEvalScratch() *evalScratch { return evalScratchPool.Get().(*evalScratch) }

// put returns s to the pool unless one of its buffers grew past what a
// typical call needs (a huge request must not pin its memory).
func (s *evalScratch) put() {
	if cap(s.body) > 64<<10 || cap(s.out) > 64<<10 {
		return
	}
	evalScratchPool.Put(s)
}

// scan decodes body into s.q with the fast scanner; false means the caller
// must decode it with encoding/json instead.
func (s *evalScratch) scan(body []byte) bool {
	s.q, s.user = decisionRequest{}, decisionUser{}
	sc := reqScanner{b: body, lists: &s.lists}
	return sc.request(&s.q, &s.user) && sc.end()
}

// reqScanner reads the subset of JSON a decision request is nearly always
// written in. Any byte outside that subset makes it give up (ok=false), never
// guess: the strict encoding/json decoder then has the last word.
type reqScanner struct {
	b     []byte
	i     int
	lists *[5][]string
	used  int // lists handed out
}

func (s *reqScanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// next consumes c after optional whitespace.
func (s *reqScanner) next(c byte) bool {
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// end accepts only whitespace after the object.
func (s *reqScanner) end() bool {
	s.ws()
	return s.i == len(s.b)
}

// raw returns the bytes of a string without escapes or control characters,
// in valid UTF-8 (encoding/json decodes such a string to exactly its bytes).
func (s *reqScanner) raw() ([]byte, bool) {
	s.ws()
	if s.i >= len(s.b) || s.b[s.i] != '"' {
		return nil, false
	}
	start := s.i + 1
	for j := start; j < len(s.b); j++ {
		switch c := s.b[j]; {
		case c == '"':
			seg := s.b[start:j]
			s.i = j + 1
			return seg, utf8.Valid(seg)
		case c == '\\' || c < 0x20:
			return nil, false
		}
	}
	return nil, false
}

func (s *reqScanner) str(dst *string) bool {
	b, ok := s.raw()
	*dst = string(b)
	return ok
}

func (s *reqScanner) boolean(dst *bool) bool {
	s.ws()
	switch {
	case len(s.b)-s.i >= 4 && string(s.b[s.i:s.i+4]) == "true":
		*dst, s.i = true, s.i+4
	case len(s.b)-s.i >= 5 && string(s.b[s.i:s.i+5]) == "false":
		*dst, s.i = false, s.i+5
	default:
		return false
	}
	return true
}

// list reads an array of strings into one of the reused backing arrays; an
// empty array gives an empty, non-nil slice, as encoding/json does.
func (s *reqScanner) list(dst *[]string) bool {
	if !s.next('[') || s.used == len(s.lists) {
		return false
	}
	out := s.lists[s.used][:0]
	if out == nil {
		out = make([]string, 0, 4)
	}
	defer func() { s.lists[s.used] = out[:0]; s.used++; *dst = out }()
	if s.next(']') {
		return true
	}
	for {
		var v string
		if !s.str(&v) {
			return false
		}
		out = append(out, v)
		if s.next(',') {
			continue
		}
		return s.next(']')
	}
}

// object reads the members of an object, handing each key to member, which
// reads the value and returns the key's bit, or 0 to give up (an unknown key,
// a value it cannot read). A key given twice gives up too: encoding/json
// would merge or overwrite.
func (s *reqScanner) object(member func(key []byte) uint32) bool {
	if !s.next('{') {
		return false
	}
	if s.next('}') {
		return true
	}
	var seen uint32
	for {
		key, ok := s.raw()
		if !ok || !s.next(':') {
			return false
		}
		bit := member(key)
		if bit == 0 || seen&bit != 0 {
			return false
		}
		seen |= bit
		if s.next(',') {
			continue
		}
		return s.next('}')
	}
}

// field returns bit when the value was read, else 0.
func field(bit uint32, ok bool) uint32 {
	if !ok {
		return 0
	}
	return bit
}

func (s *reqScanner) request(q *decisionRequest, u *decisionUser) bool {
	return s.object(func(key []byte) uint32 {
		switch string(key) {
		case "user":
			q.User = u
			return field(1<<0, s.object(func(key []byte) uint32 {
				switch string(key) {
				case "name":
					return field(1<<0, s.str(&u.Name))
				case "backend_roles":
					return field(1<<1, s.list(&u.BackendRoles))
				case "roles":
					return field(1<<2, s.list(&u.Roles))
				}
				return 0
			}))
		case "remote_address":
			return field(1<<1, s.str(&q.RemoteAddress))
		case "remote_host":
			return field(1<<2, s.str(&q.RemoteHost))
		case "action":
			return field(1<<3, s.str(&q.Action))
		case "indices":
			return field(1<<4, s.list(&q.Indices))
		case "remote_indices":
			return field(1<<5, s.list(&q.RemoteIndices))
		case "all_indices":
			return field(1<<6, s.boolean(&q.AllIndices))
		case "bulk_items":
			return field(1<<7, s.list(&q.BulkItems))
		case "create_with_aliases":
			return field(1<<8, s.boolean(&q.CreateWithAliases))
		case "removes_index":
			return field(1<<9, s.boolean(&q.RemovesIndex))
		case "tenant":
			return field(1<<10, s.str(&q.Tenant))
		case "tenant_access":
			return field(1<<11, s.str(&q.TenantAccess))
		case "explain":
			return field(1<<12, s.boolean(&q.Explain))
		}
		return 0
	})
}

// batchFast answers a _batch body of the common shape, {"requests":[...]}
// with every request one the scanner reads, deciding each as it is read and
// appending its answer as evaluateBatchJSON would write it. It returns false,
// having written and counted nothing, when the body needs encoding/json: the
// decisions made until the scanner gave up are then made again there.
func (a *API) batchFast(w http.ResponseWriter, r *request, s *evalScratch) (bool, error) {
	sc := reqScanner{b: s.body, lists: &s.lists}
	if !sc.next('{') {
		return false, nil
	}
	if key, ok := sc.raw(); !ok || string(key) != "requests" || !sc.next(':') || !sc.next('[') {
		return false, nil
	}
	var t batchTally
	out := append(s.out[:0], `{"responses":[`...)
	if !sc.next(']') {
		for n := 0; ; n++ {
			if n == maxBatch {
				return false, nil
			}
			s.q, s.user, sc.used = decisionRequest{}, decisionUser{}, 0
			if !sc.request(&s.q, &s.user) {
				return false, nil
			}
			if n > 0 {
				out = append(out, ',')
			}
			var err error
			if out, err = a.appendBatchItem(out, r, s, &t); err != nil {
				t.count(a)
				return true, err
			}
			if sc.next(',') {
				continue
			}
			if !sc.next(']') {
				return false, nil
			}
			break
		}
	}
	if !sc.next('}') || !sc.end() {
		return false, nil
	}
	out = append(out, `],"revision":`...)
	out = strconv.AppendUint(out, r.view.Rev, 10)
	s.out = append(out, '}')
	t.count(a)
	setRevision(w, r.view.Rev)
	writeRaw(w, http.StatusOK, s.out)
	return true, nil
}

// batchTally counts a batch's outcomes, added to the metrics once the batch
// is answered (or fails) rather than per item, so that a body handed on to
// encoding/json is not counted twice.
type batchTally struct{ allowed, denied, errors int }

func (t *batchTally) decided(allowed bool) {
	if allowed {
		t.allowed++
	} else {
		t.denied++
	}
}

func (t *batchTally) count(a *API) {
	add := func(res string, n int) {
		if n > 0 {
			a.met.decisions.WithLabelValues(apiBatch, res).Add(float64(n))
		}
	}
	add("allowed", t.allowed)
	add("denied", t.denied)
	add("error", t.errors)
}

// appendBatchItem appends the answer to the scanned request s.q: the
// appended decision, or, for explain and refused items, what encoding/json
// makes of decide's answer or of the error item.
func (a *API) appendBatchItem(dst []byte, r *request, s *evalScratch, t *batchTally) ([]byte, error) {
	q := &s.q
	var item any
	var err error
	if q.Explain {
		var resp *decisionResponse
		if resp, err = a.decide(r, q); err == nil {
			t.decided(resp.Allowed)
			item = resp
		}
	} else {
		var req authz.Request
		if req, err = a.evalRequest(r, q); err == nil {
			r.view.Eval.EvaluateInto(&req, &s.d)
			t.decided(s.d.Allowed)
			return s.appendDecision(dst, q, r.view.Rev), nil
		}
	}
	if err != nil {
		var ae *authz.Error
		if !errors.As(err, &ae) {
			return dst, err // not the item's fault: the whole call fails
		}
		t.errors++
		item = errorItem{Status: ae.Status, Error: errorPart(ae)}
	}
	b, err := json.Marshal(item)
	if err != nil {
		return dst, fmt.Errorf("encode batch item: %w", err)
	}
	return append(dst, b...), nil
}

// appendDecision appends the JSON of the answer decide gives for q and d
// (EvaluateInto'd, without explain), byte for byte what encoding/json makes
// of that decisionResponse.
func (s *evalScratch) appendDecision(dst []byte, q *decisionRequest, rev uint64) []byte {
	d := &s.d
	dst = append(dst, `{"allowed":`...)
	dst = strconv.AppendBool(dst, d.Allowed)
	if s.text = d.AppendReason(s.text[:0]); len(s.text) > 0 {
		dst = append(dst, `,"reason":`...)
		dst = appendJSONString(dst, s.text)
	}
	dst = append(dst, `,"roles":`...)
	dst = appendStrings(dst, d.RoleNames(), false)
	if len(d.Missing) > 0 {
		dst = append(dst, `,"missing":`...)
		dst = appendStrings(dst, d.Missing, false)
	}
	if details := d.IndexDetails(); len(q.Indices) > 0 && (len(details) > 0 || !authz.IsClusterAction(q.Action)) {
		s.indices = append(s.indices[:0], q.Indices...)
		slices.Sort(s.indices)
		s.indices = slices.Compact(s.indices)
		dst = append(dst, `,"indices":{`...)
		for i, idx := range s.indices {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendJSONString(dst, idx)
			dst = append(dst, ':')
			id, ok := details[idx]
			if !ok {
				id = authz.IndexDecision{Allowed: d.Allowed}
			}
			dst = appendIndexDecision(dst, &id)
		}
		dst = append(dst, '}')
	}
	if d.EffectiveIndices != nil {
		dst = append(dst, `,"effective_indices":`...)
		dst = appendStrings(dst, d.EffectiveIndices, false)
	}
	if len(d.Tenants) > 0 {
		s.indices = s.indices[:0]
		for t := range d.Tenants {
			s.indices = append(s.indices, t)
		}
		slices.Sort(s.indices)
		dst = append(dst, `,"tenants":{`...)
		for i, t := range s.indices {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendJSONString(dst, t)
			dst = append(dst, ':')
			dst = strconv.AppendBool(dst, d.Tenants[t])
		}
		dst = append(dst, '}')
	}
	if d.TenantAccess != "" {
		dst = append(dst, `,"tenant_access":`...)
		dst = appendJSONString(dst, d.TenantAccess)
	}
	dst = append(dst, `,"revision":`...)
	dst = strconv.AppendUint(dst, rev, 10)
	return append(dst, '}')
}

// appendIndexDecision appends an indexDecision as encoding/json writes it.
func appendIndexDecision(dst []byte, id *authz.IndexDecision) []byte {
	dst = append(dst, `{"allowed":`...)
	dst = strconv.AppendBool(dst, id.Allowed)
	if len(id.Missing) > 0 {
		dst = append(dst, `,"missing":`...)
		dst = appendStrings(dst, id.Missing, false)
	}
	if len(id.DLS) > 0 {
		dst = append(dst, `,"dls":`...)
		dst = appendStrings(dst, id.DLS, false)
	}
	if fls := fieldLevel(id.FLS); fls != nil {
		dst = append(dst, `,"fls":{"mode":`...)
		dst = appendJSONString(dst, fls.Mode)
		dst = append(dst, `,"fields":`...)
		dst = appendStrings(dst, fls.Fields, true)
		dst = append(dst, '}')
	}
	if len(id.MaskedFields) > 0 {
		dst = append(dst, `,"masked_fields":`...)
		dst = appendStrings(dst, id.MaskedFields, false)
	}
	if id.SystemIndex {
		dst = append(dst, `,"system_index":true`...)
	}
	return append(dst, '}')
}

// appendStrings appends a JSON array of strings; a nil list is null when
// nilIsNull (a field without omitempty), [] otherwise.
func appendStrings(dst []byte, list []string, nilIsNull bool) []byte {
	if list == nil && nilIsNull {
		return append(dst, "null"...)
	}
	dst = append(dst, '[')
	for i, v := range list {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendJSONString(dst, v)
	}
	return append(dst, ']')
}

// appendJSONString appends s quoted. Printable ASCII that encoding/json leaves
// alone is copied; anything else (quotes, backslashes, HTML characters,
// control bytes, non-ASCII) is left to encoding/json, so the escaping is its
// own.
func appendJSONString[T string | []byte](dst []byte, s T) []byte {
	for i := range len(s) {
		if !plainJSON[s[i]] {
			b, _ := json.Marshal(string(s)) // a string always encodes
			return append(dst, b...)
		}
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}

// plainJSON marks the bytes encoding/json copies into a string unescaped:
// printable ASCII except the quote, the backslash and <, >, & (which it
// escapes for HTML).
var plainJSON = func() (t [256]bool) {
	for c := 0x20; c <= 0x7e; c++ {
		t[c] = true
	}
	for _, c := range `"\<>&` {
		t[c] = false
	}
	return t
}()
