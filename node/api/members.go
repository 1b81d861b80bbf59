package api

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/authzd/authzd/authz"
	"github.com/authzd/authzd/transport"
)

// Membership endpoints (issue 7, item 3; docs/api.md "Membership"):
//
//	POST   /_plugins/_authz/cluster/peers        add a voter or a non-voter
//	DELETE /_plugins/_authz/cluster/peers/{id}   remove a member
//	POST   /_plugins/_authz/internal/members     a follower forwards either to the leader
//
// Callers: a cluster node (a client certificate of the cluster CA with
// OU=node, as for forwarded writes: that is how `authzd serve --join` asks),
// or an authenticated user past the REST API gate who is a super admin or
// holds the cluster permission PermClusterPeers (all_access does).

// PermClusterPeers lets a caller add and remove cluster members.
const PermClusterPeers = "cluster:admin/authz/cluster/peers"

// MemberChange is one membership change: add the member described, or with
// Remove set remove the member ID. It is also the body a follower forwards
// to the leader (msgpack).
type MemberChange struct {
	Remove    bool   `msgpack:"remove,omitempty"`
	ID        string `msgpack:"id"`
	RaftAddr  string `msgpack:"raft_addr,omitempty"`
	HTTPAddr  string `msgpack:"http_addr,omitempty"`
	NATSRoute string `msgpack:"nats_route,omitempty"`
	NonVoter  bool   `msgpack:"non_voter,omitempty"`
	// Actor and RequestID go into the member directory event.
	Actor     string `msgpack:"actor"`
	RequestID string `msgpack:"request_id"`
}

// MemberAnswer is what a membership change returns: the new configuration,
// or the refusal in the plugin's shape (it survives forwarding).
type MemberAnswer struct {
	Peers []Peer       `msgpack:"peers"`
	Err   *authz.Error `msgpack:"err,omitempty"`
}

// Members is what the membership endpoints need from the node. A Backend
// without it answers them with 501.
type Members interface {
	// ChangeMembers applies the change on the leader, forwarding it there
	// from a follower; it retries while no leader is known, like Propose.
	ChangeMembers(ctx context.Context, c MemberChange) (MemberAnswer, error)
	// ChangeMembersLocal applies the change on this node, which must be the
	// leader (ErrNotLeader otherwise); it serves forwarded changes.
	ChangeMembersLocal(ctx context.Context, c MemberChange) (MemberAnswer, error)
}

// PeerBody is the body of POST /_plugins/_authz/cluster/peers (a node
// joining by itself sends it too).
type PeerBody struct {
	ID        string `json:"id"`
	RaftAddr  string `json:"raft_address"`
	HTTPAddr  string `json:"http_address"`
	NATSRoute string `json:"nats_route,omitempty"`
	// Voter defaults to true.
	Voter *bool `json:"voter"`
}

// peerID is what a member id may look like: what transport accepts as a
// certificate CN, and safe in a URL path.
var peerID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)

// membersRoutes registers the membership endpoints.
func (a *API) membersRoutes() {
	type h = func(http.ResponseWriter, *request) error
	a.mux.Handle("/_plugins/_authz/cluster/peers", a.plain(a.membersAuth(map[string]h{http.MethodPost: a.addPeer})))
	a.mux.Handle("/_plugins/_authz/cluster/peers/{id}", a.plain(a.membersAuth(map[string]h{http.MethodDelete: a.removePeer})))
	a.mux.Handle("POST /_plugins/_authz/internal/members", a.plain(a.internalMembers))
}

// membersAuth lets cluster nodes in by their certificate and everyone else
// through authentication, the REST API gate and the PermClusterPeers check.
func (a *API) membersAuth(m map[string]func(http.ResponseWriter, *request) error) handlerFunc {
	asNode := methods(m)
	asUser := a.authenticated(a.gated("", m))
	return func(w http.ResponseWriter, r *http.Request) error {
		if dn, ok := nodeCert(r); ok {
			v := a.cfg.Backend.View()
			return asNode(w, &request{Request: r, view: v, caller: &Caller{Name: dn, CertDN: dn, Node: true}})
		}
		return asUser(w, r)
	}
}

// nodeCert returns the DN of a verified client certificate of a cluster
// node (OU=node), the same test as for forwarded writes.
func nodeCert(r *http.Request) (string, bool) {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 {
		return "", false
	}
	c := r.TLS.VerifiedChains[0][0]
	if !slices.Contains(c.Subject.OrganizationalUnit, "node") {
		return "", false
	}
	return transport.DN(c), true
}

// mayChangeMembers lets in cluster nodes, super admins and callers granted
// PermClusterPeers.
func (a *API) mayChangeMembers(r *request) error {
	if r.caller.Node || r.caller.SuperAdmin {
		return nil
	}
	if !r.view.Eval.HasClusterPermission(r.caller.Roles, PermClusterPeers) {
		return authz.StatusMessage(http.StatusForbidden, "No permission to change cluster members: needs "+PermClusterPeers)
	}
	return nil
}

// addPeer serves POST /_plugins/_authz/cluster/peers.
func (a *API) addPeer(w http.ResponseWriter, r *request) error {
	if err := a.mayChangeMembers(r); err != nil {
		return err
	}
	var b PeerBody
	if err := a.decodeStrict(r, &b); err != nil {
		return err
	}
	var problems []string
	if !peerID.MatchString(b.ID) {
		problems = append(problems, "id must be 1 to 63 letters, digits, '.', '_' or '-'")
	}
	for _, f := range []struct{ name, v string }{{"raft_address", b.RaftAddr}, {"http_address", b.HTTPAddr}, {"nats_route", b.NATSRoute}} {
		if f.v == "" && f.name == "nats_route" {
			continue
		}
		if err := checkHostPort(f.v); err != nil {
			problems = append(problems, fmt.Sprintf("%s %v", f.name, err))
		}
	}
	if len(problems) > 0 {
		return authz.StatusMessage(http.StatusBadRequest, "Invalid peer: "+strings.Join(problems, "; "))
	}
	c := MemberChange{ID: b.ID, RaftAddr: b.RaftAddr, HTTPAddr: b.HTTPAddr, NATSRoute: b.NATSRoute, NonVoter: b.Voter != nil && !*b.Voter}
	return a.changeMembers(w, r, c)
}

// removePeer serves DELETE /_plugins/_authz/cluster/peers/{id}.
func (a *API) removePeer(w http.ResponseWriter, r *request) error {
	if err := a.mayChangeMembers(r); err != nil {
		return err
	}
	id := r.PathValue("id")
	if !peerID.MatchString(id) {
		return authz.StatusMessage(http.StatusBadRequest, "Invalid peer: id must be 1 to 63 letters, digits, '.', '_' or '-'")
	}
	return a.changeMembers(w, r, MemberChange{Remove: true, ID: id})
}

func (a *API) changeMembers(w http.ResponseWriter, r *request, c MemberChange) error {
	m, ok := a.cfg.Backend.(Members)
	if !ok {
		return notImplemented(r.Method)
	}
	c.Actor, c.RequestID = r.caller.Name, requestID(r.Request)
	ctx, cancel := context.WithTimeout(r.Context(), a.cfg.WriteTimeout)
	defer cancel()
	ans, err := m.ChangeMembers(ctx, c)
	if err != nil {
		return err
	}
	if ans.Err != nil {
		return ans.Err
	}
	verb := "added"
	if c.Remove {
		verb = "removed"
	}
	a.log.Debug("cluster membership changed", "request_id", requestID(r.Request), "peer", c.ID, "op", verb, "non_voter", c.NonVoter, "actor", c.Actor)
	writeJSON(w, http.StatusOK, struct {
		Status  string `json:"status"`
		Message string `json:"message"`
		Peers   []Peer `json:"peers"`
	}{"OK", fmt.Sprintf("'%s' %s.", c.ID, verb), ans.Peers})
	return nil
}

// internalMembers serves membership changes forwarded by followers: cluster
// nodes only, like internalPropose.
func (a *API) internalMembers(w http.ResponseWriter, r *http.Request) error {
	if _, ok := nodeCert(r); !ok {
		return authz.StatusMessage(http.StatusForbidden, "Only cluster nodes may forward membership changes")
	}
	m, ok := a.cfg.Backend.(Members)
	if !ok {
		return notImplemented(r.Method)
	}
	data, err := a.readBody(r, a.cfg.MaxBodyBytes)
	if err != nil {
		return err
	}
	var c MemberChange
	if err := msgpack.Unmarshal(data, &c); err != nil {
		return authz.StatusMessage(http.StatusBadRequest, "decode membership change: "+err.Error())
	}
	ans, err := m.ChangeMembersLocal(r.Context(), c)
	if errors.Is(err, ErrNotLeader) {
		status(w, http.StatusMisdirectedRequest, "not the leader")
		return nil
	}
	if err != nil {
		return err
	}
	b, err := msgpack.Marshal(ans)
	if err != nil {
		return fmt.Errorf("encode membership answer: %w", err)
	}
	w.Header().Set("Content-Type", "application/msgpack")
	_, _ = w.Write(b)
	return nil
}

// checkHostPort accepts host:port with a port from 1 to 65535.
func checkHostPort(s string) error {
	if s == "" {
		return errors.New("is required")
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil || host == "" {
		return fmt.Errorf("must be host:port, got '%s'", s)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return fmt.Errorf("must have a port from 1 to 65535, got '%s'", s)
	}
	return nil
}
