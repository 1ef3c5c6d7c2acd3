package main

import (
	"fmt"
	"net/http"

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
