package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/authzd/authzd/authz"
	"github.com/authzd/authzd/node"
	"github.com/authzd/authzd/transport"
)

// devSettings are the demo install's opensearch.yml security settings.
func devSettings() map[string]any {
	return map[string]any{
		"plugins.security.authcz.admin_dn":                         []any{"CN=kirk,OU=client,O=client,L=test,C=de"},
		"plugins.security.restapi.roles_enabled":                   []any{"all_access", "security_rest_api_access"},
		"plugins.security.system_indices.enabled":                  true,
		"plugins.security.system_indices.indices":                  []any{".opendistro-alerting-config", ".opendistro-ism-*", ".opendistro-reports-*", ".opensearch-notifications-*", ".opensearch-notebooks", ".opensearch-observability", ".opendistro-asynchronous-search-response*", ".replication-metadata-store"},
		"plugins.security.roles_mapping_resolution":                "MAPPING_ONLY",
		"plugins.security.check_snapshot_restore_write_privileges": true,
		"plugins.security.nodes_dn":                                []any{"CN=n*,OU=node,O=authzd"},
		"plugins.security.nodes_dn_dynamic_config_enabled":         true,
	}
}

func devCmd() *cobra.Command {
	var (
		dataDir  = filepath.Join("data", "dev")
		logLevel = "warn"
	)
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run a three-node cluster in this process with the demo configuration",
		Long: `Run three nodes on 127.0.0.1 (HTTPS 9200-9202, Raft 9300-9302, NATS clients
4222-4224 and routes 6222-6224, all TLS) with a generated CA
and the plugin's demo configuration. The first start creates DATA/certs and the
cluster; later starts reuse both. The admin password is AUTHZD_INITIAL_ADMIN_PASSWORD
or generated on the first start and kept in DATA/admin-password (mode 0600).`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := newLogger(logLevel, false)
			if err != nil {
				return err
			}
			ids := []string{"n1", "n2", "n3"}
			pki, err := transport.EnsureDevPKI(filepath.Join(dataDir, "certs"), ids)
			if err != nil {
				return err
			}
			password, err := devPassword(dataDir)
			if err != nil {
				return err
			}
			settings, apiSettings, err := settingsFrom(devSettings())
			if err != nil {
				return err
			}
			var peers []node.Peer
			for i, id := range ids {
				peers = append(peers, node.Peer{ID: id, RaftAddr: fmt.Sprintf("127.0.0.1:%d", 9300+i), HTTPAddr: fmt.Sprintf("127.0.0.1:%d", 9200+i),
					NATSRoute: fmt.Sprintf("127.0.0.1:%d", 6222+i)})
			}
			var nodes []*node.Node
			defer func() {
				for _, n := range nodes {
					if err := n.Close(); err != nil {
						log.Warn("close node", "node_id", n.ID(), "err", err)
					}
				}
			}()
			for i, id := range ids {
				tlsm, err := transport.LoadTLS(pki.CAFile, pki.NodeCertFile(id), pki.NodeKeyFile(id))
				if err != nil {
					return err
				}
				n, err := node.New(node.Config{
					ID: id, DataDir: filepath.Join(dataDir, id), HTTPAddr: peers[i].HTTPAddr, RaftAddr: peers[i].RaftAddr,
					TLS: tlsm, Settings: settings, API: apiSettings, Logger: log,
					NATS: node.NATSConfig{ClientAddr: fmt.Sprintf("127.0.0.1:%d", 4222+i), RouteAddr: peers[i].NATSRoute},
					Bootstrap: func() (*authz.Config, error) {
						hash, err := authz.HashPassword(password, apiSettings.BcryptRounds)
						if err != nil {
							return nil, err
						}
						return authz.Demo(hash), nil
					},
				})
				if err != nil {
					return err
				}
				nodes = append(nodes, n)
			}
			for _, n := range nodes {
				if err := n.Start(peers); err != nil {
					return err
				}
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			if err := waitInitialized(ctx, nodes, 30*time.Second); err != nil {
				return err
			}
			printDevBanner(cmd, peers, password, pki, dataDir)
			<-ctx.Done()
			fmt.Fprintln(cmd.OutOrStdout(), "stopping")
			return nil
		},
	}
	cmd.Flags().StringVar(&dataDir, "data-dir", dataDir, "directory for certificates and node data")
	cmd.Flags().StringVar(&logLevel, "log-level", logLevel, "debug, info, warn or error")
	return cmd
}

// devPassword returns the dev cluster's admin password: the environment's, or the
// one kept from the first start, or a new one that is kept.
func devPassword(dataDir string) (string, error) {
	if pw := os.Getenv("AUTHZD_INITIAL_ADMIN_PASSWORD"); pw != "" {
		return pw, nil
	}
	path := filepath.Join(dataDir, "admin-password")
	if b, err := os.ReadFile(path); err == nil {
		return strings.TrimSpace(string(b)), nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("read admin password: %w", err)
	}
	pw := generatePassword()
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return "", fmt.Errorf("create data dir: %w", err)
	}
	if err := os.WriteFile(path, []byte(pw+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("keep admin password: %w", err)
	}
	return pw, nil
}

func waitInitialized(ctx context.Context, nodes []*node.Node, limit time.Duration) error {
	deadline := time.After(limit)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		ready := true
		for _, n := range nodes {
			if !n.Machine().View().Initialized {
				ready = false
			}
		}
		if ready {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline:
			return fmt.Errorf("cluster not initialized after %s", limit)
		case <-tick.C:
		}
	}
}

func printDevBanner(cmd *cobra.Command, peers []node.Peer, password string, pki *transport.PKI, dataDir string) {
	w := cmd.OutOrStdout()
	fmt.Fprintln(w, "\nauthzd dev cluster is up (3 nodes, demo configuration)")
	for _, p := range peers {
		fmt.Fprintf(w, "  %s  https://%s\n", p.ID, p.HTTPAddr)
	}
	fmt.Fprintf(w, "  admin user:      admin\n  admin password:  %s\n", password)
	fmt.Fprintf(w, "  CA certificate:  %s\n", pki.CAFile)
	fmt.Fprintf(w, "  NATS:            tls://127.0.0.1:4222-4224 (mutual TLS: present a certificate of this CA)\n")
	fmt.Fprintf(w, "  super admin certificate: %s (key %s), DN CN=kirk,OU=client,O=client,L=test,C=de\n", pki.AdminCertFile(), pki.AdminKeyFile())
	fmt.Fprintf(w, "\nTry:\n  curl --cacert %s -u 'admin:%s' https://%s/_plugins/_security/api/roles/all_access\n", pki.CAFile, password, peers[0].HTTPAddr)
	fmt.Fprintf(w, "  authzctl --url https://%s --ca-file %s --cert-file %s --key-file %s cluster status\n",
		peers[0].HTTPAddr, pki.CAFile, pki.AdminCertFile(), pki.AdminKeyFile())
	fmt.Fprintf(w, "\nCtrl-C stops the cluster; its data stays in %s (rm -rf it to start over).\n", dataDir)
}
