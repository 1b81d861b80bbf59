package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/spf13/cobra"
)

// healthCmd checks a node's /_plugins/_security/health. Container images are
// FROM scratch, without a shell or curl, so probes run the binary itself.
func healthCmd() *cobra.Command {
	var (
		url, caFile, mode string
		timeout           = 5 * time.Second
	)
	cmd := &cobra.Command{
		Use:   "health",
		Short: "Exit 0 when a node reports UP on /_plugins/_security/health (for container probes)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			tlsConf := &tls.Config{MinVersion: tls.VersionTLS12}
			if caFile != "" {
				pem, err := os.ReadFile(caFile)
				if err != nil {
					return fmt.Errorf("read CA: %w", err)
				}
				pool := x509.NewCertPool()
				if !pool.AppendCertsFromPEM(pem) {
					return fmt.Errorf("%s holds no PEM certificate", caFile)
				}
				tlsConf.RootCAs = pool
			}
			client := &http.Client{Timeout: timeout, Transport: &http.Transport{TLSClientConfig: tlsConf}}
			resp, err := client.Get(url + "/_plugins/_security/health?mode=" + mode)
			if err != nil {
				return fmt.Errorf("health: %w", err)
			}
			defer resp.Body.Close()
			var body struct {
				Status  string  `json:"status"`
				Message *string `json:"message"`
			}
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
			if err := json.Unmarshal(b, &body); err != nil {
				return fmt.Errorf("health: %d %s", resp.StatusCode, b)
			}
			if body.Status != "UP" {
				msg := ""
				if body.Message != nil {
					msg = *body.Message
				}
				return fmt.Errorf("health: %s (%s)", body.Status, msg)
			}
			fmt.Fprintln(cmd.OutOrStdout(), "UP")
			return nil
		},
	}
	cmd.Flags().StringVar(&url, "url", "https://127.0.0.1:9200", "node URL")
	cmd.Flags().StringVar(&caFile, "ca-file", "", "cluster CA certificate (PEM); system roots when empty")
	cmd.Flags().StringVar(&mode, "mode", "strict", "strict (DOWN until initialized and while no leader is known) or lenient")
	cmd.Flags().DurationVar(&timeout, "timeout", timeout, "request timeout")
	return cmd
}
