package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"

	"switchboard/internal/admin"
	"switchboard/internal/httpapi"
	"switchboard/internal/relay"
	"switchboard/internal/secret"
)

// withConsole mounts the web console beside the admin API's routes.
func (a *app) withConsole(api *admin.API, engine *relay.Engine, box *secret.Box, routes func(*http.ServeMux)) (func(*http.ServeMux), error) {
	c, err := admin.NewConsole(api, admin.ConsoleDeps{
		Sealer:            box,
		ViewerTokenHashes: admin.ViewerHashes(a.cfg.Admin, httpapi.HashKey),
		SessionTTL:        a.cfg.Admin.SessionTTL,
		Engine:            engine,
		Models:            a.router.Models,
		Prices:            a.prices,
	})
	if err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	return func(mux *http.ServeMux) {
		routes(mux)
		c.Register(mux)
	}, nil
}

// adminOnly serves the admin API and the console from h; every other path
// is not found, so the admin listener exposes no client endpoint.
func adminOnly(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		if p == "/console" || strings.HasPrefix(p, "/console/") || strings.HasPrefix(p, "/admin/") {
			h.ServeHTTP(w, r)
			return
		}
		http.NotFound(w, r)
	})
}

// startAdminListener serves the admin API and the console on admin.addr
// (when set) until the returned stop is called.
func (a *app) startAdminListener() (stop func(context.Context) error, err error) {
	addr := a.cfg.Admin.Addr
	if addr == "" {
		return func(context.Context) error { return nil }, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("admin.addr: listen on %s: %w", addr, err)
	}
	s := a.cfg.Server
	srv := &http.Server{
		Handler:           adminOnly(a.handler),
		ReadHeaderTimeout: s.ReadHeaderTimeout,
		ReadTimeout:       s.ReadTimeout,
		IdleTimeout:       s.IdleTimeout,
		MaxHeaderBytes:    1 << 20,
	}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.log.Error("admin listener stopped", "addr", addr, "err", err)
		}
	}()
	a.log.Info("admin API and console listening", "addr", "http://"+ln.Addr().String()+"/console/")
	a.adminAddr = ln.Addr().String()
	return srv.Shutdown, nil
}
