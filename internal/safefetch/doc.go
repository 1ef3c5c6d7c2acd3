// Package safefetch downloads client-supplied URLs (image inputs that an
// upstream wants inline, as base64) without letting a client reach the
// gateway's own network: the SSRF guard of DESIGN.md §9.
//
// The guard runs in the dialer (net.Dialer.ControlContext), after name
// resolution and before connect, on the address actually being dialled. A
// host name that resolves to an internal address, a DNS answer that changes
// between a check and the connect (rebinding), a redirect to an internal
// host and an IPv4-mapped IPv6 spelling of one are all caught in the same
// place. The transport never uses a proxy, since through a proxy the dialled
// address would be the proxy's and the check would guard nothing.
//
// Refused unless Options.AllowPrivate or Options.AllowedCIDRs say otherwise:
// this-network, private, CGNAT (100.64.0.0/10, where Alibaba's metadata
// service lives), loopback, link-local (with the 169.254.169.254 metadata
// address), IETF protocol assignments, documentation, benchmarking, 6to4
// relay, multicast, reserved and broadcast IPv4; and the unspecified,
// loopback, IPv4-compatible, NAT64 (64:ff9b::/96, 64:ff9b:1::/48),
// discard-only, Teredo, 6to4 (2002::/16), documentation, unique-local,
// link-local, site-local (fec0::/10) and multicast IPv6, plus anything
// outside 2000::/3, so a block missing from the list fails closed. The
// translation and tunnelling blocks are refused whole because they reach an
// embedded IPv4 address that the dialer never sees.
//
// Fetches are GET only, without cookies or the client's credentials,
// bounded in size (checked against Content-Length and again while reading)
// and in time (the whole fetch, redirects included), with at most a few
// redirects. data: URIs are decoded locally by ParseDataURI.
//
// Every refusal is a *gateway.Error of KindInvalidRequest (a 400) whose
// message says why, e.g.
//
//	image URL "http://10.0.0.1/x.png" refused: address 10.0.0.1 is in a private range (10.0.0.0/8)
//
// naming an address only when the client's URL spelt it out, so that the
// gateway does not become an oracle for what internal names resolve to.
package safefetch
