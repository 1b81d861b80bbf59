package main

import (
	"encoding/json"
	"fmt"
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
	Peers     []struct {
		ID       string `json:"id"`
		RaftAddr string `json:"raft_address"`
		HTTPAddr string `json:"http_address"`
		Suffrage string `json:"suffrage"`
	} `json:"peers"`
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
				id, addr string
				st       *clusterStatus
				err      error
			}
			var rows []row
			for _, p := range first.Peers {
				r := row{id: p.ID, addr: p.HTTPAddr}
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
			fmt.Fprintln(tw, "NODE\tSTATE\tLEADER\tTERM\tREVISION\tCOMMIT\tSTATE HASH\tADDRESS")
			for _, r := range rows {
				if r.st == nil {
					fmt.Fprintf(tw, "%s\tunreachable\t\t\t\t\t\t%s (%v)\n", r.id, r.addr, r.err)
					continue
				}
				s := r.st
				hash := s.StateHash
				if len(hash) > 12 {
					hash = hash[:12]
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%s\t%s\n", s.NodeID, s.State, s.LeaderID, s.Term, s.Revision, s.CommitIdx, hash, r.addr)
			}
			return tw.Flush()
		},
	}
	status.Flags().BoolVar(&asJSON, "json", false, "print the nodes' answers as JSON")
	cmd.AddCommand(status)
	return cmd
}
