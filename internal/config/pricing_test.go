package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"switchboard/internal/gateway"
	"switchboard/internal/llm"
	"switchboard/internal/pricing"
)

func TestPricingConfig(t *testing.T) {
	cfg, err := Parse("switchboard.yaml", []byte(`
channels:
  - name: cheap
    type: openai
    api_keys: [k]
    models: [gpt-4o]
    price_multiplier: 0.8
  - name: set
    type: openai
    api_keys: [k]
    models: [gpt-4o]
    settings: {price_multiplier: "1.25"}
keys:
  - name: daily
    budget_usd: 5
    budget_period: daily
pricing:
  unpriced: warn
  min_output_tokens: 128
prices:
  fast: {same_as: gpt-4o-mini, max_output_tokens: 1000}
  long:
    input_per_mtok: 1
    output_per_mtok: 2
    cache_write_1h_per_mtok: 2
    image_input_per_mtok: 3
    units_usd: {image: 0.04, "image:1024x1792:hd": 0.12}
    tiers:
      - {above_prompt_tokens: 200000, input_per_mtok: 2, output_per_mtok: 3}
    context_window: 1000000
    image_tokens: 1600
`), nil)
	if err != nil {
		t.Fatal(err)
	}
	chs := cfg.Channels()
	if chs[0].Settings[pricing.MultiplierSetting] != "0.8" || chs[1].Settings[pricing.MultiplierSetting] != "1.25" {
		t.Errorf("multipliers = %v, %v", chs[0].Settings, chs[1].Settings)
	}
	if k := cfg.Keys()[0].Key; k.BudgetPeriod != gateway.BudgetDaily {
		t.Errorf("budget period = %q", k.BudgetPeriod)
	}
	if cfg.Pricing.Unpriced != pricing.UnpricedWarn || cfg.Pricing.MinOutputTokens != 128 {
		t.Errorf("pricing = %+v", cfg.Pricing)
	}
	long := cfg.Prices["long"]
	if long.CacheWrite1hPerMTok != 2_000_000_000 || long.ImageInputPerMTok != 3_000_000_000 || len(long.Units) != 2 ||
		long.Units[1] != (gateway.UnitPrice{Unit: "image:1024x1792:hd", PerMUnits: 120_000_000_000_000}) ||
		len(long.Tiers) != 1 || long.Tiers[0].Price.InputPerMTok != 2_000_000_000 || long.Tiers[0].Price.CacheWrite1hPerMTok != 2_000_000_000 {
		t.Errorf("long = %+v", long)
	}
	tab := cfg.PriceTable()
	if name, _, ok := tab.Match("fast"); !ok || name != "gpt-4o-mini" {
		t.Errorf("same_as: %q, %v", name, ok)
	}
	if l, _ := tab.Limits("long"); l.ContextWindow != 1_000_000 || l.ImageTokens != 1600 {
		t.Errorf("limits of long = %+v", l)
	}
	if l, _ := cfg.PriceTable().Limits("fast"); l.MaxOutput != 16_384 {
		// fast's own limit is keyed by its own name; the alias resolves
		// to gpt-4o-mini's limits first.
		t.Errorf("limits through an alias = %+v", l)
	}
	if _, ok := cfg.PriceLimits["fast"]; !ok {
		t.Error("the limits of an alias entry were dropped")
	}
}

func TestPricingConfigErrors(t *testing.T) {
	_, err := Parse("switchboard.yaml", []byte(`channels:
  - name: c
    type: openai
    api_keys: [k]
    models: [m]
    price_multiplier: 0
    settings: {price_multiplier: nope}
keys:
  - name: k
    budget_period: yearly
pricing:
  unpriced: maybe
  min_output_tokens: 0
prices:
  a: {same_as: gpt-4o, input_per_mtok: 1}
  b: {units_usd: {"bad unit": 1}}
  c: {tiers: [{input_per_mtok: 1}]}
  d: {units_usd: {image: 5000}}
`), nil)
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{
		`switchboard.yaml:6: channels[0].price_multiplier: price multiplier "0": must be above 0`,
		`switchboard.yaml:7: channels[0].settings.price_multiplier: price multiplier "nope"`,
		`switchboard.yaml:10: keys[0].budget_period: unknown budget period "yearly"`,
		`switchboard.yaml:12: pricing.unpriced: unknown unpriced policy "maybe"`,
		`switchboard.yaml:13: pricing.min_output_tokens: must be between 1 and 1000000, got 0`,
		`prices.a.same_as: same_as prices "a" as "gpt-4o": give no price fields beside it`,
		`prices.b.units_usd: invalid unit name "bad unit"`,
		`prices.c.tiers[0].above_prompt_tokens: required`,
		`prices.d.units_usd.image: 5000 is implausibly large`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing error %q in:\n%v", want, err)
		}
	}
}

func TestLoadPriceFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("prices.yaml", `prices:
  gpt-4o: {input_per_mtok: 2, output_per_mtok: 8}
  house-model: {same_as: gpt-4o}
  from-file: {input_per_mtok: 9, output_per_mtok: 9}
`)
	write("prices.json", `{"prices": {"json-model": {"input_per_mtok": 1, "output_per_mtok": 1, "max_output_tokens": 77}}}`)
	catalog, err := os.ReadFile("../pricing/testdata/litellm_sample.json")
	if err != nil {
		t.Fatal(err)
	}
	write("litellm.json", string(catalog))
	write("switchboard.yaml", `pricing:
  file: prices.yaml
  litellm_file: litellm.json
prices:
  from-file: {input_per_mtok: 1, output_per_mtok: 1}
`)
	cfg, err := Load(filepath.Join(dir, "switchboard.yaml"), nil)
	if err != nil {
		t.Fatal(err)
	}
	tab := cfg.PriceTable()
	u := llm.Usage{InputTokens: 100_000} // below every long-context tier
	for model, want := range map[string]int64{
		"gpt-4o":                     200_000_000, // the file over the built-in list
		"house-model":                200_000_000, // the file's alias
		"from-file":                  100_000_000, // prices: wins over the file
		"claude-sonnet-4-5-20250929": 300_000_000, // built-in alias; the catalog agrees
		"legacy-max-tokens":          100_000_000, // only in the catalog
	} {
		p, ok := tab.Lookup(model)
		if !ok || pricing.Cost(p, u) != want {
			t.Errorf("%s: %+v, %v; want input %d", model, p, ok, want)
		}
	}
	if _, op := tab.OperatorPrice("legacy-max-tokens"); op {
		t.Error("a catalog price counts as the operator's")
	}
	if _, op := tab.OperatorPrice("house-model"); !op {
		t.Error("a price-file alias is the operator's")
	}

	// JSON files work the same, and errors carry the file's name and line.
	write("switchboard.yaml", "pricing: {file: prices.json}\n")
	cfg, err = Load(filepath.Join(dir, "switchboard.yaml"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if l, _ := cfg.PriceTable().Limits("json-model"); l.MaxOutput != 77 {
		t.Errorf("json file limits = %+v", l)
	}
	write("bad.yaml", "prices:\n  m: {input_per_mtok: -3}\n  n: {colour: red}\n")
	write("switchboard.yaml", "pricing: {file: bad.yaml}\n")
	_, err = Load(filepath.Join(dir, "switchboard.yaml"), nil)
	if err == nil || !strings.Contains(err.Error(), "bad.yaml:2: prices.m.input_per_mtok: must not be negative") ||
		!strings.Contains(err.Error(), `bad.yaml:3: prices.n.colour: unknown field "colour"`) {
		t.Fatalf("bad price file: %v", err)
	}
	write("switchboard.yaml", "pricing: {file: missing.yaml}\n")
	if _, err := Load(filepath.Join(dir, "switchboard.yaml"), nil); err == nil {
		t.Fatal("a missing price file was accepted")
	}
	write("switchboard.yaml", "pricing: {litellm_file: prices.yaml}\n")
	if _, err := Load(filepath.Join(dir, "switchboard.yaml"), nil); err == nil {
		t.Fatal("a YAML file was accepted as a LiteLLM catalog")
	}
}

func FuzzParsePriceFile(f *testing.F) {
	f.Add([]byte("prices:\n  m: {input_per_mtok: 1, tiers: [{above_prompt_tokens: 5, input_per_mtok: 2}]}\n"))
	f.Add([]byte(`{"prices": {"a": {"same_as": "b"}}}`))
	f.Add([]byte("prices: [1, 2]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		pf, err := ParsePriceFile("prices.yaml", data)
		if err != nil {
			if strings.ContainsAny(err.Error(), "\n\r") && !strings.Contains(err.Error(), "prices.yaml") {
				t.Fatalf("error without the file name: %v", err)
			}
			return
		}
		for name, p := range pf.Prices {
			if p.InputPerMTok < 0 || p.OutputPerMTok < 0 {
				t.Fatalf("%s: negative price", name)
			}
		}
	})
}
