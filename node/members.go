package node

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/hashicorp/raft"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/authzd/authzd/authz"
	"github.com/authzd/authzd/events"
	"github.com/authzd/authzd/node/api"
)

// Membership (issue 7, item 3). Raft's configuration decides who is a member
// and who votes; the member directory (fsm/members.go), replicated through the
// log, tells every node the HTTPS and NATS route addresses of members added at
// run time. The leader serializes changes (membersMu) and orders them so that
// no node can lead before every node knows its address:
//
//	add:    member.put committed, then AddVoter/AddNonvoter
//	remove: RemoveServer, then member.delete
//
// A crash between the two steps leaves a directory entry of a non-member
// (harmless: lookups go by id, conflicts are checked against raft's
// configuration) or a member without one (it is then only reachable by its
// static peer entry; adding it again with the same addresses repairs it).

// ChangeMembers applies a membership change on the leader, forwarding it from
// a follower (api.Members). Like Propose it retries while no leader is known,
// until LeaderWait or ctx ends.
func (n *Node) ChangeMembers(ctx context.Context, c api.MemberChange) (api.MemberAnswer, error) {
	return onLeader(ctx, n,
		func() (api.MemberAnswer, error) { return n.ChangeMembersLocal(ctx, c) },
		func(leader Peer) (api.MemberAnswer, error) { return n.forwardMembers(ctx, leader, c) })
}

// ChangeMembersLocal applies a membership change on this node, which must be
// the leader (api.Members). Refusals come back in MemberAnswer.Err.
func (n *Node) ChangeMembersLocal(ctx context.Context, c api.MemberChange) (api.MemberAnswer, error) {
	if n.raft == nil || n.raft.State() != raft.Leader {
		return api.MemberAnswer{}, ErrNotLeader
	}
	n.membersMu.Lock()
	defer n.membersMu.Unlock()
	f := n.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return api.MemberAnswer{}, fmt.Errorf("read raft configuration: %w", err)
	}
	servers := f.Configuration().Servers
	var refusal *authz.Error
	var err error
	if c.Remove {
		refusal, err = n.removeMember(ctx, servers, c)
	} else {
		refusal, err = n.addMember(ctx, servers, c)
	}
	if err != nil || refusal != nil {
		return api.MemberAnswer{Err: refusal}, err
	}
	return api.MemberAnswer{Peers: n.peerList()}, nil
}

func (n *Node) addMember(ctx context.Context, servers []raft.Server, c api.MemberChange) (*authz.Error, error) {
	suffrage := raft.Voter
	if c.NonVoter {
		suffrage = raft.Nonvoter
	}
	for _, s := range servers {
		p, _ := n.peer(string(s.ID))
		if string(s.ID) == c.ID {
			if string(s.Address) == c.RaftAddr && p.HTTPAddr == c.HTTPAddr && p.NATSRoute == c.NATSRoute && s.Suffrage == suffrage {
				return nil, nil // a retried join: already done
			}
			return conflict("peer id '%s' is already a member (%s at %s); remove it first", c.ID, s.Suffrage, s.Address), nil
		}
		switch {
		case string(s.Address) == c.RaftAddr:
			return conflict("raft address '%s' is already used by peer '%s'", c.RaftAddr, s.ID), nil
		case p.HTTPAddr == c.HTTPAddr:
			return conflict("http address '%s' is already used by peer '%s'", c.HTTPAddr, s.ID), nil
		case c.NATSRoute != "" && p.NATSRoute == c.NATSRoute:
			return conflict("nats route '%s' is already used by peer '%s'", c.NATSRoute, s.ID), nil
		}
	}
	// The directory first: once the server is in the configuration it may
	// lead, and every node must then be able to forward to it.
	if refusal, err := n.proposeMember(ctx, events.MemberPut, events.Member{ID: c.ID, RaftAddr: c.RaftAddr, HTTPAddr: c.HTTPAddr, NATSRoute: c.NATSRoute}, c); err != nil || refusal != nil {
		return refusal, err
	}
	var f raft.IndexFuture
	if c.NonVoter {
		f = n.raft.AddNonvoter(raft.ServerID(c.ID), raft.ServerAddress(c.RaftAddr), 0, n.timeout(ctx))
	} else {
		f = n.raft.AddVoter(raft.ServerID(c.ID), raft.ServerAddress(c.RaftAddr), 0, n.timeout(ctx))
	}
	if err := f.Error(); err != nil {
		return nil, raftMembershipError("add "+c.ID, err)
	}
	n.log.Info("cluster member added", "peer", c.ID, "raft", c.RaftAddr, "http", c.HTTPAddr, "suffrage", suffrage.String(), "request_id", c.RequestID)
	return nil, nil
}

func (n *Node) removeMember(ctx context.Context, servers []raft.Server, c api.MemberChange) (*authz.Error, error) {
	i := slices.IndexFunc(servers, func(s raft.Server) bool { return string(s.ID) == c.ID })
	if i < 0 {
		return authz.StatusMessage(http.StatusNotFound, fmt.Sprintf("peer '%s' is not a member", c.ID)), nil
	}
	voters := 0
	for _, s := range servers {
		if s.Suffrage == raft.Voter {
			voters++
		}
	}
	if servers[i].Suffrage == raft.Voter && voters == 1 {
		return conflict("cannot remove '%s': it is the last voter", c.ID), nil
	}
	if c.ID == n.cfg.ID {
		// The leader removes itself by handing leadership to another voter
		// first; the caller's retry loop then sends the change to the new
		// leader, which removes this node as any other follower.
		if err := n.raft.LeadershipTransfer().Error(); err != nil {
			return nil, fmt.Errorf("hand leadership over before removing %s: %w", c.ID, err)
		}
		n.log.Info("handed leadership over to remove this node", "request_id", c.RequestID)
		return nil, ErrNotLeader
	}
	if err := n.raft.RemoveServer(raft.ServerID(c.ID), 0, n.timeout(ctx)).Error(); err != nil {
		return nil, raftMembershipError("remove "+c.ID, err)
	}
	n.log.Info("cluster member removed", "peer", c.ID, "request_id", c.RequestID)
	// The member is out; only its directory entry is left. Propose (not
	// ApplyLocal): this node may have lost leadership meanwhile.
	data, err := events.Encode(events.MemberDelete, n.memberMeta(c), events.MemberRemove{ID: c.ID})
	if err != nil {
		return nil, err
	}
	res, err := n.Propose(ctx, data)
	if err != nil {
		return nil, fmt.Errorf("remove %s from the member directory: %w", c.ID, err)
	}
	if n.natsSrv != nil {
		// In the background: when the removed member led JetStream's meta
		// group, the group first elects another leader, which can take
		// longer than the caller should wait for an answer.
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			n.removeJetStreamPeer(c)
		}()
	}
	return res.Err, nil
}

// removeJetStreamPeer takes a removed member out of the embedded NATS
// servers' JetStream meta group too, so that it stops counting toward
// JetStream's quorum (an external NATS cluster is its operator's to manage).
// The member is out of the cluster whatever the outcome: a failure is
// logged, and `nats server raft peer-remove` can finish the job.
func (n *Node) removeJetStreamPeer(c api.MemberChange) {
	ctx, cancel := context.WithTimeout(n.life, jetStreamRemoveBudget)
	defer cancel()
	switch err := n.natsSrv.RemovePeer(ctx, c.ID); {
	case err == nil:
		n.log.Info("removed member's jetstream peer removed", "peer", c.ID, "request_id", c.RequestID)
	case n.life.Err() != nil:
		// Stopped by Close: whether the last unanswered request took
		// effect is unknown, which is no reason for a warning.
		n.log.Info("jetstream peer removal stopped: node closing", "peer", c.ID, "request_id", c.RequestID)
	default:
		n.log.Warn("removed member still in jetstream's meta group", "peer", c.ID, "err", err, "request_id", c.RequestID)
	}
}

// jetStreamRemoveBudget bounds removeJetStreamPeer: long enough for the
// meta group to elect a leader again after losing its own, several times.
const jetStreamRemoveBudget = time.Minute

// proposeMember commits a member directory event on this leader.
func (n *Node) proposeMember(ctx context.Context, t events.Type, payload any, c api.MemberChange) (*authz.Error, error) {
	data, err := events.Encode(t, n.memberMeta(c), payload)
	if err != nil {
		return nil, err
	}
	res, err := n.ApplyLocal(ctx, data)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", t, c.ID, err)
	}
	return res.Err, nil
}

func (n *Node) memberMeta(c api.MemberChange) events.Meta {
	return events.Meta{Actor: c.Actor, At: time.Now().UnixMilli(), RequestID: c.RequestID}
}

// timeout is what is left of ctx's deadline, or WriteTimeout. It is never
// zero or negative, which raft would take as "wait forever".
func (n *Node) timeout(ctx context.Context) time.Duration {
	if d, ok := ctx.Deadline(); ok {
		return max(time.Until(d), time.Millisecond)
	}
	return n.cfg.WriteTimeout
}

// raftMembershipError maps raft's errors: a change raft refused before
// appending it (not the leader, another change in flight) may be retried on
// the leader.
func raftMembershipError(what string, err error) error {
	switch {
	case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipTransferInProgress), errors.Is(err, raft.ErrEnqueueTimeout):
		return ErrNotLeader
	case errors.Is(err, raft.ErrLeadershipLost):
		return fmt.Errorf("raft %s: %w: %w", what, err, ErrOutcomeUnknown)
	}
	return fmt.Errorf("raft %s: %w", what, err)
}

func conflict(format string, args ...any) *authz.Error {
	return authz.StatusMessage(http.StatusConflict, fmt.Sprintf(format, args...))
}

// peerList is the Raft configuration with every member's addresses.
func (n *Node) peerList() []api.Peer {
	out := []api.Peer{}
	f := n.raft.GetConfiguration()
	if f.Error() != nil {
		return out
	}
	for _, s := range f.Configuration().Servers {
		p, _ := n.peer(string(s.ID))
		out = append(out, api.Peer{ID: string(s.ID), RaftAddr: string(s.Address), HTTPAddr: p.HTTPAddr, NATSRoute: p.NATSRoute, Suffrage: s.Suffrage.String()})
	}
	return out
}

// forwardMembers sends a membership change to the leader's internal endpoint.
// Raft applies a membership change at most once per call, and a repeated add
// of the same member is a no-op, so a change lost on the way may be retried.
func (n *Node) forwardMembers(ctx context.Context, leader Peer, c api.MemberChange) (api.MemberAnswer, error) {
	body, err := msgpack.Marshal(c)
	if err != nil {
		return api.MemberAnswer{}, fmt.Errorf("encode membership change: %w", err)
	}
	b, err := n.postToLeader(ctx, leader, leaderPost{
		what: "forward membership change", path: "/_plugins/_authz/internal/members", contentType: "application/msgpack",
		body: body, limit: 1 << 20, idempotent: true,
	})
	if err != nil {
		return api.MemberAnswer{}, err
	}
	var ans api.MemberAnswer
	if err := msgpack.Unmarshal(b, &ans); err != nil {
		return api.MemberAnswer{}, fmt.Errorf("forward membership change to %s: decode answer: %w", leader.ID, err)
	}
	return ans, nil
}
