package pricing

import (
	"testing"

	"switchboard/internal/gateway"
)

func TestWorstUnits(t *testing.T) {
	t.Parallel()
	dalle3, _ := Builtin().Lookup("dall-e-3")
	gptImage, _ := Builtin().Lookup("gpt-image-1")
	whisper, _ := Builtin().Lookup("whisper-1")
	cases := []struct {
		name  string
		p     gateway.Price
		units []gateway.Metered
		want  int64
	}{
		{"size and quality named", dalle3, []gateway.Metered{{Unit: "image:1024x1024:standard", Count: 2}}, 2 * 40_000_000},
		{"size named, dearest quality", dalle3, []gateway.Metered{{Unit: "image:1024x1024", Count: 1}}, 80_000_000},
		{"nothing named, dearest size", dalle3, []gateway.Metered{{Unit: "image", Count: 3}}, 3 * 120_000_000},
		{"unknown size falls back to the general price", dalle3, []gateway.Metered{{Unit: "image:9x9", Count: 1}}, 40_000_000},
		{"token-priced model holds no units", gptImage, []gateway.Metered{{Unit: "image", Count: 4}}, 0},
		{"audio seconds", whisper, []gateway.Metered{{Unit: gateway.UnitAudioSecond, Count: 600}}, 60_000_000},
		{"zero counts", dalle3, []gateway.Metered{{Unit: "image", Count: 0}}, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := WorstUnits(tc.p, tc.units); got != tc.want {
				t.Errorf("WorstUnits = %d, want %d", got, tc.want)
			}
		})
	}
}
