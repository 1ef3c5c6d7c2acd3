package admin

import (
	"encoding/json"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"
)

// operation documents one admin route for the OpenAPI file. Request and
// response schemas are derived from the Go types the handlers decode and
// encode, so the document cannot drift from the wire.
type operation struct {
	method, path, summary string
	query                 []param
	body                  any // the request body's Go type (nil: none)
	optionalBody          bool
	status                int
	resp                  any // the answer's Go type
}

type param struct{ name, desc, typ string }

var (
	filterQuery = []param{
		{"key_id", "only this client key", "integer"}, {"channel_id", "only this channel", "integer"},
		{"model", "only this client-facing model", "string"}, {"status", "200, 4xx, 5xx or error", "string"},
		{"since", "from this time (RFC 3339)", "string"}, {"until", "until this time (RFC 3339)", "string"},
		{"format", "json (default) or csv", "string"},
	}
	idPath = param{"id", "the object's id", "integer"}
)

// operations is every route Register mounts; TestOpenAPIMatchesRoutes
// holds the two lists together.
var operations = []operation{
	{method: "GET", path: "/admin/api/keys", summary: "List client keys (prefix only, never the secret)", resp: list[keyJSON]{}},
	{method: "POST", path: "/admin/api/keys", summary: "Create a client key; the answer carries the secret, once", body: keyPatch{}, status: 201, resp: keyJSON{}},
	{method: "GET", path: "/admin/api/keys/{id}", summary: "One client key", resp: keyJSON{}},
	{method: "PATCH", path: "/admin/api/keys/{id}", summary: "Partial update (absent or null fields are unchanged)", body: keyPatch{}, resp: keyJSON{}},
	{method: "DELETE", path: "/admin/api/keys/{id}", summary: "Delete a client key (its ledger rows stay)", resp: deleted{}},
	{method: "POST", path: "/admin/api/keys/{id}/disable", summary: "Disable a client key", resp: keyJSON{}},
	{method: "POST", path: "/admin/api/keys/{id}/enable", summary: "Enable a client key", resp: keyJSON{}},

	{method: "GET", path: "/admin/api/channels", summary: "List channels (upstream keys masked)", resp: list[channelJSON]{}},
	{method: "POST", path: "/admin/api/channels", summary: "Create a channel", body: channelPatch{}, status: 201, resp: channelJSON{}},
	{method: "GET", path: "/admin/api/channels/{id}", summary: "One channel", resp: channelJSON{}},
	{method: "PATCH", path: "/admin/api/channels/{id}", summary: "Partial update, validated like the config file", body: channelPatch{}, resp: channelJSON{}},
	{method: "DELETE", path: "/admin/api/channels/{id}", summary: "Delete a channel", resp: deleted{}},
	{method: "POST", path: "/admin/api/channels/{id}/disable", summary: "Disable a channel", resp: channelJSON{}},
	{method: "POST", path: "/admin/api/channels/{id}/enable", summary: "Enable a channel", resp: channelJSON{}},
	{method: "POST", path: "/admin/api/channels/{id}/keys/{index}/enable", summary: "Put an upstream key taken out of rotation back in", resp: keyHealthJSON{}},

	{method: "GET", path: "/admin/api/health", summary: "Circuit state and upstream key states of every channel", resp: list[channelHealthJSON]{}},
	{method: "GET", path: "/admin/api/usage", summary: "Ledger records, newest first, keyset-paginated (or CSV with format=csv)",
		query: append(append([]param(nil), filterQuery...), param{"limit", "records per page (default 100)", "integer"}, param{"cursor", "next_cursor of the previous page", "string"}),
		resp:  usagePage{}},
	{method: "GET", path: "/admin/api/usage/summary", summary: "Totals by key and model, or by group_by",
		query: append(append([]param(nil), filterQuery...), param{"group_by", "comma-separated: key, model, channel, day, hour", "string"}),
		resp:  summaryJSON{}},
	{method: "GET", path: "/admin/api/prices", summary: "The price table in effect and the models routed without a price",
		query: []param{{"model", "only names containing this", "string"}, {"operator", "true: only the operator's prices", "boolean"}},
		resp:  pricesJSON{}},
	{method: "GET", path: "/admin/api/tasks", summary: "The newest asynchronous tasks (Midjourney, video) of every key: state, owner, hold and price",
		query: []param{{"limit", "tasks to list, 1 to 1000 (default 100)", "integer"}},
		resp:  list[taskJSON]{}},
	{method: "POST", path: "/admin/api/channels/{id}/test", summary: "Send a real minimal chat call to one channel (billed, key name admin:test) and report latency, TTFT and the answer",
		body: testRequest{}, optionalBody: true, resp: ChannelTest{}},
	{method: "GET", path: "/admin/api/openapi.json", summary: "This document (no token needed)", resp: map[string]any{}},
}

var (
	openAPIOnce sync.Once
	openAPIDoc  []byte
)

// OpenAPI is the admin REST API as an OpenAPI 3.1 document.
func OpenAPI() []byte {
	openAPIOnce.Do(func() {
		openAPIDoc, _ = json.MarshalIndent(buildOpenAPI(), "", "  ")
		openAPIDoc = append(openAPIDoc, '\n')
	})
	return openAPIDoc
}

func (a *API) openAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(OpenAPI())
}

type obj = map[string]any

func buildOpenAPI() obj {
	errSchema := obj{"type": "object", "required": []string{"error"}, "properties": obj{"error": obj{
		"type": "object", "required": []string{"message", "type"},
		"properties": obj{"message": obj{"type": "string"}, "type": obj{"type": "string"}},
	}}}
	paths := obj{}
	for _, op := range operations {
		item, _ := paths[op.path].(obj)
		if item == nil {
			item = obj{}
			paths[op.path] = item
		}
		var params []obj
		for _, name := range pathParams(op.path) {
			p := idPath
			if name == "index" {
				p = param{"index", "the upstream key's index in the channel's api_keys", "integer"}
			}
			params = append(params, obj{"name": p.name, "in": "path", "required": true, "description": p.desc, "schema": obj{"type": p.typ}})
		}
		for _, q := range op.query {
			params = append(params, obj{"name": q.name, "in": "query", "description": q.desc, "schema": obj{"type": q.typ}})
		}
		status := op.status
		if status == 0 {
			status = 200
		}
		o := obj{
			"summary":     op.summary,
			"operationId": operationID(op),
			"responses": obj{
				itoa(status): obj{"description": "success", "content": obj{"application/json": obj{"schema": schemaOf(reflect.TypeOf(op.resp))}}},
				"default":    obj{"description": "an error in the admin shape", "content": obj{"application/json": obj{"schema": errSchema}}},
			},
		}
		if op.path == "/admin/api/openapi.json" {
			o["security"] = []obj{}
		}
		if len(params) > 0 {
			o["parameters"] = params
		}
		if op.body != nil {
			o["requestBody"] = obj{"required": !op.optionalBody, "content": obj{"application/json": obj{"schema": schemaOf(reflect.TypeOf(op.body))}}}
		}
		item[strings.ToLower(op.method)] = o
	}
	return obj{
		"openapi": "3.1.0",
		"info": obj{"title": "Switchboard admin API", "version": "1",
			"description": "Manage client keys and channels, read health, usage and prices. Every route but this document needs the admin token as a Bearer token. Money is exact in *_nano_usd fields (1e-9 USD); *_usd fields are for display."},
		"components": obj{"securitySchemes": obj{"adminToken": obj{"type": "http", "scheme": "bearer"}}},
		"security":   []obj{{"adminToken": []string{}}},
		"paths":      paths,
	}
}

func pathParams(path string) []string {
	var out []string
	for _, seg := range strings.Split(path, "/") {
		if strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") {
			out = append(out, seg[1:len(seg)-1])
		}
	}
	return out
}

func operationID(op operation) string {
	var b strings.Builder
	b.WriteString(strings.ToLower(op.method))
	for _, seg := range strings.Split(strings.TrimPrefix(op.path, "/admin/api/"), "/") {
		seg = strings.Trim(seg, "{}")
		seg = strings.NewReplacer(".", "_").Replace(seg)
		if seg == "" {
			continue
		}
		b.WriteString(strings.ToUpper(seg[:1]) + seg[1:])
	}
	return b.String()
}

func itoa(n int) string { return strconv.Itoa(n) }

var timeType = reflect.TypeOf(time.Time{})

// schemaOf is the JSON Schema of what encoding/json makes of t.
func schemaOf(t reflect.Type) obj {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == timeType {
		return obj{"type": "string", "format": "date-time"}
	}
	switch t.Kind() {
	case reflect.String:
		return obj{"type": "string"}
	case reflect.Bool:
		return obj{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return obj{"type": "integer"}
	case reflect.Float32, reflect.Float64:
		return obj{"type": "number"}
	case reflect.Slice, reflect.Array:
		return obj{"type": "array", "items": schemaOf(t.Elem())}
	case reflect.Map:
		return obj{"type": "object", "additionalProperties": schemaOf(t.Elem())}
	case reflect.Interface:
		return obj{}
	case reflect.Struct:
		props, required := obj{}, []string{}
		structFields(t, props, &required)
		s := obj{"type": "object", "properties": props, "additionalProperties": false}
		if len(required) > 0 {
			s["required"] = required
		}
		return s
	}
	return obj{}
}

func structFields(t reflect.Type, props obj, required *[]string) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			structFields(ft, props, required)
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		props[name] = schemaOf(f.Type)
		if !strings.Contains(opts, "omitempty") && f.Type.Kind() != reflect.Pointer {
			*required = append(*required, name)
		}
	}
}
