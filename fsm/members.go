package fsm

import (
	"net/http"
	"slices"
	"strings"

	"github.com/authzd/authzd/authz"
	"github.com/authzd/authzd/events"
)

// The member directory maps a node id to the addresses of a node added at run
// time (POST /_plugins/_authz/cluster/peers, authzd serve --join). It is
// replicated through the log so that every node, including nodes that were
// not running when the member was added, can forward writes to it once it
// leads. Raft's configuration stays the source of truth for who is a member
// and who votes; the directory is only an address book.
//
// The directory is not part of View.Hash: the hash covers the security
// configuration, so that a configuration restored into another cluster (with
// other members) keeps the hash of the cluster it came from. It is part of
// snapshots, and nodes compare it with View.Members.

// applyMember applies member.put and member.delete. It touches neither the
// configuration nor the change records and history: a member is not a
// security resource, and the change stream carries configuration changes only.
func applyMember(prev *View, env events.Envelope, index uint64) (*View, Result) {
	v := *prev
	v.Rev = index
	res := Result{Rev: index}
	switch env.Type {
	case events.MemberPut:
		var p events.Member
		if err := env.DecodePayload(&p); err != nil {
			res.Err = authz.StatusMessage(http.StatusBadRequest, err.Error())
			return &v, res
		}
		if p.ID == "" || p.RaftAddr == "" || p.HTTPAddr == "" {
			res.Err = authz.StatusMessage(http.StatusBadRequest, "member needs id, raft_address and http_address")
			return &v, res
		}
		i, found := slices.BinarySearchFunc(prev.Members, p.ID, compareMember)
		if found && prev.Members[i] == p {
			res.Unchanged = true
			return &v, res
		}
		// Copy on write: the previous view may still be read.
		next := slices.Clone(prev.Members)
		if found {
			next[i] = p
		} else {
			next = slices.Insert(next, i, p)
			res.Created = true
		}
		v.Members = next
	case events.MemberDelete:
		var p events.MemberRemove
		if err := env.DecodePayload(&p); err != nil {
			res.Err = authz.StatusMessage(http.StatusBadRequest, err.Error())
			return &v, res
		}
		i, found := slices.BinarySearchFunc(prev.Members, p.ID, compareMember)
		if !found {
			res.Unchanged = true
			return &v, res
		}
		v.Members = slices.Delete(slices.Clone(prev.Members), i, i+1)
	}
	return &v, res
}

func compareMember(m events.Member, id string) int { return strings.Compare(m.ID, id) }

// Member returns the directory entry of node id.
func (v *View) Member(id string) (events.Member, bool) {
	i, found := slices.BinarySearchFunc(v.Members, id, compareMember)
	if !found {
		return events.Member{}, false
	}
	return v.Members[i], true
}
