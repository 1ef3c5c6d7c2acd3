package gateway

import (
	"errors"
	"fmt"
	"testing"
)

func TestErrorStatus(t *testing.T) {
	cases := map[ErrorKind]int{
		KindInternal: 500, KindInvalidRequest: 400, KindAuthentication: 401, KindPermission: 403,
		KindNotFound: 404, KindRequestTooLarge: 413, KindRateLimited: 429, KindInsufficientQuota: 429,
		KindUpstream: 502, KindUnavailable: 503, KindTimeout: 504, KindOverloaded: 503,
	}
	for kind, want := range cases {
		if got := (&Error{Kind: kind}).HTTPStatus(); got != want {
			t.Errorf("kind %d: status %d, want %d", kind, got, want)
		}
	}
	if (&Error{Kind: KindUpstream, Status: 418}).HTTPStatus() != 418 {
		t.Error("an explicit status must win")
	}
}

func TestAsErrorHidesCauses(t *testing.T) {
	cause := errors.New("dial tcp 10.0.0.7:443: secret-host")
	e := AsError(fmt.Errorf("wrapped: %w", cause))
	if e.Message != "internal error" || !errors.Is(e, cause) {
		t.Fatalf("AsError = %+v", e)
	}
	ge := Errorf(KindNotFound, "model %q", "x").WithCode("model_not_found").WithParam("model")
	if got := AsError(fmt.Errorf("ctx: %w", ge)); got != ge || got.Code != "model_not_found" || got.Param != "model" {
		t.Fatalf("AsError lost the gateway error: %+v", got)
	}
}

func TestNanoUSD(t *testing.T) {
	for usd, want := range map[float64]int64{0: 0, 1: 1e9, 2.5: 2_500_000_000, 0.000001: 1000, 25: 25e9, -1.5: -1_500_000_000} {
		if got := NanoUSD(usd); got != want {
			t.Errorf("NanoUSD(%v) = %d, want %d", usd, got, want)
		}
	}
}

func TestUpstreamModel(t *testing.T) {
	ch := Channel{ModelMap: map[string]string{"gpt-4o": "gpt-4o-2024-11-20", "blank": ""}}
	for in, want := range map[string]string{"gpt-4o": "gpt-4o-2024-11-20", "other": "other", "blank": "blank"} {
		if got := ch.UpstreamModel(in); got != want {
			t.Errorf("UpstreamModel(%q) = %q, want %q", in, got, want)
		}
	}
}
