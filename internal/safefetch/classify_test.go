package safefetch

import (
	"net/netip"
	"testing"
)

func TestClassify(t *testing.T) {
	tests := []struct {
		addr string
		kind string // "" means allowed
	}{
		// Public addresses pass.
		{"8.8.8.8", ""},
		{"1.1.1.1", ""},
		{"100.63.255.255", ""}, // just below CGNAT
		{"100.128.0.0", ""},    // just above CGNAT
		{"172.15.255.255", ""},
		{"172.32.0.0", ""},
		{"192.0.1.1", ""},
		{"198.17.255.255", ""},
		{"198.20.0.0", ""},
		{"223.255.255.255", ""},
		{"2606:4700:4700::1111", ""},
		{"2a00:1450:4001:80b::200e", ""},
		{"::ffff:8.8.8.8", ""},       // mapped public IPv4 is public
		{"2001:200::1", ""},          // first global block after 2001::/23
		{"2003::1", ""},              // just above 6to4
		{"64:ff9b:2::1", "reserved"}, // outside NAT64 blocks, still outside 2000::/3

		// IPv4 denied ranges, edges included.
		{"0.0.0.0", "this-network"},
		{"0.255.255.255", "this-network"},
		{"10.0.0.1", "private"},
		{"10.255.255.255", "private"},
		{"100.64.0.0", "CGNAT shared"},
		{"100.100.100.200", "CGNAT shared"}, // Alibaba Cloud metadata
		{"100.127.255.255", "CGNAT shared"},
		{"127.0.0.1", "loopback"},
		{"127.255.255.254", "loopback"},
		{"169.254.169.254", "cloud metadata"},
		{"169.254.0.1", "link-local"},
		{"169.254.170.2", "link-local"}, // ECS task metadata
		{"172.16.0.1", "private"},
		{"172.31.255.255", "private"},
		{"192.0.0.192", "IETF protocol assignment"}, // Oracle Cloud metadata
		{"192.0.2.10", "documentation"},
		{"192.88.99.1", "6to4 relay"},
		{"192.168.1.1", "private"},
		{"198.18.0.1", "benchmarking"},
		{"198.19.255.255", "benchmarking"},
		{"198.51.100.7", "documentation"},
		{"203.0.113.9", "documentation"},
		{"224.0.0.1", "multicast"},
		{"239.255.255.250", "multicast"},
		{"240.0.0.1", "reserved"},
		{"255.255.255.254", "reserved"},
		{"255.255.255.255", "broadcast"},

		// IPv4-mapped IPv6 is judged by its IPv4 address.
		{"::ffff:127.0.0.1", "loopback"},
		{"::ffff:10.1.2.3", "private"},
		{"::ffff:169.254.169.254", "cloud metadata"},
		{"::ffff:100.64.1.1", "CGNAT shared"},

		// IPv6 denied ranges.
		{"::", "unspecified"},
		{"::1", "loopback"},
		{"::127.0.0.1", "IPv4-compatible"},
		{"::2", "IPv4-compatible"},
		{"64:ff9b::7f00:1", "NAT64"},
		{"64:ff9b::808:808", "NAT64"}, // even a public embedded IPv4
		{"64:ff9b:1::1", "NAT64"},
		{"100::1", "discard-only"},
		{"2001::1", "Teredo"},
		{"2001:0:4136:e378:8000:63bf:3fff:fdd2", "Teredo"},
		{"2001:db8::1", "documentation"},
		{"2001:2::1", "IETF protocol assignment"},  // benchmarking
		{"2001:10::1", "IETF protocol assignment"}, // ORCHID
		{"2002::1", "6to4"},
		{"2002:7f00:1::1", "6to4"},    // 6to4 for 127.0.0.1
		{"2002:a9fe:a9fe::1", "6to4"}, // 6to4 for 169.254.169.254
		{"3fff::1", "documentation"},
		{"fc00::1", "private"},
		{"fd00:ec2::254", "private"}, // AWS IPv6 metadata
		{"fe80::1", "link-local"},
		{"fe80::1%eth0", "link-local"}, // zones must not hide the address
		{"febf::1", "link-local"},
		{"fec0::1", "site-local"},
		{"feff::1", "site-local"},
		{"ff02::1", "multicast"},
		{"ff05::1:3", "multicast"},
		{"5f00::1", "reserved"}, // SRv6 SIDs, outside 2000::/3
		{"4000::1", "reserved"},
		{"1::1", "reserved"},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			addr := netip.MustParseAddr(tt.addr)
			block, kind, denied := classify(addr)
			if denied != (tt.kind != "") || kind != tt.kind {
				t.Fatalf("classify(%s) = %v, %q, %v; want kind %q", tt.addr, block, kind, denied, tt.kind)
			}
			if denied && block.IsValid() && !block.Contains(addr.WithZone("").Unmap()) {
				t.Errorf("classify(%s) names block %s, which does not contain it", tt.addr, block)
			}
		})
	}
}

func TestClassifyInvalid(t *testing.T) {
	if _, _, denied := classify(netip.Addr{}); !denied {
		t.Fatal("the zero Addr must be denied")
	}
}

// Every listed range must be denied at its first and last address, and no
// entry may be shadowed by an earlier, wider one (its explanation would
// never be given).
func TestDeniedRangesReachable(t *testing.T) {
	for i, r := range deniedRanges {
		for _, a := range []netip.Addr{r.prefix.Masked().Addr(), lastAddr(r.prefix)} {
			if _, _, denied := classify(a); !denied {
				t.Errorf("%s: address %s allowed", r.prefix, a)
			}
		}
		for _, earlier := range deniedRanges[:i] {
			if earlier.prefix.Bits() <= r.prefix.Bits() && earlier.prefix.Overlaps(r.prefix) {
				t.Errorf("%s (%s) is shadowed by the earlier %s (%s)", r.prefix, r.kind, earlier.prefix, earlier.kind)
			}
		}
	}
}

func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}
