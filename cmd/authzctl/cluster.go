package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

// clusterStatus is the body of GET /_plugins/_authz/cluster.
type clusterStatus struct {
	NodeID    string `json:"node_id"`
	State     string `json:"state"`
	LeaderID  string `json:"leader_id"`
	Leader    string `json:"leader_address"`
	Term      uint64 `json:"term"`
	Revision  uint64 `json:"applied_revision"`
	CommitIdx uint64 `json:"commit_index"`
	StateHash string `json:"state_hash"`
	Peers     []peer `json:"peers"`
}

// peer is one member of the Raft configuration, as the cluster reports it.
type peer struct {
	ID        string `json:"id"`
	RaftAddr  string `json:"raft_address"`
	HTTPAddr  string `json:"http_address"`
	NATSRoute string `json:"nats_route,omitempty"`
	Suffrage  string `json:"suffrage"`
}

// membersAnswer is the answer of POST and DELETE /_plugins/_authz/cluster/peers.
type membersAnswer struct {
	Message string `json:"message"`
	Peers   []peer `json:"peers"`
}

func clusterCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "cluster", Short: "Cluster commands"}
	var asJSON bool
	status := &cobra.Command{
		Use:   "status",
		Short: "Show every node's state, leader, applied revision and state hash",
		Long: `Status asks the node of --url for the Raft configuration, then every peer for
its own view, with the same credentials. Nodes at the same revision must have the same
state hash.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := g.newClient()
			if err != nil {
				return err
			}
			defer cl.close()
			var first clusterStatus
			if _, err := cl.do(cmd.Context(), http.MethodGet, "/_plugins/_authz/cluster", nil, nil, &first); err != nil {
				return err
			}
			type row struct {
				id, addr, suffrage string
				st                 *clusterStatus
				err                error
			}
			var rows []row
			for _, p := range first.Peers {
				r := row{id: p.ID, addr: p.HTTPAddr, suffrage: p.Suffrage}
				switch {
				case p.ID == first.NodeID:
					r.st = &first
				case p.HTTPAddr == "":
					r.err = fmt.Errorf("no HTTP address known")
				default:
					peer := *cl
					peer.base = &url.URL{Scheme: cl.base.Scheme, Host: p.HTTPAddr}
					var st clusterStatus
					if _, err := peer.do(cmd.Context(), http.MethodGet, "/_plugins/_authz/cluster", nil, nil, &st); err != nil {
						r.err = err
					} else {
						r.st = &st
					}
				}
				rows = append(rows, r)
			}
			if asJSON {
				var all []any
				for _, r := range rows {
					if r.st != nil {
						all = append(all, r.st)
					} else {
						all = append(all, map[string]string{"node_id": r.id, "error": r.err.Error()})
					}
				}
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(all)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NODE\tSTATE\tSUFFRAGE\tLEADER\tTERM\tREVISION\tCOMMIT\tSTATE HASH\tADDRESS")
			for _, r := range rows {
				if r.st == nil {
					fmt.Fprintf(tw, "%s\tunreachable\t%s\t\t\t\t\t\t%s (%v)\n", r.id, r.suffrage, r.addr, r.err)
					continue
				}
				s := r.st
				hash := s.StateHash
				if len(hash) > 12 {
					hash = hash[:12]
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%d\t%s\t%s\n", s.NodeID, s.State, r.suffrage, s.LeaderID, s.Term, s.Revision, s.CommitIdx, hash, r.addr)
			}
			return tw.Flush()
		},
	}
	status.Flags().BoolVar(&asJSON, "json", false, "print the nodes' answers as JSON")
	cmd.AddCommand(status, joinCmd(g), leaveCmd(g))
	return cmd
}

// joinCmd adds a member: POST /_plugins/_authz/cluster/peers.
func joinCmd(g *globals) *cobra.Command {
	var (
		b        struct{ ID, Raft, HTTP, NATS string }
		nonVoter bool
	)
	cmd := &cobra.Command{
		Use:   "join --id ID --raft HOST:PORT --http HOST:PORT [--nats HOST:PORT] [--non-voter]",
		Short: "Add a node to the cluster as a voter or a non-voter (read replica)",
		Long: `Join adds a node to the Raft configuration through the node of --url (a follower
forwards to the leader) and prints the new configuration. Start the node first with an
empty data dir and without itself in --peers, or let it join by itself with
authzd serve --join. Needs a super admin certificate or cluster:admin/authz/cluster/peers.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			body, err := json.Marshal(struct {
				ID        string `json:"id"`
				RaftAddr  string `json:"raft_address"`
				HTTPAddr  string `json:"http_address"`
				NATSRoute string `json:"nats_route,omitempty"`
				Voter     bool   `json:"voter"`
			}{b.ID, b.Raft, b.HTTP, b.NATS, !nonVoter})
			if err != nil {
				return fmt.Errorf("encode peer: %w", err)
			}
			return changeMembers(cmd, g, http.MethodPost, "/_plugins/_authz/cluster/peers", bytes.NewReader(body))
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&b.ID, "id", "", "node id (its certificate's CN)")
	fl.StringVar(&b.Raft, "raft", "", "the node's Raft address, as the others dial it")
	fl.StringVar(&b.HTTP, "http", "", "the node's HTTPS address, as the others dial it")
	fl.StringVar(&b.NATS, "nats", "", "the node's embedded NATS route address")
	fl.BoolVar(&nonVoter, "non-voter", false, "add a read replica that does not vote")
	for _, f := range []string{"id", "raft", "http"} {
		_ = cmd.MarkFlagRequired(f)
	}
	return cmd
}

// leaveCmd removes a member: DELETE /_plugins/_authz/cluster/peers/{id}.
func leaveCmd(g *globals) *cobra.Command {
	var id string
	cmd := &cobra.Command{
		Use:   "leave [ID | --id ID]",
		Short: "Remove a node from the cluster",
		Long: `Leave removes a node from the Raft configuration (the leader hands leadership
over first when it is the one removed) and prints the new configuration. The last voter
cannot be removed. Stop the removed node afterwards.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				if id != "" && id != args[0] {
					return fmt.Errorf("two different ids: %q and --id %q", args[0], id)
				}
				id = args[0]
			}
			if id == "" {
				return fmt.Errorf("leave needs the node id")
			}
			return changeMembers(cmd, g, http.MethodDelete, "/_plugins/_authz/cluster/peers/"+url.PathEscape(id), nil)
		},
	}
	cmd.Flags().StringVar(&id, "id", "", "node id")
	return cmd
}

// changeMembers sends one membership change and prints the configuration.
func changeMembers(cmd *cobra.Command, g *globals, method, path string, body io.Reader) error {
	cl, err := g.newClient()
	if err != nil {
		return err
	}
	defer cl.close()
	var ans membersAnswer
	if _, err := cl.do(cmd.Context(), method, path, body, nil, &ans); err != nil {
		return err
	}
	fmt.Fprintln(cmd.OutOrStdout(), ans.Message)
	tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tSUFFRAGE\tRAFT\tHTTP")
	for _, p := range ans.Peers {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", p.ID, p.Suffrage, p.RaftAddr, p.HTTPAddr)
	}
	return tw.Flush()
}
