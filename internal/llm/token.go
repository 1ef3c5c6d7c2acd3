package llm

import (
	"bytes"
	"encoding/base64"
	"strconv"
	"strings"
)

// Opaque provider tokens — an Anthropic thinking signature or
// redacted_thinking blob, a Gemini thoughtSignature, OpenAI
// encrypted_content — prove a model's earlier reasoning to the provider,
// and only to the provider and account that issued them: sent anywhere
// else they are rejected ("invalid signature") or, worse, read as
// garbage. The hub keeps each token's Issuer; encoders send a token only
// to its issuer (Request.Target, see TokenAllowed) and drop it elsewhere.
//
// When the gateway shows a token to a client of another format (a Gemini
// thoughtSignature as an Anthropic thinking signature, say), it wraps the
// token in an envelope that records the issuer, so the client's next turn
// can be recognised and routed right. The envelope is standard base64 (it
// fits every slot, including Gemini's base64 bytes fields) of
//
//	"SBTOK1" kind provider 0x00 channel 0x00 token
//
// where kind is one byte (TokenKind), provider the issuer's format name,
// channel the issuing channel's id in decimal (0: unknown) and token the
// provider's token verbatim. Every envelope therefore begins with
// WrappedTokenPrefix. A token without an envelope that a client of format
// X sends back was issued by provider X (channel unknown).

// Issuer names who minted an opaque token: the provider family (its wire
// format: "anthropic", "gemini", "openai") and the gateway channel — the
// account — it came from.
type Issuer struct {
	Provider string // "" unknown
	Channel  int64  // 0 unknown
}

// TokenKind says which slot a wrapped token came from, so that it can be
// put back in the same place when it returns to its issuer.
type TokenKind byte

const (
	TokenThinking TokenKind = 't' // signature of a reasoning part
	TokenRedacted TokenKind = 'r' // data of a redacted reasoning part
	TokenCall     TokenKind = 'c' // signature on a tool call (Gemini functionCall)
	TokenText     TokenKind = 'x' // signature on a text part (Gemini)
)

const tokenMagic = "SBTOK1"

// WrappedTokenPrefix begins every envelope: base64 of its magic.
const WrappedTokenPrefix = "U0JUT0sx"

// WrapToken puts token in an envelope recording its issuer and slot.
func WrapToken(iss Issuer, kind TokenKind, token string) string {
	b := make([]byte, 0, len(tokenMagic)+len(iss.Provider)+len(token)+24)
	b = append(b, tokenMagic...)
	b = append(b, byte(kind))
	b = append(b, iss.Provider...)
	b = append(b, 0)
	b = strconv.AppendInt(b, iss.Channel, 10)
	b = append(b, 0)
	b = append(b, token...)
	return base64.StdEncoding.EncodeToString(b)
}

// UnwrapToken opens an envelope; ok is false when s is not one (a
// provider's own token).
func UnwrapToken(s string) (iss Issuer, kind TokenKind, token string, ok bool) {
	if !strings.HasPrefix(s, WrappedTokenPrefix) {
		return Issuer{}, 0, "", false
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) < len(tokenMagic)+1 || string(b[:len(tokenMagic)]) != tokenMagic {
		return Issuer{}, 0, "", false
	}
	kind = TokenKind(b[len(tokenMagic)])
	rest := b[len(tokenMagic)+1:]
	provider, rest, ok1 := bytes.Cut(rest, []byte{0})
	channel, tok, ok2 := bytes.Cut(rest, []byte{0})
	if !ok1 || !ok2 {
		return Issuer{}, 0, "", false
	}
	ch, err := strconv.ParseInt(string(channel), 10, 64)
	if err != nil {
		return Issuer{}, 0, "", false
	}
	switch kind {
	case TokenThinking, TokenRedacted, TokenCall, TokenText:
	default:
		return Issuer{}, 0, "", false
	}
	return Issuer{Provider: string(provider), Channel: ch}, kind, string(tok), true
}

// OpenToken reads a token a client sent back: an envelope's issuer and
// content, or, for a bare token, the client's own format as the issuer.
func OpenToken(s, clientFormat string) (Issuer, TokenKind, string) {
	if iss, kind, tok, ok := UnwrapToken(s); ok {
		return iss, kind, tok
	}
	return Issuer{Provider: clientFormat}, 0, s
}

// quotedPrefix is how an envelope starts inside a JSON body: a token is a
// whole JSON string (base64 needs no escaping).
var quotedPrefix = []byte(`"` + WrappedTokenPrefix)

// HoldsWrappedToken reports whether a JSON request body may carry an
// envelope (a string value that starts like one). The relay checks it
// before the pass-through path: an envelope always holds another
// provider's token, which the same-format upstream would reject, so such a
// call is translated (and the token dropped) instead.
func HoldsWrappedToken(body []byte) bool {
	return bytes.Contains(body, quotedPrefix)
}

// ShowToken renders a token for a client of clientFormat: verbatim when
// the client's own provider issued it (or the issuer is unknown), else
// wrapped. respIssuer stands in for a part without an issuer of its own.
func ShowToken(p *Part, respIssuer Issuer, kind TokenKind, token, clientFormat string) string {
	if token == "" {
		return ""
	}
	iss := p.Issuer
	if iss.Provider == "" {
		iss = respIssuer
	}
	if iss.Provider == "" || iss.Provider == clientFormat {
		return token
	}
	return WrapToken(iss, kind, token)
}

// ShowEventToken is ShowToken for a stream event's token, whose issuer is
// the stream's (EventStart's Issuer).
func ShowEventToken(streamIssuer Issuer, kind TokenKind, token, clientFormat string) string {
	if token == "" || streamIssuer.Provider == "" || streamIssuer.Provider == clientFormat {
		return token
	}
	return WrapToken(streamIssuer, kind, token)
}

// TokenAllowed reports whether the opaque token of p (its Signature, or
// Data for redacted reasoning) may be sent to the upstream r targets, for
// an encoder of format. A token goes only to the provider that issued it
// and, when both channels are known, only to the same channel. A part
// without an issuer was issued by r's source format; when neither is known
// (a hand-built hub request) the token is trusted.
func (r *Request) TokenAllowed(p *Part, format string) bool {
	iss := p.Issuer
	if iss.Provider == "" {
		iss.Provider = r.SourceFormat
	}
	if iss.Provider == "" {
		return true
	}
	target := r.Target
	if target.Provider == "" {
		target.Provider = format
	}
	if iss.Provider != target.Provider {
		return false
	}
	return iss.Channel == 0 || target.Channel == 0 || iss.Channel == target.Channel
}
