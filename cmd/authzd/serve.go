package main

import (
	"fmt"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/authzd/authzd/authz"
	"github.com/authzd/authzd/node"
	"github.com/authzd/authzd/transport"
)

// serveFile is the YAML form of `authzd serve` options; flags override it.
type serveFile struct {
	NodeID   string `yaml:"node_id"`
	DataDir  string `yaml:"data_dir"`
	HTTPAddr string `yaml:"http_addr"`
	RaftAddr string `yaml:"raft_addr"`
	// RaftAdvertise is the Raft address peers dial; empty means this node's
	// entry in Peers when RaftAddr binds all interfaces.
	RaftAdvertise string         `yaml:"raft_advertise"`
	Peers         string         `yaml:"peers"`
	CAFile        string         `yaml:"ca_file"`
	CertFile      string         `yaml:"cert_file"`
	KeyFile       string         `yaml:"key_file"`
	Settings      map[string]any `yaml:"settings"`

	NATSURL        string `yaml:"nats_url"`
	NATSCreds      string `yaml:"nats_creds"`
	NATSCAFile     string `yaml:"nats_ca_file"`
	NATSCertFile   string `yaml:"nats_cert_file"`
	NATSKeyFile    string `yaml:"nats_key_file"`
	NATSClientAddr string `yaml:"nats_client_addr"`
	NATSRouteAddr  string `yaml:"nats_route_addr"`
	// MetricsRequireCert serves GET /metrics only to clients with a
	// certificate of the cluster CA (default: no authentication).
	MetricsRequireCert bool `yaml:"metrics_require_cert"`

	// Join lists HTTPS URLs of running members (comma separated) that a node
	// with an empty data dir asks to add it, instead of bootstrapping.
	Join string `yaml:"join"`
	// NonVoter joins as a read replica.
	NonVoter bool `yaml:"non_voter"`
}

func serveCmd() *cobra.Command {
	var (
		file              string
		f                 serveFile
		logLevel, logJSON = "info", false
	)
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run one node of an authzd cluster",
		Long: `Run one node. Peers are given as id=raft_host:port=http_host:port, comma separated,
and must include this node; a node whose data dir is empty bootstraps the cluster
with them.

To grow a running cluster, start the new node with an empty data dir, --join
https://member:9200[,more] (any member; followers forward to the leader) and
--peers naming the running members (their NATS routes seed the embedded server)
and, optionally, itself. It asks to be added as a voter (--non-voter: a read
replica), authenticating with its node certificate, and catches up from the
leader. Restarted with its data dir, it neither joins nor bootstraps again. The initial admin password comes from AUTHZD_INITIAL_ADMIN_PASSWORD
or is generated and printed once, by the node that initializes the configuration.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if file != "" {
				b, err := os.ReadFile(file)
				if err != nil {
					return fmt.Errorf("read config: %w", err)
				}
				var fromFile serveFile
				if err := yaml.Unmarshal(b, &fromFile); err != nil {
					return fmt.Errorf("parse config %s: %w", file, err)
				}
				mergeServe(&fromFile, f, cmd)
				f = fromFile
			}
			log, err := newLogger(logLevel, logJSON)
			if err != nil {
				return err
			}
			peers, err := parsePeers(f.Peers)
			if err != nil {
				return err
			}
			tlsm, err := transport.LoadTLS(f.CAFile, f.CertFile, f.KeyFile)
			if err != nil {
				return err
			}
			settings, apiSettings, err := settingsFrom(f.Settings)
			if err != nil {
				return err
			}
			natsCfg, err := natsConfig(f)
			if err != nil {
				return err
			}
			if f.RaftAdvertise == "" {
				f.RaftAdvertise = ownRaftAddr(f.NodeID, f.RaftAddr, peers)
			}
			n, err := node.New(node.Config{
				ID: f.NodeID, DataDir: f.DataDir, HTTPAddr: f.HTTPAddr, RaftAddr: f.RaftAddr, RaftAdvertise: f.RaftAdvertise, TLS: tlsm,
				Settings: settings, API: apiSettings, Logger: log, NATS: natsCfg, MetricsRequireCert: f.MetricsRequireCert,
				Join: splitList(f.Join), NonVoter: f.NonVoter,
				Bootstrap: func() (*authz.Config, error) {
					hash, err := initialAdminHash(apiSettings.BcryptRounds)
					if err != nil {
						return nil, err
					}
					return authz.Bootstrap(hash), nil
				},
			})
			if err != nil {
				return err
			}
			if err := n.Start(peers); err != nil {
				n.Close()
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			<-ctx.Done()
			log.Info("shutting down")
			return n.Close()
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&file, "config", "", "YAML file with these options (flags override it)")
	fl.StringVar(&f.NodeID, "node-id", "", "this node's id")
	fl.StringVar(&f.DataDir, "data-dir", "", "directory for the Raft log and snapshots")
	fl.StringVar(&f.HTTPAddr, "http-addr", "127.0.0.1:9200", "HTTPS listen address")
	fl.StringVar(&f.RaftAddr, "raft-addr", "127.0.0.1:9300", "Raft listen address (mutual TLS)")
	fl.StringVar(&f.RaftAdvertise, "raft-advertise", "", "Raft address other nodes dial (default: this node's entry in --peers when --raft-addr binds all interfaces)")
	fl.StringVar(&f.Peers, "peers", "", "initial cluster: id=raft_addr=http_addr[=nats_route_addr],...")
	fl.StringVar(&f.NATSURL, "nats-url", "", "external NATS cluster (comma-separated URLs) instead of the embedded server")
	fl.StringVar(&f.NATSCreds, "nats-creds", "", "NATS credentials file for --nats-url")
	fl.StringVar(&f.NATSCAFile, "nats-ca-file", "", "CA of --nats-url's servers (PEM); default: system roots for tls:// URLs")
	fl.StringVar(&f.NATSCertFile, "nats-cert-file", "", "client certificate for --nats-url (PEM)")
	fl.StringVar(&f.NATSKeyFile, "nats-key-file", "", "client key for --nats-url (PEM)")
	fl.StringVar(&f.NATSClientAddr, "nats-client-addr", "127.0.0.1:4222", "embedded NATS client listen address (mutual TLS)")
	fl.StringVar(&f.NATSRouteAddr, "nats-route-addr", "127.0.0.1:6222", "embedded NATS route listen address (mutual TLS)")
	fl.StringVar(&f.Join, "join", "", "join a running cluster through these members' HTTPS URLs (https://host:port,...) instead of bootstrapping")
	fl.BoolVar(&f.NonVoter, "non-voter", false, "with --join: join as a non-voter (read replica)")
	fl.StringVar(&f.CAFile, "ca-file", "", "cluster CA certificate (PEM)")
	fl.StringVar(&f.CertFile, "cert-file", "", "node certificate (PEM)")
	fl.StringVar(&f.KeyFile, "key-file", "", "node private key (PEM)")
	fl.BoolVar(&f.MetricsRequireCert, "metrics-require-cert", false, "serve GET /metrics only to clients with a certificate of the cluster CA (default: no authentication)")
	fl.StringVar(&logLevel, "log-level", logLevel, "debug, info, warn or error")
	fl.BoolVar(&logJSON, "log-json", logJSON, "log as JSON")
	return cmd
}

// mergeServe copies the flags the user set over the file's values.
func mergeServe(dst *serveFile, flags serveFile, cmd *cobra.Command) {
	set := func(name string, to *string, v string) {
		if cmd.Flags().Changed(name) || *to == "" {
			*to = v
		}
	}
	set("node-id", &dst.NodeID, flags.NodeID)
	set("data-dir", &dst.DataDir, flags.DataDir)
	set("http-addr", &dst.HTTPAddr, flags.HTTPAddr)
	set("raft-addr", &dst.RaftAddr, flags.RaftAddr)
	set("raft-advertise", &dst.RaftAdvertise, flags.RaftAdvertise)
	set("peers", &dst.Peers, flags.Peers)
	set("ca-file", &dst.CAFile, flags.CAFile)
	set("cert-file", &dst.CertFile, flags.CertFile)
	set("key-file", &dst.KeyFile, flags.KeyFile)
	set("nats-url", &dst.NATSURL, flags.NATSURL)
	set("nats-creds", &dst.NATSCreds, flags.NATSCreds)
	set("nats-ca-file", &dst.NATSCAFile, flags.NATSCAFile)
	set("nats-cert-file", &dst.NATSCertFile, flags.NATSCertFile)
	set("nats-key-file", &dst.NATSKeyFile, flags.NATSKeyFile)
	set("nats-client-addr", &dst.NATSClientAddr, flags.NATSClientAddr)
	set("nats-route-addr", &dst.NATSRouteAddr, flags.NATSRouteAddr)
	if cmd.Flags().Changed("metrics-require-cert") {
		dst.MetricsRequireCert = flags.MetricsRequireCert
	}
	set("join", &dst.Join, flags.Join)
	if cmd.Flags().Changed("non-voter") {
		dst.NonVoter = flags.NonVoter
	}
}

// splitList splits a comma-separated flag value, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, e := range strings.Split(s, ",") {
		if e = strings.TrimSpace(e); e != "" {
			out = append(out, e)
		}
	}
	return out
}

// natsConfig builds the node's NATS configuration from the options.
func natsConfig(f serveFile) (node.NATSConfig, error) {
	c := node.NATSConfig{URL: f.NATSURL, CredsFile: f.NATSCreds, ClientAddr: f.NATSClientAddr, RouteAddr: f.NATSRouteAddr}
	if f.NATSURL == "" {
		return c, nil
	}
	if f.NATSCAFile != "" || f.NATSCertFile != "" {
		if f.NATSCAFile == "" || f.NATSCertFile == "" || f.NATSKeyFile == "" {
			return c, fmt.Errorf("--nats-ca-file, --nats-cert-file and --nats-key-file go together")
		}
		m, err := transport.LoadTLS(f.NATSCAFile, f.NATSCertFile, f.NATSKeyFile)
		if err != nil {
			return c, fmt.Errorf("nats tls: %w", err)
		}
		c.TLS = m.ClientConfig()
	}
	return c, nil
}

// ownRaftAddr is the address to advertise for Raft: when the node binds all
// interfaces (0.0.0.0 or ::, as in a container), its own entry in the peers list.
func ownRaftAddr(id, bind string, peers []node.Peer) string {
	host, _, err := net.SplitHostPort(bind)
	if err != nil {
		return ""
	}
	if ip := net.ParseIP(host); host != "" && (ip == nil || !ip.IsUnspecified()) {
		return ""
	}
	for _, p := range peers {
		if p.ID == id {
			return p.RaftAddr
		}
	}
	return ""
}

// initialAdminHash hashes AUTHZD_INITIAL_ADMIN_PASSWORD, or a generated password
// that is printed once to stderr (never logged).
func initialAdminHash(rounds int) (string, error) {
	pw := os.Getenv("AUTHZD_INITIAL_ADMIN_PASSWORD")
	if pw == "" {
		pw = generatePassword()
		fmt.Fprintf(os.Stderr, "\nGenerated initial password for user 'admin': %s\nIt is shown only once: store it now.\n\n", pw)
	}
	return authz.HashPassword(pw, rounds)
}
