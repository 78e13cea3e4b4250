package rpcudp_test

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rpcudp/go-rpcudp/rpcudp"
	"github.com/rpcudp/go-rpcudp/rpcudp/simnet"
)

// TestUnknownMethodInterceptors: a request for an unknown method passes
// the interceptors like any other (review finding 12): one that refuses
// it with ErrRateLimited sees it, and no error reply leaves. Allowed, the
// error reply echoes at most 64 bytes of the method name.
func TestUnknownMethodInterceptors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := simnet.New(simnet.Config{Latency: 10 * time.Millisecond})
		defer n.Close()
		var mu sync.Mutex
		var seen []string
		refuse := true
		limit := func(ctx context.Context, req *rpcudp.Request, next rpcudp.HandlerFunc) (any, error) {
			mu.Lock()
			defer mu.Unlock()
			seen = append(seen, req.Method)
			if refuse {
				return nil, rpcudp.ErrRateLimited
			}
			return next(ctx, req)
		}
		server := simEndpoint(t, n, serverAddr.String(), rpcudp.WithInterceptors(limit))
		defer server.Close()
		client := simEndpoint(t, n, clientAddr.String(), rpcudp.WithTimeout(time.Second))
		defer client.Close()
		ctx := context.Background()

		_, err := client.Call(ctx, serverAddr, "nope")
		if !errors.Is(err, rpcudp.ErrTimeout) {
			t.Errorf("refused unknown method: %v, want ErrTimeout (no error reply)", err)
		}
		if s := server.Stats(); s.ErrorReplies != 0 || s.Drops.RateLimited != 1 || s.DatagramsOut != 0 {
			t.Errorf("server sent %d datagrams, %d error replies, rate limited %d; want 0, 0, 1", s.DatagramsOut, s.ErrorReplies, s.Drops.RateLimited)
		}

		mu.Lock()
		refuse = false
		mu.Unlock()
		long := strings.Repeat("n", 300)
		_, err = client.Call(ctx, serverAddr, long)
		re, ok := errors.AsType[*rpcudp.RemoteError](err)
		if !ok || !errors.Is(err, rpcudp.ErrUnknownMethod) || re.Method != long[:64] || re.Message != "unknown method" {
			t.Errorf("allowed unknown method: %v, want an unknown-method error reply naming %d bytes of it", err, 64)
		}
		mu.Lock()
		if len(seen) != 2 || seen[0] != "nope" || seen[1] != long[:64] {
			t.Errorf("the interceptor saw %q, want nope and the long name cut at 64 bytes", seen)
		}
		mu.Unlock()
	})
}

// TestFairSlots: one source floods a slow method at 1,000 requests a
// second (review finding 11); a client on another address still gets
// (nearly) all its answers, since one source gets no more than its share
// of the handler slots while half of them are busy.
func TestFairSlots(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := simnet.New(simnet.Config{Latency: 5 * time.Millisecond, QueueLen: 1 << 14})
		defer n.Close()
		server := simEndpoint(t, n, serverAddr.String())
		defer server.Close()
		server.Handle("sayhi_slowly", func(ctx context.Context, _ netip.AddrPort, name string) (string, error) {
			select {
			case <-time.After(2 * time.Second):
			case <-ctx.Done():
			}
			return "hi " + name, nil
		})
		client := simEndpoint(t, n, clientAddr.String())
		defer client.Close()

		flooder := netip.MustParseAddrPort("10.0.0.66:5000")
		done := make(chan struct{})
		go func() {
			defer close(done)
			for i := range 5000 { // 5 s at 1,000 a second
				n.Inject(flooder, serverAddr, request(i, "sayhi_slowly", "flood"))
				time.Sleep(time.Millisecond)
			}
		}()
		var ok atomic.Int32
		var wg sync.WaitGroup
		for i := range 10 { // spread over the flood
			wg.Go(func() {
				time.Sleep(time.Duration(i+1) * 400 * time.Millisecond)
				if _, err := client.Call(context.Background(), serverAddr, "sayhi_slowly", "me"); err == nil {
					ok.Add(1)
				}
			})
		}
		wg.Wait()
		<-done
		if ok := ok.Load(); ok < 9 {
			t.Errorf("%d of 10 legitimate calls answered during the flood; server %+v", ok, server.Stats())
		}
	})
}
