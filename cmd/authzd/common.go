package main

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/authzd/authzd/authz"
	"github.com/authzd/authzd/node"
	"github.com/authzd/authzd/node/api"
)

// newLogger builds the process logger; only cmd/ calls slog.SetDefault.
func newLogger(level string, json bool) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log level %q: %w", level, err)
	}
	opts := &slog.HandlerOptions{Level: l}
	var h slog.Handler = slog.NewTextHandler(os.Stderr, opts)
	if json {
		h = slog.NewJSONHandler(os.Stderr, opts)
	}
	log := slog.New(h)
	slog.SetDefault(log)
	return log, nil
}

// generatePassword returns a random password that passes the default policy.
func generatePassword() string {
	b := make([]byte, 18)
	_, _ = rand.Read(b)
	return "Az9!" + base64.RawURLEncoding.EncodeToString(b)
}

// settingsFrom splits flat opensearch.yml-style settings into the decision
// settings and the REST API settings, and logs the REST settings the plugin
// would skip with a log line.
func settingsFrom(flat map[string]any) (authz.Settings, api.Settings, error) {
	s, err := authz.ParseSettings(flat)
	if err != nil {
		return authz.Settings{}, api.Settings{}, fmt.Errorf("settings: %w", err)
	}
	as, err := api.NewSettings(flat)
	if err != nil {
		return authz.Settings{}, api.Settings{}, fmt.Errorf("settings: %w", err)
	}
	for _, w := range as.Warnings {
		slog.Warn("setting skipped", "reason", w)
	}
	return s, as, nil
}

// parsePeers reads "id=raft_addr=http_addr[=nats_route_addr]" entries
// separated by commas.
func parsePeers(s string) ([]node.Peer, error) {
	var peers []node.Peer
	for _, e := range strings.Split(s, ",") {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		parts := strings.Split(e, "=")
		if (len(parts) != 3 && len(parts) != 4) || parts[0] == "" || parts[1] == "" || parts[2] == "" {
			return nil, fmt.Errorf("peer %q: want id=raft_host:port=http_host:port[=nats_route_host:port]", e)
		}
		p := node.Peer{ID: parts[0], RaftAddr: parts[1], HTTPAddr: parts[2]}
		if len(parts) == 4 {
			p.NATSRoute = parts[3]
		}
		peers = append(peers, p)
	}
	return peers, nil
}
