package pricing

import (
	"fmt"
	"math"
	"math/bits"
	"strconv"
	"strings"

	"switchboard/internal/gateway"
	"switchboard/internal/llm"
)

// MultiplierSetting is the channel setting (config extension
// `price_multiplier`) that scales what the upstream charges relative to
// the list price: 0.8 for a 20% discount, 1.1 for a reseller's 10% markup.
const MultiplierSetting = "price_multiplier"

// ppm is one in parts per million: a multiplier of 1×.
const ppm = 1_000_000

// maxMultiplier bounds price_multiplier; anything larger is a typo.
const maxMultiplier = 1000

// ParseMultiplier reads a price multiplier ("0.8", "1.25") as parts per
// million. It must be positive and at most 1000.
func ParseMultiplier(s string) (int64, error) {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("price multiplier %q: want a number such as 0.8 or 1.25", s)
	}
	if f <= 0 || f > maxMultiplier {
		return 0, fmt.Errorf("price multiplier %q: must be above 0 and at most %d", s, maxMultiplier)
	}
	m := int64(math.Round(f * ppm))
	if m < 1 {
		return 0, fmt.Errorf("price multiplier %q: below one millionth", s)
	}
	return m, nil
}

// ChannelMultiplier is ch's price multiplier in parts per million: 1× when
// the channel sets none (or an invalid one, which validation refuses at
// the door).
func ChannelMultiplier(ch *gateway.Channel) int64 {
	if ch == nil {
		return ppm
	}
	v, ok := ch.Settings[MultiplierSetting]
	if !ok || v == "" || v == "1" {
		return ppm
	}
	m, err := ParseMultiplier(v)
	if err != nil {
		return ppm
	}
	return m
}

// scale multiplies nano by m parts per million, rounding half up,
// saturating at MaxInt64.
func scale(nano, m int64) int64 {
	if m == ppm || nano <= 0 {
		return max(nano, 0)
	}
	hi, lo := bits.Mul64(uint64(nano), uint64(m))
	lo, carry := bits.Add64(lo, ppm/2, 0)
	hi += carry
	if hi >= ppm {
		return math.MaxInt64
	}
	q, _ := bits.Div64(hi, lo, ppm)
	if q > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(q)
}

// Bill is the money side of one call.
type Bill struct {
	// CostNanoUSD is what the upstream charges; CostKnown says whether its
	// model (and every unit used) has a price.
	CostNanoUSD int64
	CostKnown   bool
	// PriceNanoUSD is what the key pays; Priced says whether it is known.
	PriceNanoUSD int64
	Priced       bool
	// CostModel and PriceModel name the table entries used ("" if none).
	CostModel, PriceModel string
}

// Charge bills one call: its cost is the upstream model's price times the
// channel's multiplier; its price is the client-facing model's price when
// the operator set one (an operator entry or alias: `prices:` or the price
// file), else the cost. upstreamModel "" means the client model. The relay
// calls it once at the end of a call; the result goes into the ledger
// record (Apply).
func (t *Table) Charge(clientModel, upstreamModel string, ch *gateway.Channel, u llm.Usage, units []gateway.Metered) Bill {
	if upstreamModel == "" {
		upstreamModel = clientModel
	}
	var b Bill
	if name, p, ok := t.Match(upstreamModel); ok {
		c, known := CostUnits(p, u, units)
		b.CostNanoUSD, b.CostKnown, b.CostModel = scale(c, ChannelMultiplier(ch)), known, name
	}
	if p, ok := t.OperatorPrice(clientModel); ok {
		name, _, _ := t.Match(clientModel)
		b.PriceNanoUSD, b.Priced = CostUnits(p, u, units)
		b.PriceModel = name
		if !b.Priced {
			b.PriceNanoUSD = 0
		}
		return b
	}
	if b.CostKnown {
		b.PriceNanoUSD, b.Priced, b.PriceModel = b.CostNanoUSD, true, b.CostModel
	}
	return b
}

// Apply writes b into a ledger record: cost, price and the flags that say
// which of them is unknown (an unknown amount is recorded as 0).
func (b Bill) Apply(rec *gateway.UsageRecord) {
	rec.CostNanoUSD, rec.CostUnknown = b.CostNanoUSD, !b.CostKnown
	if !b.CostKnown {
		rec.CostNanoUSD = 0
	}
	rec.PriceNanoUSD, rec.Unpriced = b.PriceNanoUSD, !b.Priced
}
