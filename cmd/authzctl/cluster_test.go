package main

import (
	"strings"
	"testing"
	"time"

	"github.com/authzd/authzd/node/nodetest"
)

// TestClusterJoinLeave adds a read replica with cluster join, sees it in
// cluster status, and removes it with cluster leave.
func TestClusterJoinLeave(t *testing.T) {
	c := nodetest.Start(t)
	i := c.AddNode(nil)
	p := c.Peers[i]
	r := ctl(t, c, "cluster", "join", "--id", p.ID, "--raft", p.RaftAddr, "--http", p.HTTPAddr, "--nats", p.NATSRoute, "--non-voter").must(t, "join")
	if !strings.Contains(r.out, "'n4' added.") || !strings.Contains(r.out, "n4    Nonvoter") {
		t.Errorf("join output:\n%s", r.out)
	}
	nodetest.Eventually(t, 15*time.Second, func() error {
		out, header, rows, err := statusTable(t, c)
		if err != nil {
			return err
		}
		if len(rows) != 4 || !strings.HasPrefix(header, "NODE  ") || !strings.Contains(header, "SUFFRAGE") {
			return errString(out)
		}
		var rev string
		for _, f := range rows {
			if f[0] == "n4" && (f[1] != "Follower" || f[2] != "Nonvoter") || f[0] != "n4" && f[2] != "Voter" {
				return errString("suffrage:\n" + out)
			}
			if rev == "" {
				rev = f[5]
			} else if f[5] != rev {
				return errString("revisions differ:\n" + out)
			}
		}
		return nil
	})
	if r := ctl(t, c, "cluster", "leave", "n9"); r.code != 1 || !strings.Contains(r.err, "404 peer 'n9' is not a member") {
		t.Errorf("leave n9: exit %d %s", r.code, r.err)
	}
	if r := ctl(t, c, "cluster", "join", "--id", "n5"); r.code != 1 || !strings.Contains(r.err, "required flag") {
		t.Errorf("join without addresses: exit %d %s", r.code, r.err)
	}
	r = ctl(t, c, "cluster", "leave", "--id", "n4").must(t, "leave")
	if !strings.Contains(r.out, "'n4' removed.") || strings.Contains(r.out, "n4 ") || strings.Count(r.out, "Voter") != 3 {
		t.Errorf("leave output:\n%s", r.out)
	}
	c.Stop(i)
}
