// Package gateway holds Switchboard's domain vocabulary: channels, client
// keys, usage records, prices and errors, plus the interfaces of the services
// that store and enforce them. Transport (httpapi, format/*) and storage
// (sqlstore, redisstore, inmem) depend on this package, never the reverse.
// It imports only llm.
package gateway

import (
	"context"
	"errors"
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
	RPM             int
	TPM             int
	MaxConcurrent   int
	Enabled         bool
	CreatedAt       time.Time
	UpdatedAt       time.Time
}

// UsageSource says where a record's token counts came from.
type UsageSource string

const (
	UsageFromUpstream UsageSource = "upstream"
	UsageEstimated    UsageSource = "estimated" // counted by the embedded tokenizer
	UsageMissing      UsageSource = "missing"
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
	Units         []Unit // metered quantities besides tokens
	UsageSource   UsageSource
	CostNanoUSD   int64
	Attempts      int
	ErrorMessage  string
}

// Price is what a model costs, in nano-USD per million tokens (so one token
// at $2.50/Mtok is 2500 nano-USD exactly) or per call.
type Price struct {
	InputPerMTok       int64
	OutputPerMTok      int64
	CachedInputPerMTok int64 // 0: same as input
	CacheWritePerMTok  int64 // 0: same as input
	ReasoningPerMTok   int64 // 0: same as output
	AudioInputPerMTok  int64 // 0: same as input
	AudioOutputPerMTok int64 // 0: same as output
	ImageOutputPerMTok int64 // 0: same as output
	PerCall            int64
}

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
	Ledger
	// Settings is a small key/value table for node-wide values (generated
	// admin token hash, first-run markers).
	GetSetting(ctx context.Context, name string) (string, error)
	SetSetting(ctx context.Context, name, value string) error
	Close() error
}
