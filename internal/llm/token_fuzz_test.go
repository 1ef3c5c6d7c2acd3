package llm

import "testing"

// FuzzUnwrapToken: any string either is no envelope or opens to parts that
// wrap back to the same envelope; nothing panics.
func FuzzUnwrapToken(f *testing.F) {
	f.Add(WrapToken(Issuer{Provider: "gemini", Channel: 3}, TokenCall, "Q2lRQjBl"))
	f.Add(WrapToken(Issuer{Provider: "anthropic"}, TokenRedacted, ""))
	f.Add(WrappedTokenPrefix + "AAAA")
	f.Add("RXFvQ0NrZ0lBaEFCR0FJcVFOc2lnbmF0dXJl")
	f.Fuzz(func(t *testing.T, s string) {
		iss, kind, tok, ok := UnwrapToken(s)
		if !ok {
			return
		}
		again := WrapToken(iss, kind, tok)
		i2, k2, t2, ok2 := UnwrapToken(again)
		if !ok2 || i2 != iss || k2 != kind || t2 != tok {
			t.Fatalf("re-wrap of %q changed it: %+v %c %q", s, i2, k2, t2)
		}
	})
}
