package fsm

import (
	"slices"
	"sort"
)

// HistoryLimit is how many applied changes the state remembers (GET
// /_plugins/_authz/events). It is a constant, not a setting: the history is
// part of the replicated state and snapshots, so every node must keep the same
// records. Between HistoryLimit and HistoryLimit+historyChunk-1 records are
// kept.
const HistoryLimit = 1000

// historyChunk is the size of the immutable blocks the history is made of, so
// that appending a record copies at most one block and the block list, never
// the whole history.
const historyChunk = 64

// recordResourceLimit caps the resources listed in one record; Added, Changed
// and Removed still count all of them.
const recordResourceLimit = 20

// Record is one applied configuration change: who, when, which event and what
// it changed. Rejected events and changes that changed nothing are not
// recorded.
type Record struct {
	Rev       uint64 `msgpack:"rev" json:"revision"`
	At        int64  `msgpack:"at" json:"at"` // Unix milliseconds, from the proposer
	Actor     string `msgpack:"actor" json:"actor"`
	Type      string `msgpack:"type" json:"type"`
	RequestID string `msgpack:"request_id" json:"request_id,omitempty"`
	Added     int    `msgpack:"added" json:"added"`
	Changed   int    `msgpack:"changed" json:"changed"`
	Removed   int    `msgpack:"removed" json:"removed"`
	// Resources lists up to 20 changed resources, sorted by kind and name.
	Resources []ResourceChange `msgpack:"resources" json:"resources"`
}

// ResourceChange names one resource a change touched.
type ResourceChange struct {
	Kind string `msgpack:"kind" json:"kind"`
	Name string `msgpack:"name" json:"name"`
	// Op is "added", "changed" or "removed".
	Op string `msgpack:"op" json:"op"`
}

// History is the bounded list of the latest records, oldest first. It is
// immutable: append returns a new History sharing the unchanged blocks.
type History struct {
	chunks [][]Record
	n      int
}

// Len is the number of records held.
func (h History) Len() int { return h.n }

// append returns h with r added at the end, dropping the oldest block once
// more than HistoryLimit+historyChunk-1 records would be held.
func (h History) append(r Record) History {
	chunks := make([][]Record, len(h.chunks), len(h.chunks)+1)
	copy(chunks, h.chunks)
	if last := len(chunks) - 1; last >= 0 && len(chunks[last]) < historyChunk {
		c := make([]Record, len(chunks[last]), len(chunks[last])+1)
		copy(c, chunks[last])
		chunks[last] = append(c, r)
	} else {
		chunks = append(chunks, []Record{r})
	}
	n := h.n + 1
	if n-len(chunks[0]) >= HistoryLimit {
		n -= len(chunks[0])
		chunks = chunks[1:]
	}
	return History{chunks: chunks, n: n}
}

// Records returns a copy of every record, oldest first.
func (h History) Records() []Record {
	out := make([]Record, 0, h.n)
	for _, c := range h.chunks {
		out = append(out, c...)
	}
	return out
}

// Page returns up to size records with a revision below before (0: no bound),
// newest first, and whether older records remain.
func (h History) Page(before uint64, size int) ([]Record, bool) {
	var out []Record
	for i := len(h.chunks) - 1; i >= 0; i-- {
		c := h.chunks[i]
		for j := len(c) - 1; j >= 0; j-- {
			if before != 0 && c[j].Rev >= before {
				continue
			}
			if len(out) == size {
				return out, true
			}
			out = append(out, c[j])
		}
	}
	return out, false
}

// historyOf rebuilds a History from records (snapshot restore).
func historyOf(records []Record) History {
	var h History
	for _, r := range records {
		h = h.append(r)
	}
	return h
}

// newRecord builds the record of an applied change. added, changed and removed
// are "<kind>/<name>" change keys.
func newRecord(ch Change, requestID string, added, changed, removed []string) Record {
	r := Record{Rev: ch.Rev, At: ch.At, Actor: ch.Actor, Type: ch.Type, RequestID: requestID,
		Added: len(added), Changed: len(changed), Removed: len(removed), Resources: []ResourceChange{}}
	for _, g := range []struct {
		op   string
		keys []string
	}{{"added", added}, {"changed", changed}, {"removed", removed}} {
		for _, k := range g.keys {
			kind, name := splitChangeKey(k)
			r.Resources = append(r.Resources, ResourceChange{Kind: kind, Name: name, Op: g.op})
		}
	}
	sort.Slice(r.Resources, func(i, j int) bool {
		a, b := r.Resources[i], r.Resources[j]
		if a.Kind != b.Kind {
			return a.Kind < b.Kind
		}
		return a.Name < b.Name
	})
	if len(r.Resources) > recordResourceLimit {
		r.Resources = slices.Clip(r.Resources[:recordResourceLimit])
	}
	return r
}

func splitChangeKey(k string) (kind, name string) {
	for i := 0; i < len(k); i++ {
		if k[i] == '/' {
			return k[:i], k[i+1:]
		}
	}
	return k, ""
}
