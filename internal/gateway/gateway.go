// Package gateway holds Switchboard's domain vocabulary: channels, client
// keys, usage records, prices and errors, plus the interfaces of the services
// that store and enforce them. Transport (httpapi, format/*) and storage
// (sqlstore, redisstore, inmem) depend on this package, never the reverse.
// It imports only llm.
package gateway

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"switchboard/internal/llm"
)

// ChannelType is the kind of upstream account a channel is.
type ChannelType string

const (
	ChannelOpenAI           ChannelType = "openai"
	ChannelAzure            ChannelType = "azure"
	ChannelAnthropic        ChannelType = "anthropic"
	ChannelGemini           ChannelType = "gemini"
	ChannelOpenAICompatible ChannelType = "openai-compatible"
	ChannelMidjourney       ChannelType = "midjourney"
	ChannelSimulator        ChannelType = "simulator"
)

// ChannelTypes lists every known channel type, for validation and docs.
var ChannelTypes = []ChannelType{
	ChannelOpenAI, ChannelAzure, ChannelAnthropic, ChannelGemini,
	ChannelOpenAICompatible, ChannelMidjourney, ChannelSimulator,
}

// Channel is one upstream account that serves a set of models.
type Channel struct {
	ID       int64
	Name     string
	Type     ChannelType
	BaseURL  string
	APIKeys  []string // rotated; never logged or echoed
	Models   []string // client-visible model names (globs allowed)
	ModelMap map[string]string
	Priority int // higher tier first
	Weight   int // inside a tier
	Headers  map[string]string
	Timeout  time.Duration // whole-call timeout; 0 = default
	Enabled  bool
	// Settings holds type-specific options: azure api_version, simulator
	// latency and tokens_per_second, ...
	Settings map[string]string
	// Source says where the channel came from: "config", "env", "admin".
	Source    string
	UpdatedAt time.Time
}

// UpstreamModel maps a client-visible model name to the channel's name for it.
func (c *Channel) UpstreamModel(model string) string {
	if m, ok := c.ModelMap[model]; ok && m != "" {
		return m
	}
	return model
}

// Key is a client API key. Only its hash is stored.
type Key struct {
	ID     int64
	Name   string
	Hash   string // hex SHA-256 of the secret
	Prefix string // first characters of the secret, for display
	Models []string
	// BudgetNanoUSD is the hard spend limit; 0 means unlimited.
	BudgetNanoUSD   int64
	SpentNanoUSD    int64
	ReservedNanoUSD int64
	// BudgetPeriod says when SpentNanoUSD starts again from zero; the
	// zero value is BudgetTotal (never).
	BudgetPeriod BudgetPeriod
	// PeriodStart is the start of the period SpentNanoUSD covers (zero
	// for BudgetTotal).
	PeriodStart   time.Time
	RPM           int
	TPM           int
	MaxConcurrent int
	Enabled       bool
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// BudgetPeriod says when a key's spend starts again from zero. Periods
// are calendar periods in UTC; the store resets the spend in the same
// atomic statement that first touches the key in a new period, so every
// node agrees on it.
type BudgetPeriod string

const (
	BudgetTotal   BudgetPeriod = "total" // never resets (also the zero value "")
	BudgetDaily   BudgetPeriod = "daily"
	BudgetWeekly  BudgetPeriod = "weekly" // weeks start on Monday
	BudgetMonthly BudgetPeriod = "monthly"
)

// BudgetPeriods lists the periods, for validation and docs.
var BudgetPeriods = []BudgetPeriod{BudgetTotal, BudgetDaily, BudgetWeekly, BudgetMonthly}

// ParseBudgetPeriod validates a period name; "" is BudgetTotal.
func ParseBudgetPeriod(s string) (BudgetPeriod, error) {
	if s == "" {
		return BudgetTotal, nil
	}
	p := BudgetPeriod(s)
	if !slices.Contains(BudgetPeriods, p) {
		return "", fmt.Errorf("unknown budget period %q (want total, daily, weekly or monthly)", s)
	}
	return p, nil
}

// Start is the start of the period that contains t, in UTC; the zero time
// for BudgetTotal.
func (p BudgetPeriod) Start(t time.Time) time.Time {
	t = t.UTC()
	y, m, d := t.Date()
	switch p {
	case BudgetDaily:
		return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	case BudgetWeekly:
		back := (int(t.Weekday()) + 6) % 7 // days since Monday
		return time.Date(y, m, d-back, 0, 0, 0, 0, time.UTC)
	case BudgetMonthly:
		return time.Date(y, m, 1, 0, 0, 0, 0, time.UTC)
	}
	return time.Time{}
}

// UsageSource says where a record's token counts came from.
type UsageSource string

const (
	UsageFromUpstream UsageSource = "upstream"
	UsageEstimated    UsageSource = "estimated" // counted by the embedded tokenizer
	UsageMissing      UsageSource = "missing"
	// UsageCheckpoint: the node died mid-stream; the record was made at the
	// next start from the last checkpoint of what had been delivered.
	UsageCheckpoint UsageSource = "checkpoint"
)

// UsageRecord is one ledger row: one client call.
type UsageRecord struct {
	RequestID     string
	Time          time.Time
	KeyID         int64
	KeyName       string
	Endpoint      string // e.g. "chat.completions", "messages"
	Model         string // as the client asked
	ChannelID     int64
	ChannelName   string
	UpstreamModel string
	Status        int
	Stream        bool
	Latency       time.Duration
	TTFT          time.Duration // time to first token (streams) or first byte
	Usage         llm.Usage
	// Units are the call's non-token quantities (images, seconds of
	// video, ...), as priced by Price.Units.
	Units       []Metered
	UsageSource UsageSource
	// CostNanoUSD is what the upstream charges: the upstream model's price
	// times the channel's price multiplier. CostUnknown: no price was known
	// for the upstream model, and CostNanoUSD is 0.
	CostNanoUSD int64
	CostUnknown bool
	// PriceNanoUSD is what the key is charged, and what budgets and usage
	// reports count: the client-facing model's price when the operator set
	// one, else the cost. Unpriced: no price was known, and PriceNanoUSD is 0.
	PriceNanoUSD int64
	Unpriced     bool
	Attempts     int
	ErrorMessage string
	// Tried lists the attempts that failed, in order,
	// as "channel: status message" (the usage log's "channels tried").
	Tried []string `json:",omitempty"`
}

// Price is what a model costs, in nano-USD per million tokens (so one token
// at $2.50/Mtok is 2500 nano-USD exactly), per million units, or per call.
type Price struct {
	InputPerMTok       int64
	OutputPerMTok      int64
	CachedInputPerMTok int64 // 0: same as input
	CacheWritePerMTok  int64 // five-minute cache writes; 0: same as input
	// CacheWrite1hPerMTok prices one-hour cache writes; 0: same as
	// CacheWritePerMTok.
	CacheWrite1hPerMTok int64
	ReasoningPerMTok    int64 // 0: same as output
	AudioInputPerMTok   int64 // 0: same as input
	AudioOutputPerMTok  int64 // 0: same as output
	ImageInputPerMTok   int64 // 0: same as input
	ImageOutputPerMTok  int64 // 0: same as output
	// PerCall is charged once per call, in nano-USD.
	PerCall int64
	// Units prices what is not tokens (images, seconds of video, web
	// searches, ...). A call's Metered units without a price here make the
	// call unpriced.
	Units []UnitPrice
	// Tiers reprice a whole call by the size of its prompt, as Google and
	// Anthropic bill long contexts: when the prompt has more than a tier's
	// AbovePromptTokens, every token of the call is priced at that tier's
	// token rates (the highest such tier wins). Units and PerCall stay.
	Tiers []PriceTier
}

// PriceTier is a long-context tier of a Price. Only the token rates of its
// Price are used.
type PriceTier struct {
	AbovePromptTokens int64
	Price             Price
}

// UnitPrice is the price of one million of a unit, in nano-USD (so a
// $0.04 image is 40,000,000,000,000 per million, exactly).
type UnitPrice struct {
	Unit      string
	PerMUnits int64
}

// Units a call is metered in besides tokens. A unit may carry variants
// after colons, most general last dropped first: "image:1024x1792:hd" is
// priced as "image:1024x1792:hd", else "image:1024x1792", else "image".
const (
	UnitImage          = "image"           // one generated image
	UnitVideoSecond    = "video_second"    // one second of generated video
	UnitAudioSecond    = "audio_second"    // one second of audio transcribed
	UnitCharacter      = "character"       // one character of speech input
	UnitWebSearch      = "web_search"      // one server-side web search or search query
	UnitGroundedPrompt = "grounded_prompt" // one answer grounded with a search
)

// Metered is how much of one unit a call used (or, for a hold, may use).
type Metered struct {
	Unit  string
	Count int64
}

// Equal reports whether two prices are the same entry.
func (p Price) Equal(q Price) bool {
	return p.rates() == q.rates() && slices.Equal(p.Units, q.Units) &&
		slices.EqualFunc(p.Tiers, q.Tiers, func(a, b PriceTier) bool {
			return a.AbovePromptTokens == b.AbovePromptTokens && a.Price.Equal(b.Price)
		})
}

// rates are p's scalar prices, comparable with ==.
func (p Price) rates() [11]int64 {
	return [11]int64{p.InputPerMTok, p.OutputPerMTok, p.CachedInputPerMTok, p.CacheWritePerMTok, p.CacheWrite1hPerMTok,
		p.ReasoningPerMTok, p.AudioInputPerMTok, p.AudioOutputPerMTok, p.ImageInputPerMTok, p.ImageOutputPerMTok, p.PerCall}
}

// IsZero reports whether p prices nothing at all (a free model).
func (p Price) IsZero() bool { return p.Equal(Price{}) }

// NanoUSD converts dollars to nano-USD, rounding to the nearest unit.
func NanoUSD(usd float64) int64 {
	if usd < 0 {
		return -int64(-usd*1e9 + 0.5)
	}
	return int64(usd*1e9 + 0.5)
}

// Sentinel errors shared by stores.
var (
	ErrNotFound       = errors.New("not found")
	ErrBudgetExceeded = errors.New("budget exhausted")
	ErrConflict       = errors.New("conflict")
)

// KeyStore persists client keys.
type KeyStore interface {
	KeyByHash(ctx context.Context, hash string) (Key, error)
	KeyByID(ctx context.Context, id int64) (Key, error)
	ListKeys(ctx context.Context) ([]Key, error)
	// CreateKey inserts a key; ErrConflict if the name or hash exists.
	CreateKey(ctx context.Context, k Key) (Key, error)
	// UpsertKey inserts or updates by name (config seeding). It never
	// touches spend counters, and keeps the stored hash when k.Hash is empty.
	UpsertKey(ctx context.Context, k Key) (Key, error)
	UpdateKey(ctx context.Context, k Key) (Key, error)
	DeleteKey(ctx context.Context, id int64) error
}

// ChannelStore persists upstream channels.
type ChannelStore interface {
	ListChannels(ctx context.Context) ([]Channel, error)
	ChannelByID(ctx context.Context, id int64) (Channel, error)
	UpsertChannel(ctx context.Context, c Channel) (Channel, error) // by name
	UpdateChannel(ctx context.Context, c Channel) (Channel, error)
	DeleteChannel(ctx context.Context, id int64) error
}

// HoldKind says what a reservation is for, which decides how it is
// released when its node dies.
type HoldKind string

const (
	// HoldCall is a synchronous call's hold: released when its node starts
	// again, or by the stale sweep when the node never comes back.
	HoldCall HoldKind = "call"
	// HoldTask is an asynchronous task's hold (hours long, owned by the
	// task, not by a node): never released by a node's start, only by its
	// task or once its Expires has passed.
	HoldTask HoldKind = "task"
)

// HoldRequest asks for a budget hold.
type HoldRequest struct {
	KeyID     int64
	RequestID string
	// Amount is the worst case of the call as asked.
	Amount int64
	// Min is the least hold the caller can still work with (it then lowers
	// its output limit to what the hold affords); 0 means Amount: all or
	// nothing.
	Min  int64
	Kind HoldKind // "" is HoldCall
	// Expires, when set, is when the stale sweep may release the hold;
	// holds without it are swept by age. Task holds set it.
	Expires time.Time
}

// Holder grants budget holds that never overdraw: the hold is at most what
// remains of the budget, so spent + reserved never exceeds it.
type Holder interface {
	// Hold reserves min(req.Amount, remaining) when that is at least the
	// request's minimum and returns the amount held, or ErrBudgetExceeded.
	// A key without a budget holds nothing and returns req.Amount. A repeated
	// Hold of a request id that is held or settled already holds nothing
	// more and returns what was held (or charged).
	Hold(ctx context.Context, req HoldRequest) (int64, error)
}

// Budget enforces key budgets with reservations. Every method is atomic and
// idempotent per request id, so a retry or a crash replay cannot charge twice.
type Budget interface {
	// Reserve holds up to amount nano-USD for requestID against keyID. When
	// less than amount remains but more than zero, it holds what remains,
	// but only while no other such partial hold of the key is in flight (so
	// a budget is overdrawn by at most one request). It returns
	// ErrBudgetExceeded when nothing remains or a partial hold is in flight.
	Reserve(ctx context.Context, keyID int64, requestID string, amount int64) error
	// Settle replaces the reservation with the actual cost.
	Settle(ctx context.Context, keyID int64, requestID string, actual int64) error
	// Release drops the reservation without charging.
	Release(ctx context.Context, keyID int64, requestID string) error
}

// LedgerFilter selects usage records.
type LedgerFilter struct {
	KeyID int64 // 0: all
	Since time.Time
	Until time.Time
	Limit int
	// Model matches the client-facing model exactly; "" matches all.
	Model     string
	ChannelID int64 // 0: all
	// StatusMin and StatusMax bound the HTTP status, inclusive; 0 leaves
	// that end open.
	StatusMin, StatusMax int
	// Cursor continues a listing after the last record of a UsagePage.
	Cursor string
	// RequestID, when set, matches that one call's record.
	RequestID string
}

// UsagePage is one page of usage records, newest first. Next, when not
// empty, is the Cursor of the following page.
type UsagePage struct {
	Records []UsageRecord
	Next    string
}

// UsageGroupBy is a dimension usage totals can be grouped by.
type UsageGroupBy string

const (
	GroupByKey     UsageGroupBy = "key"
	GroupByModel   UsageGroupBy = "model"
	GroupByChannel UsageGroupBy = "channel"
	GroupByDay     UsageGroupBy = "day"  // UTC
	GroupByHour    UsageGroupBy = "hour" // UTC
)

// UsageTotals sums a set of usage records.
type UsageTotals struct {
	Requests          int64
	Errors            int64 // status 400 and above
	InputTokens       int64
	CachedInputTokens int64
	OutputTokens      int64
	ReasoningTokens   int64
	CostNanoUSD       int64
	PriceNanoUSD      int64
	Estimated         int64 // counted by the tokenizer or from a checkpoint
	Unpriced          int64 // charged nothing: no price known
	CostUnknown       int64 // margin unknown: no upstream price known
	// Latency (whole call) and TTFT (streams that produced a first token)
	// as histograms: their quantiles are the dashboard's p50 and p99.
	Latency LatencyHistogram
	TTFT    LatencyHistogram
}

// UsageGroup is the totals of one group; only the fields of the grouped
// dimensions are set.
type UsageGroup struct {
	KeyID       int64
	KeyName     string
	Model       string
	ChannelID   int64
	ChannelName string
	Bucket      time.Time // start of the day or hour
	UsageTotals
}

// UsageReports reads the ledger for operators.
type UsageReports interface {
	// UsagePage returns up to f.Limit records matching f, newest first,
	// after f.Cursor.
	UsagePage(ctx context.Context, f LedgerFilter) (UsagePage, error)
	// EachUsage calls fn for every record matching f, newest first,
	// without holding them all in memory (exports).
	EachUsage(ctx context.Context, f LedgerFilter, fn func(*UsageRecord) error) error
	// SumUsage totals the records matching f (Limit and Cursor ignored),
	// grouped by the given dimensions, largest price first; no dimension
	// gives one group of everything.
	SumUsage(ctx context.Context, f LedgerFilter, by ...UsageGroupBy) ([]UsageGroup, error)
}

// Ledger stores usage records.
type Ledger interface {
	// InsertUsage writes records; a record whose RequestID exists is skipped,
	// which makes spool replays idempotent.
	InsertUsage(ctx context.Context, recs []UsageRecord) error
	ListUsage(ctx context.Context, f LedgerFilter) ([]UsageRecord, error)
}

// Store is everything a node persists.
type Store interface {
	KeyStore
	ChannelStore
	Budget
	Holder
	Ledger
	UsageReports
	// Settings is a small key/value table for node-wide values (generated
	// admin token hash, first-run markers).
	GetSetting(ctx context.Context, name string) (string, error)
	SetSetting(ctx context.Context, name, value string) error
	Close() error
}

// UsageCursor is where a usage listing continues: after the ledger row ID
// written at Time (listings run newest first).
type UsageCursor struct {
	Time time.Time
	ID   int64
}

// String encodes c as an opaque cursor.
func (c UsageCursor) String() string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(c.Time.UnixMicro(), 10) + "." + strconv.FormatInt(c.ID, 10)))
}

// ParseUsageCursor decodes a cursor made by UsageCursor.String.
func ParseUsageCursor(s string) (UsageCursor, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err == nil {
		us, id, ok := strings.Cut(string(b), ".")
		t, err1 := strconv.ParseInt(us, 10, 64)
		n, err2 := strconv.ParseInt(id, 10, 64)
		if ok && err1 == nil && err2 == nil && n > 0 {
			return UsageCursor{Time: time.UnixMicro(t).UTC(), ID: n}, nil
		}
	}
	return UsageCursor{}, fmt.Errorf("invalid cursor %q", s)
}
