package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"switchboard/internal/config"
)

// loadConfig reads --config, or builds the no-file default with channels
// from OPENAI_API_KEY / ANTHROPIC_API_KEY / GEMINI_API_KEY.
func loadConfig(path string) (*config.Config, error) {
	getenv := config.Getenv(os.LookupEnv)
	if path != "" {
		cfg, err := config.Load(path, getenv)
		if err != nil {
			return nil, err
		}
		return cfg, nil
	}
	cfg := config.Default()
	if err := cfg.FromEnv(getenv); err != nil {
		return nil, fmt.Errorf("channels from environment: %w", err)
	}
	if tok, ok := os.LookupEnv("SWITCHBOARD_ADMIN_TOKEN"); ok {
		cfg.Admin.Token = tok
	}
	return cfg, nil
}

func serveCmd() *cobra.Command {
	var cfgPath, addr string
	var demo bool
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the gateway",
		Long: `Run the gateway. With no --config it listens on 127.0.0.1:8080 with SQLite
under ./data/, creates channels from OPENAI_API_KEY / ANTHROPIC_API_KEY /
GEMINI_API_KEY when set, and prints an admin token and a first client key once.
--demo adds a built-in simulator channel (models sim-1, sim-1-mini) so the
API can be tried without any provider account.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(cfgPath)
			if err != nil {
				return err
			}
			if addr != "" {
				cfg.Server.Addr = addr
			}
			return serve(cmd.Context(), cfg, appOptions{
				Demo: demo, Out: cmd.OutOrStdout(), Getenv: os.LookupEnv,
				FetchAllowPrivate: os.Getenv("SWITCHBOARD_FETCH_ALLOW_PRIVATE") == "1",
			})
		},
	}
	cmd.Flags().StringVarP(&cfgPath, "config", "c", "", "configuration file (YAML)")
	cmd.Flags().StringVar(&addr, "addr", "", "listen address (overrides server.addr)")
	cmd.Flags().BoolVar(&demo, "demo", false, "add a simulator channel serving sim-1 and sim-1-mini")
	return cmd
}

// serve runs the gateway until ctx ends or SIGINT/SIGTERM, then stops it
// in order (Main.Close).
func serve(ctx context.Context, cfg *config.Config, opts appOptions) error {
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	m := NewMain(cfg, opts)
	if err := m.Run(ctx); err != nil {
		return err
	}
	select {
	case <-m.Done():
		return m.Close() // says why it stopped
	case <-ctx.Done():
	}
	// SIGTERM: stop accepting, let in-flight calls finish (they write their
	// usage to the spool), then drain the ledger into the database.
	m.app.log.Info("shutting down: draining in-flight calls")
	if err := m.Close(); err != nil {
		return err
	}
	m.app.log.Info("stopped cleanly")
	m.app.logs.Flush()
	return nil
}

// redactDSN hides a database password in logs.
func redactDSN(dsn string) string {
	for i := 0; i+3 < len(dsn); i++ {
		if dsn[i:i+3] == "://" {
			rest := dsn[i+3:]
			at := -1
			for j := 0; j < len(rest); j++ {
				if rest[j] == '@' {
					at = j
				}
				if rest[j] == '/' {
					break
				}
			}
			if at < 0 {
				return dsn
			}
			cred := rest[:at]
			for j := 0; j < len(cred); j++ {
				if cred[j] == ':' {
					return dsn[:i+3] + cred[:j] + ":***" + rest[at:]
				}
			}
			return dsn
		}
	}
	return dsn
}
