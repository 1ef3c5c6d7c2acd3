package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/tidwall/gjson"
)

// adminFlags say which running gateway the CLI talks to: --url and
// --token, else SWITCHBOARD_ADMIN_URL and SWITCHBOARD_ADMIN_TOKEN; and how
// it prints answers (-o table or json).
type adminFlags struct {
	url, token, output string
}

func (f *adminFlags) register(cmd *cobra.Command) {
	cmd.PersistentFlags().StringVar(&f.url, "url", "", "the gateway's base URL (default $SWITCHBOARD_ADMIN_URL)")
	cmd.PersistentFlags().StringVar(&f.token, "token", "", "admin token (default $SWITCHBOARD_ADMIN_TOKEN)")
	cmd.PersistentFlags().StringVarP(&f.output, "output", "o", "table", "output: table or json")
}

// baseURL is the gateway's URL from the flag or the environment ("" when
// neither is set).
func (f *adminFlags) baseURL() string {
	if f.url != "" {
		return f.url
	}
	return os.Getenv("SWITCHBOARD_ADMIN_URL")
}

func (f *adminFlags) client() (*adminClient, error) {
	base := strings.TrimRight(f.baseURL(), "/")
	if base == "" {
		return nil, fmt.Errorf("no gateway: pass --url or set SWITCHBOARD_ADMIN_URL (e.g. http://127.0.0.1:8080)")
	}
	if u, err := url.Parse(base); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("gateway URL %q: want http(s)://host:port", base)
	}
	tok := f.token
	if tok == "" {
		tok = os.Getenv("SWITCHBOARD_ADMIN_TOKEN")
	}
	if tok == "" {
		return nil, fmt.Errorf("no admin token: pass --token or set SWITCHBOARD_ADMIN_TOKEN")
	}
	switch f.output {
	case "table", "json":
	default:
		return nil, fmt.Errorf("--output %q: want table or json", f.output)
	}
	return &adminClient{base: base, token: tok, json: f.output == "json", hc: &http.Client{Timeout: 2 * time.Minute}}, nil
}

// adminClient calls a gateway's admin REST API.
type adminClient struct {
	base, token string
	json        bool
	hc          *http.Client
}

// do sends one request and returns the answer's body; an answer that is
// not a 2xx becomes an error carrying the API's message.
func (c *adminClient) do(ctx context.Context, method, path string, q url.Values, body any) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	u := c.base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		msg := gjson.GetBytes(b, "error.message").String()
		if msg == "" {
			msg = strings.TrimSpace(string(b))
		}
		return nil, fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, msg)
	}
	return b, nil
}

// column is one column of a table: a header and a gjson path in a row.
type column struct{ head, path string }

// print writes an answer as indented JSON, or as a table of the rows at
// rowsPath ("" : the answer is one row).
func (c *adminClient) print(w io.Writer, body []byte, rowsPath string, cols []column) error {
	if c.json {
		var out bytes.Buffer
		if err := json.Indent(&out, body, "", "  "); err != nil {
			return err
		}
		out.WriteByte('\n')
		_, err := w.Write(out.Bytes())
		return err
	}
	rows := []gjson.Result{gjson.ParseBytes(body)}
	if rowsPath != "" {
		rows = gjson.GetBytes(body, rowsPath).Array()
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	heads := make([]string, len(cols))
	for i, col := range cols {
		heads[i] = col.head
	}
	fmt.Fprintln(tw, strings.Join(heads, "\t"))
	for _, r := range rows {
		cells := make([]string, len(cols))
		for i, col := range cols {
			cells[i] = cell(r.Get(col.path))
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	return tw.Flush()
}

func cell(v gjson.Result) string {
	switch {
	case !v.Exists() || v.Type == gjson.Null:
		return "-"
	case v.IsArray():
		var parts []string
		for _, e := range v.Array() {
			parts = append(parts, e.String())
		}
		return strings.Join(parts, ",")
	case v.Type == gjson.Number && strings.ContainsAny(v.Raw, ".eE"):
		return strconv.FormatFloat(v.Float(), 'f', -1, 64)
	}
	return v.String()
}

// apiCommand is a leaf command that runs against the admin API.
func apiCommand(f *adminFlags, use, short string, args cobra.PositionalArgs, run func(cmd *cobra.Command, c *adminClient, args []string) error) *cobra.Command {
	return &cobra.Command{
		Use: use, Short: short, Args: args,
		RunE: func(cmd *cobra.Command, a []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			return run(cmd, c, a)
		},
	}
}

func idArg(s string) (string, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return "", fmt.Errorf("id %q: want a positive number", s)
	}
	return strconv.FormatInt(id, 10), nil
}

// postID runs POST|DELETE path(id) and prints the one object answered.
func postID(f *adminFlags, use, short, method string, path func(id string) string, cols []column) *cobra.Command {
	return apiCommand(f, use+" ID", short, cobra.ExactArgs(1), func(cmd *cobra.Command, c *adminClient, args []string) error {
		id, err := idArg(args[0])
		if err != nil {
			return err
		}
		b, err := c.do(cmd.Context(), method, path(id), nil, nil)
		if err != nil {
			return err
		}
		if len(bytes.TrimSpace(b)) == 0 {
			fmt.Fprintf(cmd.OutOrStdout(), "%s %s: done\n", use, id)
			return nil
		}
		return c.print(cmd.OutOrStdout(), b, "", cols)
	})
}

var channelCols = []column{{"ID", "id"}, {"NAME", "name"}, {"TYPE", "type"}, {"ENABLED", "enabled"}, {"PRIORITY", "priority"},
	{"WEIGHT", "weight"}, {"KEYS", "api_key_count"}, {"MODELS", "models"}}

func channelsCmd() *cobra.Command {
	f := &adminFlags{}
	cmd := &cobra.Command{Use: "channels", Short: "Manage upstream channels of a running gateway (admin API)"}
	f.register(cmd)
	path := func(id string) string { return "/admin/api/channels/" + id }
	cmd.AddCommand(
		apiCommand(f, "list", "List channels (upstream keys masked)", cobra.NoArgs, func(cmd *cobra.Command, c *adminClient, _ []string) error {
			b, err := c.do(cmd.Context(), http.MethodGet, "/admin/api/channels", nil, nil)
			if err != nil {
				return err
			}
			return c.print(cmd.OutOrStdout(), b, "data", channelCols)
		}),
		postID(f, "get", "Show one channel", http.MethodGet, path, channelCols),
		postID(f, "enable", "Enable a channel", http.MethodPost, func(id string) string { return path(id) + "/enable" }, channelCols),
		postID(f, "disable", "Disable a channel", http.MethodPost, func(id string) string { return path(id) + "/disable" }, channelCols),
		postID(f, "delete", "Delete a channel", http.MethodDelete, path, channelCols),
		channelTestCmd(f),
		apiCommand(f, "health", "Circuit state and upstream key states of every channel", cobra.NoArgs, func(cmd *cobra.Command, c *adminClient, _ []string) error {
			b, err := c.do(cmd.Context(), http.MethodGet, "/admin/api/health", nil, nil)
			if err != nil {
				return err
			}
			return c.print(cmd.OutOrStdout(), b, "data", []column{{"ID", "channel_id"}, {"NAME", "name"}, {"STATE", "state"}, {"FAILURES", "failures"}, {"LAST_ERROR", "last_error"}})
		}),
	)
	return cmd
}

// channelTestCmd sends a real minimal call to one channel.
func channelTestCmd(f *adminFlags) *cobra.Command {
	var model string
	cmd := apiCommand(f, "test ID", "Send a real minimal chat call to a channel (billed as admin:test) and show latency and the answer", cobra.ExactArgs(1),
		func(cmd *cobra.Command, c *adminClient, args []string) error {
			id, err := idArg(args[0])
			if err != nil {
				return err
			}
			var body map[string]string
			if model != "" {
				body = map[string]string{"model": model}
			}
			b, err := c.do(cmd.Context(), http.MethodPost, "/admin/api/channels/"+id+"/test", nil, body)
			if err != nil {
				return err
			}
			if err := c.print(cmd.OutOrStdout(), b, "", []column{{"CHANNEL", "channel"}, {"MODEL", "model"}, {"OK", "ok"}, {"LATENCY_MS", "latency_ms"},
				{"TTFT_MS", "ttft_ms"}, {"IN", "input_tokens"}, {"OUT", "output_tokens"}, {"ANSWER", "answer"}, {"ERROR", "error"}}); err != nil {
				return err
			}
			if !gjson.GetBytes(b, "ok").Bool() {
				return fmt.Errorf("channel %s failed its test: %s", id, gjson.GetBytes(b, "error").String())
			}
			return nil
		})
	cmd.Flags().StringVar(&model, "model", "", "the model to ask (default: the channel's first)")
	return cmd
}

var keyCols = []column{{"ID", "id"}, {"NAME", "name"}, {"PREFIX", "prefix"}, {"ENABLED", "enabled"}, {"MODELS", "models"},
	{"BUDGET_USD", "budget_usd"}, {"SPENT_USD", "spent_usd"}, {"PERIOD", "budget_period"}, {"RPM", "rpm"}, {"TPM", "tpm"}}

// keysAPI turns the keys command's subcommands to the admin API when a
// gateway URL is given (--url or SWITCHBOARD_ADMIN_URL) and no --config:
// with --config (or neither) they work on the database as before.
func keysAPI(cmd *cobra.Command, cfgPath *string) {
	f := &adminFlags{}
	f.register(cmd)
	useAPI := func() bool { return *cfgPath == "" && f.baseURL() != "" }
	runs := map[string]func(cmd *cobra.Command, c *adminClient, args []string) error{
		"list": func(cmd *cobra.Command, c *adminClient, _ []string) error {
			b, err := c.do(cmd.Context(), http.MethodGet, "/admin/api/keys", nil, nil)
			if err != nil {
				return err
			}
			return c.print(cmd.OutOrStdout(), b, "data", keyCols)
		},
		"create": func(cmd *cobra.Command, c *adminClient, args []string) error {
			fl := cmd.Flags()
			body := map[string]any{"name": args[0]}
			if fl.Changed("models") {
				body["models"], _ = fl.GetStringSlice("models")
			}
			if fl.Changed("budget-usd") {
				body["budget_usd"], _ = fl.GetFloat64("budget-usd")
			}
			if fl.Changed("budget-period") {
				body["budget_period"], _ = fl.GetString("budget-period")
			}
			if fl.Changed("rpm") {
				body["rpm"], _ = fl.GetInt("rpm")
			}
			if fl.Changed("tpm") {
				body["tpm"], _ = fl.GetInt("tpm")
			}
			b, err := c.do(cmd.Context(), http.MethodPost, "/admin/api/keys", nil, body)
			if err != nil {
				return err
			}
			if c.json {
				return c.print(cmd.OutOrStdout(), b, "", nil)
			}
			r := gjson.ParseBytes(b)
			fmt.Fprintf(cmd.OutOrStdout(), "Created key %q (id %d): %s\n", r.Get("name").String(), r.Get("id").Int(), r.Get("key").String())
			return nil
		},
	}
	for _, sub := range cmd.Commands() {
		name := sub.Name()
		run, ok := runs[name]
		if !ok && name != "enable" && name != "disable" {
			continue
		}
		if !ok {
			action := name
			run = func(cmd *cobra.Command, c *adminClient, args []string) error {
				id, err := idArg(args[0])
				if err != nil {
					return err
				}
				b, err := c.do(cmd.Context(), http.MethodPost, "/admin/api/keys/"+id+"/"+action, nil, nil)
				if err != nil {
					return err
				}
				return c.print(cmd.OutOrStdout(), b, "", keyCols)
			}
		}
		local := sub.RunE
		sub.RunE = func(cmd *cobra.Command, args []string) error {
			if !useAPI() {
				return local(cmd, args)
			}
			c, err := f.client()
			if err != nil {
				return err
			}
			return run(cmd, c, args)
		}
	}
	cmd.AddCommand(
		apiCommand(f, "get ID", "Show one key (admin API)", cobra.ExactArgs(1), func(cmd *cobra.Command, c *adminClient, args []string) error {
			id, err := idArg(args[0])
			if err != nil {
				return err
			}
			b, err := c.do(cmd.Context(), http.MethodGet, "/admin/api/keys/"+id, nil, nil)
			if err != nil {
				return err
			}
			return c.print(cmd.OutOrStdout(), b, "", keyCols)
		}),
		postID(f, "delete", "Delete a key; its ledger rows stay (admin API)", http.MethodDelete, func(id string) string { return "/admin/api/keys/" + id }, keyCols),
	)
}

// usageFilters are the ledger filters of the usage commands.
type usageFilters struct {
	keyID, channelID            int64
	model, status, since, until string
}

func (u *usageFilters) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.Int64Var(&u.keyID, "key-id", 0, "only this client key")
	fl.Int64Var(&u.channelID, "channel-id", 0, "only this channel")
	fl.StringVar(&u.model, "model", "", "only this model (as the client asked)")
	fl.StringVar(&u.status, "status", "", "only this status: 200, 4xx, 5xx, error")
	fl.StringVar(&u.since, "since", "", "from this time (RFC 3339, or a duration back from now: 24h)")
	fl.StringVar(&u.until, "until", "", "until this time (RFC 3339 or a duration back from now)")
}

func (u *usageFilters) query() url.Values {
	q := url.Values{}
	if u.keyID > 0 {
		q.Set("key_id", strconv.FormatInt(u.keyID, 10))
	}
	if u.channelID > 0 {
		q.Set("channel_id", strconv.FormatInt(u.channelID, 10))
	}
	for name, v := range map[string]string{"model": u.model, "status": u.status, "since": relTime(u.since), "until": relTime(u.until)} {
		if v != "" {
			q.Set(name, v)
		}
	}
	return q
}

// relTime turns "24h" into the RFC 3339 time that long ago.
func relTime(v string) string {
	if d, err := time.ParseDuration(v); err == nil && d > 0 {
		return time.Now().Add(-d).UTC().Format(time.RFC3339)
	}
	return v
}

func usageCmd() *cobra.Command {
	f := &adminFlags{}
	cmd := &cobra.Command{Use: "usage", Short: "Query the usage ledger of a running gateway (admin API)"}
	f.register(cmd)
	var lf usageFilters
	var limit int
	var all bool
	list := apiCommand(f, "list", "List calls, newest first", cobra.NoArgs, func(cmd *cobra.Command, c *adminClient, _ []string) error {
		q := lf.query()
		q.Set("limit", strconv.Itoa(limit))
		cols := []column{{"TIME", "time"}, {"REQUEST_ID", "request_id"}, {"KEY", "key_name"}, {"MODEL", "model"}, {"CHANNEL", "channel_name"},
			{"STATUS", "status"}, {"IN", "usage.input_tokens"}, {"OUT", "usage.output_tokens"}, {"PRICE_USD", "price_usd"}, {"LATENCY_MS", "latency_ms"}, {"TTFT_MS", "ttft_ms"}}
		for {
			b, err := c.do(cmd.Context(), http.MethodGet, "/admin/api/usage", q, nil)
			if err != nil {
				return err
			}
			if err := c.print(cmd.OutOrStdout(), b, "data", cols); err != nil {
				return err
			}
			next := gjson.GetBytes(b, "next_cursor").String()
			if !all || !gjson.GetBytes(b, "has_more").Bool() || next == "" {
				return nil
			}
			q.Set("cursor", next)
		}
	})
	lf.register(list)
	list.Flags().IntVar(&limit, "limit", 50, "calls per page")
	list.Flags().BoolVar(&all, "all", false, "follow the cursor through every page")

	var sf usageFilters
	var groupBy string
	summary := apiCommand(f, "summary", "Requests, tokens, cost and price totals, by key and model or --group-by", cobra.NoArgs, func(cmd *cobra.Command, c *adminClient, _ []string) error {
		q := sf.query()
		if groupBy != "" {
			q.Set("group_by", groupBy)
		}
		b, err := c.do(cmd.Context(), http.MethodGet, "/admin/api/usage/summary", q, nil)
		if err != nil {
			return err
		}
		totals := []column{{"REQUESTS", "requests"}, {"ERRORS", "errors"}, {"IN", "input_tokens"}, {"OUT", "output_tokens"},
			{"COST_USD", "cost_usd"}, {"PRICE_USD", "price_usd"}, {"MARGIN_USD", "margin_usd"}}
		if c.json {
			return c.print(cmd.OutOrStdout(), b, "", nil)
		}
		w := cmd.OutOrStdout()
		if groupBy != "" {
			var cols []column
			for _, d := range strings.Split(groupBy, ",") {
				d = strings.TrimSpace(d)
				switch d {
				case "key":
					cols = append(cols, column{"KEY", "key_name"})
				case "channel":
					cols = append(cols, column{"CHANNEL", "channel_name"})
				case "day", "hour":
					cols = append(cols, column{strings.ToUpper(d), "bucket"})
				default:
					cols = append(cols, column{strings.ToUpper(d), d})
				}
			}
			return c.print(w, b, "groups", append(cols, totals...))
		}
		fmt.Fprintln(w, "TOTAL")
		if err := c.print(w, []byte(gjson.GetBytes(b, "total").Raw), "", totals); err != nil {
			return err
		}
		fmt.Fprintln(w, "\nBY MODEL")
		if err := c.print(w, b, "by_model", append([]column{{"MODEL", "model"}}, totals...)); err != nil {
			return err
		}
		fmt.Fprintln(w, "\nBY KEY")
		return c.print(w, b, "by_key", append([]column{{"KEY", "key_name"}}, totals...))
	})
	sf.register(summary)
	summary.Flags().StringVar(&groupBy, "group-by", "", "group by key, model, channel, day or hour (comma-separated)")
	cmd.AddCommand(list, summary)
	return cmd
}

func pricesCmd() *cobra.Command {
	f := &adminFlags{}
	cmd := &cobra.Command{Use: "prices", Short: "The price table in effect on a running gateway (admin API)"}
	f.register(cmd)
	var model string
	var operator bool
	list := apiCommand(f, "list", "Prices in USD per million tokens", cobra.NoArgs, func(cmd *cobra.Command, c *adminClient, _ []string) error {
		q := url.Values{}
		if model != "" {
			q.Set("model", model)
		}
		if operator {
			q.Set("operator", "true")
		}
		b, err := c.do(cmd.Context(), http.MethodGet, "/admin/api/prices", q, nil)
		if err != nil {
			return err
		}
		return c.print(cmd.OutOrStdout(), b, "data", []column{{"MODEL", "model"}, {"OPERATOR", "operator"}, {"INPUT", "input_per_mtok"},
			{"OUTPUT", "output_per_mtok"}, {"CACHED_INPUT", "cached_input_per_mtok"}, {"PER_CALL", "per_call_usd"}})
	})
	list.Flags().StringVar(&model, "model", "", "only models whose name contains this")
	list.Flags().BoolVar(&operator, "operator", false, "only the operator's prices (prices:, the price file)")
	unpriced := apiCommand(f, "unpriced", "Models the channels route today without a price", cobra.NoArgs, func(cmd *cobra.Command, c *adminClient, _ []string) error {
		b, err := c.do(cmd.Context(), http.MethodGet, "/admin/api/prices", nil, nil)
		if err != nil {
			return err
		}
		return c.print(cmd.OutOrStdout(), b, "unpriced", []column{{"CHANNEL", "channel"}, {"MODEL", "model"}, {"UPSTREAM_MODEL", "upstream_model"}, {"GLOB", "glob"}})
	})
	cmd.AddCommand(list, unpriced)
	return cmd
}

func tasksCmd() *cobra.Command {
	f := &adminFlags{}
	cmd := &cobra.Command{Use: "tasks", Short: "Asynchronous tasks (Midjourney, video) of a running gateway (admin API)"}
	f.register(cmd)
	var limit int
	list := apiCommand(f, "list", "The newest tasks of every key", cobra.NoArgs, func(cmd *cobra.Command, c *adminClient, _ []string) error {
		q := url.Values{}
		if limit > 0 {
			q.Set("limit", strconv.Itoa(limit))
		}
		b, err := c.do(cmd.Context(), http.MethodGet, "/admin/api/tasks", q, nil)
		if err != nil {
			return err
		}
		return c.print(cmd.OutOrStdout(), b, "data", []column{{"ID", "id"}, {"KIND", "kind"}, {"ACTION", "action"}, {"MODEL", "model"},
			{"STATUS", "status"}, {"PROGRESS", "progress"}, {"KEY", "key_name"}, {"PRICE_NANO_USD", "price_nano_usd"}, {"CREATED", "created_at"}})
	})
	list.Flags().IntVar(&limit, "limit", 0, "how many (default 100)")
	cmd.AddCommand(list)
	return cmd
}
