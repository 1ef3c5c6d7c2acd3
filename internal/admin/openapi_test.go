package admin

import (
	"bytes"
	"encoding/json"
	"flag"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/tidwall/gjson"

	"switchboard/internal/pricing"
)

var update = flag.Bool("update", false, "rewrite golden files")

// The OpenAPI file and the mux agree: every admin route is documented and
// every documented operation is a route, served at /admin/api/openapi.json
// without a token. The document is checked in (docs/admin-openapi.json) and
// must equal what is served.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	h := newHarness(t, func(d *Deps) { d.Prices = pricing.Builtin() })
	r := h.callAs("", http.MethodGet, "/admin/api/openapi.json", "")
	if r.status != http.StatusOK {
		t.Fatalf("GET openapi.json without a token: %d %s", r.status, r.raw)
	}
	if got := gjson.Get(r.raw, "openapi").String(); got != "3.1.0" {
		t.Errorf("openapi %q", got)
	}
	var documented []string
	gjson.Get(r.raw, "paths").ForEach(func(path, item gjson.Result) bool {
		item.ForEach(func(method, _ gjson.Result) bool {
			documented = append(documented, strings.ToUpper(method.String())+" "+path.String())
			return true
		})
		return true
	})
	routed := []string{"GET /admin/api/openapi.json"}
	for _, rt := range New(Deps{}).routes() {
		if rt.pattern != "/admin/api/" {
			routed = append(routed, rt.pattern)
		}
	}
	slices.Sort(documented)
	slices.Sort(routed)
	for _, p := range routed {
		if !slices.Contains(documented, p) {
			t.Errorf("route %s is not in the OpenAPI file: add it to operations (openapi.go)", p)
		}
	}
	for _, p := range documented {
		if !slices.Contains(routed, p) {
			t.Errorf("the OpenAPI file documents %s, which no route serves", p)
		}
		// ... and the mux answers it with something other than the 404 of
		// no route.
		method, path, _ := strings.Cut(p, " ")
		path = strings.NewReplacer("{id}", "1", "{index}", "0").Replace(path)
		if res := h.callAs("Bearer "+adminToken, method, path, "{}"); res.errType() == "not_found_error" && strings.Contains(res.raw, "no admin route") {
			t.Errorf("%s: the mux has no route for it", p)
		}
	}

	golden := filepath.Join("..", "..", "docs", "admin-openapi.json")
	if *update {
		if err := os.WriteFile(golden, OpenAPI(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (go test ./internal/admin -run OpenAPI -update writes it)", err)
	}
	if !bytes.Equal(want, []byte(r.raw)) {
		t.Errorf("%s is stale: go test ./internal/admin -run OpenAPI -update", golden)
	}
}

// The schemas are the wire: real answers validate against the document's
// response schemas.
func TestOpenAPISchemasDescribeAnswers(t *testing.T) {
	h := newHarness(t, func(d *Deps) { d.Prices = pricing.Builtin() })
	h.must(http.StatusCreated, http.MethodPost, "/admin/api/keys", `{"name":"alice","budget_usd":5,"models":["gpt-*"]}`)
	h.must(http.StatusCreated, http.MethodPost, "/admin/api/channels", `{"name":"oa","type":"openai","api_keys":["sk-a-0123456789"],"models":["gpt-4o"]}`)
	var doc any
	if err := json.Unmarshal(OpenAPI(), &doc); err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("openapi.json", doc); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ method, path, pointer string }{
		{"GET", "/admin/api/keys", "/paths/~1admin~1api~1keys/get/responses/200/content/application~1json/schema"},
		{"GET", "/admin/api/keys/1", "/paths/~1admin~1api~1keys~1{id}/get/responses/200/content/application~1json/schema"},
		{"GET", "/admin/api/channels", "/paths/~1admin~1api~1channels/get/responses/200/content/application~1json/schema"},
		{"GET", "/admin/api/health", "/paths/~1admin~1api~1health/get/responses/200/content/application~1json/schema"},
		{"GET", "/admin/api/usage", "/paths/~1admin~1api~1usage/get/responses/200/content/application~1json/schema"},
		{"GET", "/admin/api/usage/summary", "/paths/~1admin~1api~1usage~1summary/get/responses/200/content/application~1json/schema"},
		{"GET", "/admin/api/prices?model=gpt-4o", "/paths/~1admin~1api~1prices/get/responses/200/content/application~1json/schema"},
		{"GET", "/admin/api/keys/999", "/paths/~1admin~1api~1keys~1{id}/get/responses/default/content/application~1json/schema"},
	} {
		s, err := c.Compile("openapi.json#" + tc.pointer)
		if err != nil {
			t.Fatalf("%s: %v", tc.pointer, err)
		}
		res := h.call(tc.method, tc.path, "")
		v, err := jsonschema.UnmarshalJSON(strings.NewReader(res.raw))
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Validate(v); err != nil {
			t.Errorf("%s %s answer does not match its schema: %v\n%s", tc.method, tc.path, err, res.raw)
		}
	}
}
