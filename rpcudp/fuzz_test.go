package rpcudp

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"net/netip"
	"os"
	"testing"
)

// FuzzInbound feeds arbitrary datagrams to the inbound path (header,
// envelope, reply matching, dispatch, argument decoding, error replies):
// whatever arrives, nothing panics and the endpoint keeps serving. The seed
// corpus is every recorded Python datagram plus testdata/fuzz/FuzzInbound.
func FuzzInbound(f *testing.F) {
	raw, err := os.ReadFile("testdata/python-reference.json")
	if err != nil {
		f.Fatal(err)
	}
	var file struct {
		Vectors []struct {
			Hex        string `json:"hex"`
			RequestHex string `json:"request_hex"`
		}
	}
	if err := json.Unmarshal(raw, &file); err != nil {
		f.Fatal(err)
	}
	for _, v := range file.Vectors {
		for _, h := range []string{v.Hex, v.RequestHex} {
			if b, err := hex.DecodeString(h); err == nil && len(b) > 0 {
				f.Add(b)
			}
		}
	}
	e := New(&nopConn{}, WithTimeout(1))
	defer e.Close()
	e.Handle("sayhi", sayhi)
	e.Handle("ping", func(_ context.Context, _ netip.AddrPort, id []byte) ([]byte, error) { return id, nil })
	e.Handle("store", func(_ context.Context, _ netip.AddrPort, id, key []byte, v any) (bool, error) { return true, nil })
	e.Handle("complex", func(_ context.Context, _ netip.AddrPort, xs []any, m map[string]any) (any, error) { return m, nil })
	e.Handle("raw", HandlerFunc(func(_ context.Context, r *Request) (any, error) { return r.RawArgs() }))
	from := netip.MustParseAddrPort("127.0.0.1:4567")
	f.Fuzz(func(t *testing.T, b []byte) {
		if j, ok := e.handleDatagram(b, from); ok {
			e.run(j) // on this goroutine, so each input is served before the next
		}
	})
}
