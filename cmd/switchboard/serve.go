package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"switchboard/internal/config"
	"switchboard/internal/edge"
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

func serve(ctx context.Context, cfg *config.Config, opts appOptions) error {
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	a, err := newApp(ctx, cfg, opts)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Server.Addr)
	if err != nil {
		_ = a.Close(context.Background())
		return fmt.Errorf("listen on %s: %w", cfg.Server.Addr, err)
	}
	srv := &http.Server{
		Handler:           edge.StallGuard(a.handler, cfg.Server.WriteStallTimeout, cfg.Server.WriteTimeout),
		ReadHeaderTimeout: cfg.Server.ReadHeaderTimeout,
		ReadTimeout:       cfg.Server.ReadTimeout,
		WriteTimeout:      cfg.Server.WriteTimeout,
		IdleTimeout:       cfg.Server.IdleTimeout,
		MaxHeaderBytes:    1 << 20,
		ErrorLog:          nil,
	}
	scheme := "http"
	if cfg.Server.TLSCertFile != "" {
		cert, err := tls.LoadX509KeyPair(cfg.Server.TLSCertFile, cfg.Server.TLSKeyFile)
		if err != nil {
			_ = ln.Close()
			_ = a.Close(context.Background())
			return fmt.Errorf("server.tls_cert_file / server.tls_key_file: %w", err)
		}
		srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
		scheme = "https"
	} else {
		// A TLS client on the plain port gets a TLS alert it can show,
		// and the log says how to fix it.
		ln = edge.DetectTLS(ln, a.log)
	}
	a.log.Info("switchboard listening", "addr", scheme+"://"+ln.Addr().String(), "database", redactDSN(cfg.Storage.Database), "version", version)
	fmt.Fprintf(opts.Out, "Switchboard is listening on %s://%s (OpenAI base URL: %s://%s/v1)\n", scheme, ln.Addr(), scheme, ln.Addr())

	stopAdmin, err := a.startAdminListener()
	if err != nil {
		_ = ln.Close()
		_ = a.Close(context.Background())
		return err
	}
	if addr := os.Getenv("SWITCHBOARD_PPROF_ADDR"); addr != "" {
		startPprof(addr, a.log)
	}
	errc := make(chan error, 1)
	go func() {
		if srv.TLSConfig != nil {
			errc <- srv.ServeTLS(ln, "", "")
			return
		}
		errc <- srv.Serve(ln)
	}()
	select {
	case err := <-errc:
		_ = stopAdmin(context.Background())
		_ = a.Close(context.Background())
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	// SIGTERM: stop accepting, let in-flight calls finish (they write their
	// usage to the spool), then drain the ledger into the database.
	a.log.Info("shutting down: draining in-flight calls")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.Server.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		a.log.Warn("shutdown incomplete", "err", err)
	}
	_ = stopAdmin(shutdownCtx)
	closeCtx, cancel2 := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel2()
	if err := a.Close(closeCtx); err != nil {
		return fmt.Errorf("close: %w", err)
	}
	a.log.Info("stopped cleanly")
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

// startPprof serves net/http/pprof on its own listener, only when
// SWITCHBOARD_PPROF_ADDR is set and only on a loopback address: profiles
// expose internals and must never share the public port.
func startPprof(addr string, log *slog.Logger) {
	host, _, err := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		log.Warn("SWITCHBOARD_PPROF_ADDR must be a loopback host:port; profiling not started", "addr", addr)
		return
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	go func() {
		srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		if err := srv.ListenAndServe(); err != nil {
			log.Warn("pprof listener stopped", "err", err)
		}
	}()
	log.Info("pprof listening", "addr", "http://"+addr+"/debug/pprof/")
}
