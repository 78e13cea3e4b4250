package main

import (
	"bytes"
	"context"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rpcudp/go-rpcudp/rpcudp"
	"github.com/rpcudp/go-rpcudp/rpcudp/service"
)

// serviceServer starts an in-process rpcudp/service server: test(arg) in
// the null namespace, stop in "control" at 2.0, and a signal "ticks".
func serviceServer(t *testing.T) (string, *service.Signal) {
	t.Helper()
	ep, err := rpcudp.Listen(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ep.Close() })
	srv := service.New(ep)
	control := &service.Group{Namespace: "control", Version: "2.0"}
	if err := control.Handle("stop", func(context.Context, netip.AddrPort) (string, error) { return "stopping", nil }); err != nil {
		t.Fatal(err)
	}
	if err := srv.Add(control); err != nil {
		t.Fatal(err)
	}
	if err := srv.Handle("test", func(_ context.Context, _ netip.AddrPort, v any) (any, error) { return v, nil }); err != nil {
		t.Fatal(err)
	}
	ticks, err := srv.Signal("ticks", "test ticks")
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()
	return ep.LocalAddr().String(), ticks
}

func TestNamespaceVersion(t *testing.T) {
	addr, _ := serviceServer(t)
	tests := []struct {
		name     string
		args     []string
		code     int
		stdout   string
		inStderr string
	}{
		{"namespaced", []string{"-namespace", "control", "-version", "2.0", addr, "stop"}, 0, "\"stopping\"\n", ""},
		{"any version", []string{"-namespace", "control", addr, "stop"}, 0, "\"stopping\"\n", ""},
		{"older minor", []string{"-namespace", "control", "-version", "2", addr, "stop"}, 0, "\"stopping\"\n", ""},
		{"newer major", []string{"-namespace", "control", "-version", "3.0", addr, "stop"}, 1, "", "error 201: service: incompatible version"},
		{"newer minor", []string{"-namespace", "control", "-version", "2.1", addr, "stop"}, 1, "", "incompatible version"},
		{"no such namespace", []string{"-namespace", "admin", addr, "stop"}, 1, "", "error 200: service: no such namespace"},
		{"null namespace by version", []string{"-version", "1.0", addr, "test", `[1, "a"]`}, 0, "[1,\"a\"]\n", ""},
		{"null namespace plain", []string{addr, "test", `{"bin": "00"}`}, 0, "{\"bin\":\"00\"}\n", ""},
		{"not in the null namespace", []string{addr, "stop"}, 1, "", "error 2: unknown method"},
		{"bad version", []string{"-namespace", "control", "-version", "two", addr, "stop"}, 1, "", "bad version"},
		{"-list with a namespace", []string{"-list", "-namespace", "control", addr}, 3, "", "-list takes no"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := call(tt.args...)
			if code != tt.code || stdout != tt.stdout || !strings.Contains(stderr, tt.inStderr) {
				t.Errorf("call %q = %d\nstdout %q\nstderr %q\nwant %d, %q, stderr with %q", tt.args, code, stdout, stderr, tt.code, tt.stdout, tt.inStderr)
			}
		})
	}
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitFor polls cond until it holds, failing the test after 5 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// subscriberCount returns a function that asks the server at addr, as
// any client may (svc.inventory), how many subscribers hold a lease on
// signal; -1 if it cannot tell.
func subscriberCount(t *testing.T, addr, signal string) func() int {
	t.Helper()
	ep, err := rpcudp.Listen(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ep.Close() })
	to := netip.MustParseAddrPort(addr)
	return func() int {
		var inv struct {
			Signals []struct {
				Name        string `msgpack:"name"`
				Subscribers int    `msgpack:"subscribers"`
			} `msgpack:"signals"`
		}
		r, err := ep.Call(context.Background(), to, "svc.inventory")
		if err != nil || r.Decode(&inv) != nil {
			return -1
		}
		for _, g := range inv.Signals {
			if g.Name == signal {
				return g.Subscribers
			}
		}
		return -1
	}
}

// TestWatch: -watch prints each emission as a JSON line until interrupted.
func TestWatch(t *testing.T) {
	addr, ticks := serviceServer(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stdout, stderr := &syncBuffer{}, &syncBuffer{}
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"-watch", "ticks", addr}, stdout, stderr) }()
	subs := subscriberCount(t, addr, "ticks")
	waitFor(t, "the subscription", func() bool { return subs() == 1 })
	ticks.Emit(ctx, 1)
	ticks.Emit(ctx, "two", []byte{0xff})
	ticks.Emit(ctx)
	want := `{"signal":"ticks","seq":1,"args":[1]}` + "\n" +
		`{"signal":"ticks","seq":2,"args":["two",{"bin":"ff"}]}` + "\n" +
		`{"signal":"ticks","seq":3,"args":[]}` + "\n"
	waitFor(t, "three emissions", func() bool { return strings.Count(stdout.String(), "\n") >= 3 })
	cancel() // as SIGINT
	if code := <-done; code != 0 || stdout.String() != want || stderr.String() != "" {
		t.Errorf("exit %d\nstdout %q\nwant   %q\nstderr %q", code, stdout, want, stderr)
	}
	// The watcher unsubscribed on its way out.
	waitFor(t, "the unsubscription", func() bool { return subs() == 0 })
}

func TestWatchFor(t *testing.T) {
	addr, _ := serviceServer(t)
	dead := silent(t)
	tests := []struct {
		name     string
		args     []string
		code     int
		stdout   string
		inStderr string
	}{
		{"quiet signal", []string{"-watch", "ticks", "-for", "200ms", addr}, 0, "", ""},
		{"no such signal", []string{"-watch", "tocks", "-for", "1s", addr}, 1, "", "service: no such signal"},
		{"Python peer", []string{"-watch", "ticks", "-timeout", "100ms", dead}, 2, "No response received.\n", ""},
		{"with a method", []string{"-watch", "ticks", addr, "m"}, 3, "", "HOST:PORT alone"},
		{"with a namespace", []string{"-watch", "ticks", "-namespace", "control", addr}, 3, "", "-watch takes neither"},
		{"-for alone", []string{"-for", "1s", addr, "test", "1"}, 3, "", "-for goes with -watch"},
		{"negative -for", []string{"-watch", "ticks", "-for", "-1s", addr}, 3, "", "-for must not be negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := call(tt.args...)
			if code != tt.code || stdout != tt.stdout || !strings.Contains(stderr, tt.inStderr) {
				t.Errorf("call %q = %d\nstdout %q\nstderr %q\nwant %d, %q, stderr with %q", tt.args, code, stdout, stderr, tt.code, tt.stdout, tt.inStderr)
			}
		})
	}
	subs := subscriberCount(t, addr, "ticks")
	waitFor(t, "no subscriber left", func() bool { return subs() == 0 })
}
