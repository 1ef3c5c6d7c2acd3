package safefetch

import "net/netip"

// deniedRange is one address block the guard refuses to dial, with the
// adjective used to explain the refusal ("is in a private range").
type deniedRange struct {
	prefix netip.Prefix
	kind   string
}

// deniedRanges is scanned in order, so narrow blocks that deserve a more
// precise explanation (the metadata address inside link-local, Teredo inside
// the IETF block) come before the blocks that contain them. IPv4-mapped IPv6
// addresses are unmapped before the scan, so the IPv4 entries cover them.
var deniedRanges = []deniedRange{
	// IPv4 (RFC 6890 special-purpose registry and friends).
	{mustPrefix("0.0.0.0/8"), "this-network"},
	{mustPrefix("10.0.0.0/8"), "private"},
	{mustPrefix("100.64.0.0/10"), "CGNAT shared"}, // Alibaba metadata 100.100.100.200 lives here
	{mustPrefix("127.0.0.0/8"), "loopback"},
	{mustPrefix("169.254.169.254/32"), "cloud metadata"},
	{mustPrefix("169.254.0.0/16"), "link-local"},
	{mustPrefix("172.16.0.0/12"), "private"},
	{mustPrefix("192.0.0.0/24"), "IETF protocol assignment"}, // Oracle metadata 192.0.0.192
	{mustPrefix("192.0.2.0/24"), "documentation"},
	{mustPrefix("192.88.99.0/24"), "6to4 relay"},
	{mustPrefix("192.168.0.0/16"), "private"},
	{mustPrefix("198.18.0.0/15"), "benchmarking"},
	{mustPrefix("198.51.100.0/24"), "documentation"},
	{mustPrefix("203.0.113.0/24"), "documentation"},
	{mustPrefix("224.0.0.0/4"), "multicast"},
	{mustPrefix("255.255.255.255/32"), "broadcast"},
	{mustPrefix("240.0.0.0/4"), "reserved"},

	// IPv6.
	{mustPrefix("::/128"), "unspecified"},
	{mustPrefix("::1/128"), "loopback"},
	{mustPrefix("::/96"), "IPv4-compatible"}, // deprecated; would reach the embedded IPv4 on some stacks
	{mustPrefix("64:ff9b::/96"), "NAT64"},    // translator would reach the embedded IPv4
	{mustPrefix("64:ff9b:1::/48"), "NAT64"},
	{mustPrefix("100::/64"), "discard-only"},
	{mustPrefix("2001::/32"), "Teredo"}, // tunnels to an embedded IPv4
	{mustPrefix("2001:db8::/32"), "documentation"},
	{mustPrefix("2001::/23"), "IETF protocol assignment"},
	{mustPrefix("2002::/16"), "6to4"}, // tunnels to an embedded IPv4
	{mustPrefix("3fff::/20"), "documentation"},
	{mustPrefix("fc00::/7"), "private"}, // unique local; AWS metadata fd00:ec2::254 lives here
	{mustPrefix("fe80::/10"), "link-local"},
	{mustPrefix("fec0::/10"), "site-local"},
	{mustPrefix("ff00::/8"), "multicast"},
}

// globalUnicast6 is the only IPv6 block IANA allocates for global unicast;
// anything outside it (and not already named above) is refused as reserved,
// so a block forgotten in the list above fails closed.
var globalUnicast6 = mustPrefix("2000::/3")

func mustPrefix(s string) netip.Prefix {
	return netip.MustParsePrefix(s)
}

// classify reports why addr must not be dialled: the offending block (invalid
// when there is no single named block) and its kind, or denied=false when the
// address is public. It unmaps IPv4-mapped IPv6
// and drops any zone first (netip.Prefix.Contains is false for zoned
// addresses, which would otherwise let fe80::1%eth0 through).
func classify(addr netip.Addr) (block netip.Prefix, kind string, denied bool) {
	if !addr.IsValid() {
		return netip.Prefix{}, "invalid", true
	}
	addr = addr.WithZone("").Unmap()
	for _, r := range deniedRanges {
		if r.prefix.Contains(addr) {
			return r.prefix, r.kind, true
		}
	}
	if addr.Is6() && !globalUnicast6.Contains(addr) {
		return netip.Prefix{}, "reserved", true
	}
	return netip.Prefix{}, "", false
}
