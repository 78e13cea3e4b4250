package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rpcudp/go-rpcudp/kademlia/keyfile"
	"github.com/rpcudp/go-rpcudp/rpcudp"
)

// startService starts n rpcudp servers on loopback, each answering whoami
// with its address, echo with its argument and fail with an error, and
// announces each under name through its own DHT node. The servers are
// returned in address order.
func startService(t *testing.T, name string, n int) (join string, servers []*rpcudp.Endpoint) {
	return startSignedService(t, name, n, nil)
}

// startSignedService is startService with announcements signed with key
// (nil: the open name's).
func startSignedService(t *testing.T, name string, n int, key ed25519.PrivateKey) (join string, servers []*rpcudp.Endpoint) {
	t.Helper()
	nodes := startNetwork(t, n+1)
	ctx := testCtx(t)
	for i := range n {
		ep, err := rpcudp.Listen(ctx, "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ep.Close() })
		addr := ep.LocalAddr().String()
		ep.Handle("whoami", func(context.Context, netip.AddrPort) (string, error) { return addr, nil })
		ep.Handle("echo", func(_ context.Context, _ netip.AddrPort, v any) (any, error) { return v, nil })
		ep.Handle("fail", func(context.Context, netip.AddrPort) error { return errors.New("no luck") })
		if err := newRegistry(nodes[i+1], registryOptions{key: key}).announce(ctx, name, addr, time.Minute); err != nil {
			t.Fatal(err)
		}
		servers = append(servers, ep)
	}
	slices.SortFunc(servers, func(a, b *rpcudp.Endpoint) int { return a.LocalAddr().Compare(b.LocalAddr()) })
	return nodes[0].Addr().String(), servers
}

func runCmd(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(testCtx(t), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func fanoutReply(addr, reply string) string {
	return fmt.Sprintf(`{"server":%q,"reply":%s}`, addr, reply)
}

// TestCallCommand: registry call reaches the service's servers through the
// DHT: any one, a given one, all of them; error replies and unknown names
// exit as examples/call does.
func TestCallCommand(t *testing.T) {
	join, servers := startService(t, "svc", 3)
	addr := func(i int) string { return servers[i].LocalAddr().String() }
	base := []string{"call", "-join", join, "-name", "svc", "-timeout", "400ms"}
	allReplies := fanoutReply(addr(0), `"`+addr(0)+`"`) + "\n" + fanoutReply(addr(1), `"`+addr(1)+`"`) + "\n" +
		fanoutReply(addr(2), `"`+addr(2)+`"`) + "\n"
	allErrors := ""
	for i := range servers {
		allErrors += fmt.Sprintf(`{"server":%q,"error":{"code":1,"message":"no luck"}}`+"\n", addr(i))
	}
	for _, tt := range []struct {
		name     string
		args     []string
		code     int
		stdout   string
		inStderr string
	}{
		{"any server", []string{"echo", `{"bin": "00ff"}`}, 0, "{\"bin\":\"00ff\"}\n", ""},
		{"given server", []string{"-server", addr(1), "whoami"}, 0, `"` + addr(1) + "\"\n", ""},
		{"fanout", []string{"-fanout", "whoami"}, 0, allReplies, ""},
		{"fanout of errors", []string{"-fanout", "fail"}, 1, allErrors, ""},
		{"error reply", []string{"fail"}, 1, "", "error 1: no luck"},
		{"unknown method", []string{"nope"}, 1, "", "error 2: unknown method"},
		{"server not announced", []string{"-server", "127.0.0.1:9", "whoami"}, 2, "", "not a live server"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runCmd(t, append(slices.Clone(base), tt.args...)...)
			if code != tt.code || stdout != tt.stdout || !strings.Contains(stderr, tt.inStderr) {
				t.Errorf("registry %q = %d\nstdout %q\nstderr %q\nwant %d, %q, stderr with %q", tt.args, code, stdout, stderr, tt.code, tt.stdout, tt.inStderr)
			}
		})
	}
	code, stdout, stderr := runCmd(t, "call", "-join", join, "-name", "other", "-timeout", "400ms", "whoami")
	if code != 2 || stdout != "" || !strings.Contains(stderr, `no live server of "other"`) {
		t.Errorf("unknown name: %d %q %q", code, stdout, stderr)
	}
}

// TestCallSurvivesDeadServer: three servers announced, one dies (its record
// is still fresh); a call that tries the dead one first moves on to the
// next, and -fanout reports it as not answering.
func TestCallSurvivesDeadServer(t *testing.T) {
	join, servers := startService(t, "svc", 3)
	dead := servers[1].LocalAddr().String()
	servers[1].Close()
	o, code, ok := parseCall([]string{"-join", join, "-name", "svc", "-timeout", "300ms", "whoami"}, &bytes.Buffer{})
	if !ok {
		t.Fatalf("parse: %d", code)
	}
	o.order = func(int) []int { return []int{1, 2, 0} } // the dead one first
	var out, errOut bytes.Buffer
	code = callService(testCtx(t), o, &out, &errOut)
	if want := `"` + servers[2].LocalAddr().String() + "\"\n"; code != 0 || out.String() != want {
		t.Fatalf("call = %d, stdout %q (want %q), stderr %q", code, out.String(), want, errOut.String())
	}
	if !strings.Contains(errOut.String(), "no response from "+dead+"; trying the next server") {
		t.Errorf("stderr %q does not report the dead server", errOut.String())
	}

	// With the default (random) order, every call succeeds.
	for range 3 {
		if code, stdout, stderr := runCmd(t, "call", "-join", join, "-name", "svc", "-timeout", "300ms", "echo", "7"); code != 0 || stdout != "7\n" {
			t.Fatalf("call = %d, %q, %q", code, stdout, stderr)
		}
	}

	code, stdout, stderr := runCmd(t, "call", "-join", join, "-name", "svc", "-timeout", "300ms", "-fanout", "whoami")
	a0, a2 := servers[0].LocalAddr().String(), servers[2].LocalAddr().String()
	want := fanoutReply(a0, `"`+a0+`"`) + "\n" +
		fmt.Sprintf(`{"server":%q,"error":{"message":"No response received."}}`, dead) + "\n" +
		fanoutReply(a2, `"`+a2+`"`) + "\n"
	if code != 2 || stdout != want {
		t.Errorf("fanout = %d\nstdout %q\nwant   %q\nstderr %q", code, stdout, want, stderr)
	}

	// Only the dead one given: no response.
	code, stdout, _ = runCmd(t, "call", "-join", join, "-name", "svc", "-timeout", "300ms", "-server", dead, "whoami")
	if code != 2 || stdout != "No response received.\n" {
		t.Errorf("-server dead = %d, %q", code, stdout)
	}
}

func TestCallBadArgs(t *testing.T) {
	for _, tt := range []struct {
		name string
		args []string
		err  string
	}{
		{"no method", []string{"call", "-join", "127.0.0.1:1", "-name", "x"}, "METHOD is required"},
		{"no -join", []string{"call", "-name", "x", "m"}, "-join"},
		{"server and fanout", []string{"call", "-join", "127.0.0.1:1", "-name", "x", "-server", "127.0.0.1:2", "-fanout", "m"}, "exclude"},
		{"bad JSON", []string{"call", "-join", "127.0.0.1:1", "-name", "x", "m", "{x}"}, "argument 1: not JSON"},
		{"bad flag", []string{"call", "-bogus"}, "bogus"},
		{"bad -join", []string{"call", "-join", "127.0.0.1", "-name", "x", "m"}, "bad -join"},
		{"bad -owner", []string{"call", "-join", "127.0.0.1:1", "-name", "x", "-owner", "00ff", "m"}, "-owner"},
		{"missing -key file", []string{"call", "-join", "127.0.0.1:1", "-name", "x", "-key", "/nonexistent/k", "m"}, "-key"},
		{"-key and -owner", []string{"call", "-join", "127.0.0.1:1", "-name", "x", "-key", "k", "-owner", "00", "m"}, "exclude"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runCmd(t, tt.args...)
			if code != 3 || stdout != "" || !strings.Contains(stderr, tt.err) {
				t.Errorf("exit %d, stdout %q, stderr %q; want 3 and %q", code, stdout, stderr, tt.err)
			}
		})
	}
}

// TestCallSigned: announcements signed with a key are found with -owner
// (its public key) or -key (its file), and not as an open name.
func TestCallSigned(t *testing.T) {
	keyFile := filepath.Join(t.TempDir(), "svc.key")
	priv, _, err := keyfile.Load(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	join, servers := startSignedService(t, "svc", 1, priv)
	owner := hex.EncodeToString(priv.Public().(ed25519.PublicKey))
	want := `"` + servers[0].LocalAddr().String() + `"` + "\n"
	for _, flags := range [][]string{{"-owner", owner}, {"-key", keyFile}} {
		args := append([]string{"call", "-join", join, "-name", "svc", "-timeout", "400ms"}, flags...)
		if code, stdout, stderr := runCmd(t, append(args, "whoami")...); code != 0 || stdout != want {
			t.Errorf("call %q = %d, %q, %q", flags, code, stdout, stderr)
		}
	}
	if code, _, stderr := runCmd(t, "call", "-join", join, "-name", "svc", "-timeout", "400ms", "whoami"); code != 2 || !strings.Contains(stderr, "no live server") {
		t.Errorf("open name: %d, %q", code, stderr)
	}
}

// TestAnnounceWithKey: announce -key creates the key file and prints its
// public key; lookup finds the service with -owner HEX, not as an open name.
func TestAnnounceWithKey(t *testing.T) {
	nodes := startNetwork(t, 3)
	join := nodes[0].Addr().String()
	keyFile := filepath.Join(t.TempDir(), "svc.key")
	ctx, cancel := context.WithCancel(context.Background())
	out, errOut := &syncBuffer{}, &syncBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"announce", "-join", join, "-name", "svc", "-addr", "127.0.0.1:7001", "-key", keyFile, "-timeout", "400ms"}, out, errOut)
	}()
	defer func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("announce exit %d: %s", code, errOut)
		}
	}()
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(out.String(), "announced svc"); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("announce did not start: %q %q", out, errOut)
		}
	}
	_, pubHex, ok := strings.Cut(strings.SplitN(out.String(), "\n", 2)[0], "public key ")
	if !ok {
		t.Fatalf("announce printed %q", out)
	}
	if fi, err := os.Stat(keyFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, %v", fi, err)
	}
	if code, stdout, stderr := runCmd(t, "lookup", "-join", join, "-name", "svc", "-owner", pubHex, "-timeout", "400ms"); code != 0 || stdout != "127.0.0.1:7001\n" {
		t.Errorf("lookup -owner = %d, %q, %q", code, stdout, stderr)
	}
	if code, stdout, _ := runCmd(t, "lookup", "-join", join, "-name", "svc", "-timeout", "400ms"); code != 1 {
		t.Errorf("lookup of the open name = %d, %q", code, stdout)
	}
}
