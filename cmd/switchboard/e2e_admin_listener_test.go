package main

import (
	"context"
	"net/http"
	"testing"
)

// TestAdminListenerServesOnlyAdmin: admin.addr serves the admin API and
// the console, and no client endpoint.
func TestAdminListenerServesOnlyAdmin(t *testing.T) {
	t.Parallel()
	n := startNode(t, mxSimulatorConfig+`
admin:
  token: `+consoleAdminToken+`
  addr: 127.0.0.1:0
`)
	stop, err := n.app.startAdminListener()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = stop(context.Background()) })
	base := "http://" + n.app.adminAddr
	for _, c := range []struct {
		path, auth string
		want       int
	}{
		{"/console/login", "", http.StatusOK},
		{"/admin/api/keys", "Bearer " + consoleAdminToken, http.StatusOK},
		{"/admin/api/keys", "", http.StatusUnauthorized},
		{"/v1/models", "Bearer " + testKey, http.StatusNotFound},
		{"/healthz", "", http.StatusNotFound},
	} {
		req, _ := http.NewRequest(http.MethodGet, base+c.path, nil)
		if c.auth != "" {
			req.Header.Set("Authorization", c.auth)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != c.want {
			t.Errorf("GET %s on the admin listener: %d, want %d", c.path, res.StatusCode, c.want)
		}
	}
	// The main listener keeps the console.
	res, err := http.Get(n.srv.URL + "/console/login")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Errorf("console on the main listener: %d", res.StatusCode)
	}
}
