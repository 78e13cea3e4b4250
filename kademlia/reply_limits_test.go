package kademlia

import (
	"net/netip"
	"testing"

	"github.com/rpcudp/go-rpcudp/rpcudp/wire"
)

// TestRelayAllowed: the relay rules of go-ethereum's CheckRelayIP.
func TestRelayAllowed(t *testing.T) {
	tests := []struct {
		sender, addr string
		want         bool
	}{
		{"8.8.8.8", "1.2.3.4", true},
		{"8.8.8.8", "2a00:1450::1", true},
		{"127.0.0.1", "1.2.3.4", true},
		{"10.0.0.1", "1.2.3.4", true},
		{"8.8.8.8", "127.0.0.1", false},
		{"8.8.8.8", "127.1.2.3", false},
		{"8.8.8.8", "::1", false},
		{"10.0.0.1", "127.0.0.1", false},
		{"127.0.0.1", "127.0.0.2", true},
		{"::1", "127.0.0.2", true},
		{"8.8.8.8", "10.1.2.3", false},
		{"8.8.8.8", "172.16.0.1", false},
		{"8.8.8.8", "192.168.1.1", false},
		{"8.8.8.8", "169.254.1.1", false},
		{"8.8.8.8", "100.64.0.1", false},
		{"8.8.8.8", "fd00::1", false},
		{"8.8.8.8", "fe80::1", false},
		{"2a00:1450::1", "fd00::1", false},
		{"192.168.1.1", "10.1.2.3", true},
		{"127.0.0.1", "192.168.1.1", true},
		{"fd00::2", "fd00::1", true},
		{"100.64.0.2", "10.0.0.1", true},
		{"::ffff:8.8.8.8", "::ffff:127.0.0.1", false},
		{"::ffff:127.0.0.1", "127.0.0.2", true},
		{"8.8.8.8", "100.128.0.1", true}, // just past the shared space
		{"127.0.0.1", "0.0.0.0", false},
		{"127.0.0.1", "0.1.2.3", false},
		{"127.0.0.1", "255.255.255.255", false},
		{"127.0.0.1", "240.0.0.1", false},
		{"127.0.0.1", "224.0.0.1", false},
		{"127.0.0.1", "ff02::1", false},
		{"127.0.0.1", "::", false},
		{"127.0.0.1", "192.0.2.1", false},
		{"127.0.0.1", "198.51.100.1", false},
		{"127.0.0.1", "203.0.113.1", false},
		{"127.0.0.1", "198.19.0.1", false},
		{"127.0.0.1", "198.20.0.1", true},
		{"127.0.0.1", "2001:db8::1", false},
		{"127.0.0.1", "100::1", false},
		{"127.0.0.1", "100:0:0:1::1", true},
	}
	for _, tt := range tests {
		if got := relayAllowed(netip.MustParseAddr(tt.sender), netip.MustParseAddr(tt.addr)); got != tt.want {
			t.Errorf("relayAllowed(%s, %s) = %v, want %v", tt.sender, tt.addr, got, tt.want)
		}
	}
	if relayAllowed(netip.Addr{}, netip.MustParseAddr("10.0.0.1")) || !relayAllowed(netip.Addr{}, netip.MustParseAddr("1.2.3.4")) {
		t.Error("an unknown sender is not held to a public sender's rules")
	}
}

// TestParseContactsKeepsK: of a reply naming a datagram's worth of
// contacts, K are kept (the first acceptable ones: addresses the sender
// may not relay do not count); the rest is checked for shape only, so a
// malformed entry anywhere still makes the reply malformed.
func TestParseContactsKeepsK(t *testing.T) {
	n := newDHTNode(t, Config{K: 8})
	public := netip.MustParseAddr("8.8.8.8")
	list := func(count int, bad int) []byte {
		b := wire.AppendArrayLen(nil, count)
		for i := range count {
			id := RandomID()
			ip := "45.0.0.1"
			if i%2 == 0 {
				ip = "127.0.0.1" // not from a public sender
			}
			if i == bad {
				b = wire.AppendArrayLen(b, 2)
				b = wire.AppendBin(b, id[:])
				b = wire.AppendStr(b, ip)
				continue
			}
			b = wire.AppendArrayLen(b, 3)
			b = wire.AppendBin(b, id[:])
			b = wire.AppendStr(b, ip)
			b = wire.AppendInt(b, int64(1+i%60000))
		}
		return b
	}
	tests := []struct {
		name    string
		reply   []byte
		from    netip.Addr
		want    int
		wantBad bool
	}{
		{"1,700 from a public peer", list(1700, -1), public, 8, false},
		{"1,700 from loopback", list(1700, -1), netip.MustParseAddr("127.0.0.1"), 8, false},
		{"10 from a public peer", list(10, -1), public, 5, false},
		{"malformed entry after K kept", list(1700, 1699), public, 0, true},
		{"malformed entry before", list(1700, 3), public, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cs, err := n.parseContacts(tt.reply, tt.from)
			if tt.wantBad {
				if err == nil {
					t.Fatalf("got %d contacts, want a malformed reply", len(cs))
				}
				return
			}
			if err != nil || len(cs) != tt.want {
				t.Fatalf("got %d contacts, %v; want %d", len(cs), err, tt.want)
			}
			for _, c := range cs {
				if !relayAllowed(tt.from, c.Addr.Addr()) {
					t.Errorf("kept %v relayed by %v", c, tt.from)
				}
			}
		})
	}
}

// BenchmarkParseContacts1700 reads a datagram's worth of contacts.
func BenchmarkParseContacts1700(b *testing.B) {
	n := newDHTNode(b, Config{})
	reply := wire.AppendArrayLen(nil, 1700)
	for i := range 1700 {
		id := RandomID()
		reply = wire.AppendArrayLen(reply, 3)
		reply = wire.AppendBin(reply, id[:])
		reply = wire.AppendStr(reply, "45.1.2.3")
		reply = wire.AppendInt(reply, int64(1+i))
	}
	from := netip.MustParseAddr("8.8.8.8")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := n.parseContacts(reply, from); err != nil {
			b.Fatal(err)
		}
	}
}
