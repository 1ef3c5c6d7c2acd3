package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"time"

	"switchboard/internal/config"
	"switchboard/internal/edge"
)

// closeTimeout bounds draining the ledger and closing the stores once the
// server has stopped: whatever is not stored by then stays in the spool
// for the next start.
const closeTimeout = 30 * time.Second

// Main is one gateway process: the app (stores, caches, engine and their
// background loops), the public listener and the optional pprof listener.
// Run starts everything and returns once the gateway serves; Close stops
// it in order: stop accepting and let in-flight calls finish (they record
// their usage), stop pprof, then the app's loops, drain the ledger, and
// close the stores. Nothing it starts outlives Close.
type Main struct {
	Config  *config.Config
	Options appOptions

	app      *app
	srv      *http.Server
	pprof    *http.Server
	pprofEnd chan struct{}
	// stopAdmin stops the separate admin listener (admin.addr), if any.
	stopAdmin func(context.Context) error
	served    chan struct{} // closed when the public server stops
	serveErr  error         // why it stopped
	addr      string        // scheme://host:port once Run returned
	closed    bool
}

// NewMain returns a Main for cfg; nothing runs until Run.
func NewMain(cfg *config.Config, opts appOptions) *Main {
	if opts.Out == nil {
		opts.Out = os.Stdout
	}
	return &Main{Config: cfg, Options: opts, served: make(chan struct{})}
}

// Run opens the app and starts serving. On error everything it opened is
// closed again.
func (m *Main) Run(ctx context.Context) (err error) {
	cfg := m.Config
	a, err := newApp(ctx, cfg, m.Options)
	if err != nil {
		return err
	}
	m.app = a
	defer func() {
		if err != nil {
			_ = m.Close()
		}
	}()

	ln, err := net.Listen("tcp", cfg.Server.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Server.Addr, err)
	}
	srv := &http.Server{
		Handler:           edge.StallGuard(a.handler, cfg.Server.WriteStallTimeout, cfg.Server.WriteTimeout),
		ReadHeaderTimeout: cfg.Server.ReadHeaderTimeout,
		ReadTimeout:       cfg.Server.ReadTimeout,
		WriteTimeout:      cfg.Server.WriteTimeout,
		IdleTimeout:       cfg.Server.IdleTimeout,
		MaxHeaderBytes:    1 << 20,
	}
	scheme := "http"
	if cfg.Server.TLSCertFile != "" {
		cert, err := tls.LoadX509KeyPair(cfg.Server.TLSCertFile, cfg.Server.TLSKeyFile)
		if err != nil {
			_ = ln.Close()
			return fmt.Errorf("server.tls_cert_file / server.tls_key_file: %w", err)
		}
		srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
		scheme = "https"
	} else {
		// A TLS client on the plain port gets a TLS alert it can show,
		// and the log says how to fix it.
		ln = edge.DetectTLS(ln, a.log)
	}
	if err := m.startPprof(); err != nil {
		_ = ln.Close()
		return err
	}
	if m.stopAdmin, err = a.startAdminListener(); err != nil {
		_ = ln.Close()
		return err
	}
	m.srv = srv
	m.addr = scheme + "://" + ln.Addr().String()
	go func() {
		defer close(m.served)
		if srv.TLSConfig != nil {
			m.serveErr = srv.ServeTLS(ln, "", "")
			return
		}
		m.serveErr = srv.Serve(ln)
	}()
	a.log.Info("switchboard listening", "addr", m.addr, "database", redactDSN(cfg.Storage.Database), "version", version)
	fmt.Fprintf(m.Options.Out, "Switchboard is listening on %s (OpenAI base URL: %s/v1)\n", m.addr, m.addr)
	return nil
}

// Addr is where the gateway listens, as scheme://host:port.
func (m *Main) Addr() string { return m.addr }

// Done is closed when the public server stops, by Close or by itself
// (Close then reports why).
func (m *Main) Done() <-chan struct{} { return m.served }

// Close stops the gateway in order and returns the first problems met.
func (m *Main) Close() error {
	if m.closed {
		return nil
	}
	m.closed = true
	var errs []error
	if m.srv != nil {
		// In-flight calls finish and record their usage; new ones are
		// refused.
		ctx, cancel := context.WithTimeout(context.Background(), m.Config.Server.ShutdownTimeout)
		if err := m.srv.Shutdown(ctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
			m.app.log.Warn("shutdown incomplete: in-flight calls cut", "err", err)
			_ = m.srv.Close()
		}
		cancel()
		<-m.served
		if err := m.serveErr; err != nil && !errors.Is(err, http.ErrServerClosed) {
			errs = append(errs, fmt.Errorf("serve: %w", err))
		}
	}
	if m.stopAdmin != nil {
		ctx, cancel := context.WithTimeout(context.Background(), m.Config.Server.ShutdownTimeout)
		if err := m.stopAdmin(ctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errs = append(errs, fmt.Errorf("admin listener: %w", err))
		}
		cancel()
	}
	if m.pprof != nil {
		_ = m.pprof.Close()
		<-m.pprofEnd
	}
	if m.app != nil {
		ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
		if err := m.app.Close(ctx); err != nil {
			errs = append(errs, fmt.Errorf("close: %w", err))
		}
		cancel()
	}
	return errors.Join(errs...)
}

// startPprof serves net/http/pprof on its own listener, only when
// SWITCHBOARD_PPROF_ADDR is set and only on a loopback address: profiles
// expose internals and must never share the public port.
func (m *Main) startPprof() error {
	addr, _ := m.getenv("SWITCHBOARD_PPROF_ADDR")
	if addr == "" {
		return nil
	}
	log := m.app.log
	host, _, err := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		log.Warn("SWITCHBOARD_PPROF_ADDR must be a loopback host:port; profiling not started", "addr", addr)
		return nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("SWITCHBOARD_PPROF_ADDR: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	m.pprof = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	m.pprofEnd = make(chan struct{})
	go func() {
		defer close(m.pprofEnd)
		if err := m.pprof.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Warn("pprof listener stopped", "err", err)
		}
	}()
	log.Info("pprof listening", "addr", "http://"+ln.Addr().String()+"/debug/pprof/")
	return nil
}

func (m *Main) getenv(name string) (string, bool) {
	if m.Options.Getenv == nil {
		return "", false
	}
	return m.Options.Getenv(name)
}
