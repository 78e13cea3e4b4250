package main

import (
	"bytes"
	"context"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/rpcudp/go-rpcudp/kademlia"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

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

// running is a node command started by startNode.
type running struct {
	node        *kademlia.Node
	storage     kademlia.Storage
	out, errOut *syncBuffer
	cancel      context.CancelFunc
	done        chan int
	once        sync.Once
	code        int
}

// startNode runs the command with args until the test ends (or stop).
func startNode(t *testing.T, args ...string) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{out: &syncBuffer{}, errOut: &syncBuffer{}, cancel: cancel, done: make(chan int, 1)}
	started := make(chan *kademlia.Node, 1)
	go func() {
		r.done <- run(ctx, args, r.out, r.errOut, func(n *kademlia.Node, s kademlia.Storage) {
			r.storage = s
			started <- n
		})
	}()
	t.Cleanup(func() { r.stop() })
	select {
	case r.node = <-started:
	case code := <-r.done:
		r.done <- code
		t.Fatalf("node %v exited %d before starting; stderr:\n%s", args, code, r.errOut)
	case <-time.After(10 * time.Second):
		t.Fatalf("node %v did not start; stderr:\n%s", args, r.errOut)
	}
	return r
}

// stop interrupts the command and returns its exit code.
func (r *running) stop() int {
	r.once.Do(func() {
		r.cancel()
		r.code = <-r.done
	})
	return r.code
}

func (r *running) port() string { return strconv.Itoa(int(r.node.Addr().Port())) }

// client starts a plain DHT node on loopback that bootstraps from r.
func client(t *testing.T, r *running) *kademlia.Node {
	t.Helper()
	ctx := testCtx(t)
	n, err := kademlia.Listen(ctx, "127.0.0.1:0", kademlia.Config{RPCTimeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	if _, err := n.Bootstrap(ctx, []netip.AddrPort{r.node.Addr()}); err != nil {
		t.Fatal(err)
	}
	return n
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestNodeServesSetGetAndRestarts(t *testing.T) {
	dir := t.TempDir()
	state, db := filepath.Join(dir, "a.state"), filepath.Join(dir, "a.db")
	a := startNode(t, "-listen", "127.0.0.1:0", "-state", state, "-db", db)
	id := a.node.ID()
	if want := "node " + id.String() + " listening on " + a.node.Addr().String() + "\n"; !strings.HasPrefix(a.out.String(), want) {
		t.Fatalf("stdout %q, want it to start with %q", a.out, want)
	}
	b := startNode(t, "-listen", "127.0.0.1:0", "-i", "127.0.0.1", "-p", a.port())
	if !strings.Contains(b.out.String(), "bootstrapped: ") {
		t.Errorf("second node's stdout %q", b.out)
	}

	// Set through one node, get through the other.
	ctx := testCtx(t)
	setter, getter := client(t, b), client(t, a)
	if err := setter.Set(ctx, "hello", "world"); err != nil {
		t.Fatal(err)
	}
	v, found, err := getter.Get(ctx, "hello")
	if err != nil || !found || v.String() != "world" {
		t.Fatalf("Get = %v, %v, %v", v, found, err)
	}

	// A node hands out (and saves) only contacts that proved themselves:
	// wait until a has verified b (it pings a caller after a grace period).
	waitNeighbor(t, a.node, b.node.Addr())

	// Stop the first node: it saves its state, and its bbolt file keeps
	// the value.
	if code := a.stop(); code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", code, a.errOut)
	}
	if !strings.HasSuffix(a.out.String(), "shutting down\n") {
		t.Errorf("stdout %q", a.out)
	}
	st, err := kademlia.LoadState(state)
	if err != nil {
		t.Fatal(err)
	}
	if st.ID != id || !slices.Contains(st.Neighbors, b.node.Addr()) {
		t.Fatalf("saved state %+v; want id %s and neighbor %s", st, id, b.node.Addr())
	}

	// Restart it from its state: same id, bootstrapped from the saved
	// neighbors, and the value still stored.
	a2 := startNode(t, "-listen", "127.0.0.1:0", "-state", state, "-db", db)
	if a2.node.ID() != id {
		t.Errorf("restarted with id %s, want %s", a2.node.ID(), id)
	}
	if !strings.Contains(a2.out.String(), "bootstrapped: ") {
		t.Errorf("restarted node's stdout %q", a2.out)
	}
	key, _ := kademlia.Digest("hello")
	if v, ok, err := a2.storage.Get(key); err != nil || !ok || v.String() != "world" {
		t.Errorf("restarted node's storage: %v, %v, %v", v, ok, err)
	}
	if code := a2.stop(); code != 0 {
		t.Errorf("exit %d", code)
	}
	if code := b.stop(); code != 0 {
		t.Errorf("exit %d", code)
	}
}

// waitNeighbor waits until n would save addr as a bootstrappable neighbor.
func waitNeighbor(t *testing.T, n *kademlia.Node, addr netip.AddrPort) {
	t.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(15 * time.Second)
	for !slices.Contains(n.BootstrappableNeighbors(), addr) {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("%s never became a verified neighbor", addr)
		}
	}
}

func TestNodeBadArgs(t *testing.T) {
	dir := t.TempDir()
	corrupt := filepath.Join(dir, "corrupt.state")
	if err := os.WriteFile(corrupt, []byte("not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		code int
		err  string
	}{
		{"-i without -p", []string{"-i", "127.0.0.1"}, 2, "go together"},
		{"-p without -i", []string{"-p", "8468"}, 2, "go together"},
		{"bad -p", []string{"-i", "127.0.0.1", "-p", "70000"}, 2, "bad -p"},
		{"stray argument", []string{"-listen", "127.0.0.1:0", "extra"}, 2, "unexpected"},
		{"bad -save-every", []string{"-save-every", "0s"}, 2, "save-every"},
		{"unknown flag", []string{"-nope"}, 2, "not defined"},
		{"cannot listen", []string{"-listen", "127.0.0.1:notaport"}, 1, "listen"},
		{"corrupt state", []string{"-listen", "127.0.0.1:0", "-state", corrupt}, 1, "load state"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := run(testCtx(t), tt.args, &out, &errOut, nil)
			if code != tt.code || !strings.Contains(errOut.String(), tt.err) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, errOut.String(), tt.code, tt.err)
			}
		})
	}
}

// TestSetAndGetCommands runs the real set and get commands against a node
// started by this command, as a user would.
func TestSetAndGetCommands(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the set and get commands")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool:", err)
	}
	bin := t.TempDir()
	buildCtx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	args := []string{"build", "-o", bin + string(filepath.Separator)}
	if raceEnabled {
		args = append(args, "-race") // reuses the packages compiled for this test
	}
	args = append(args, "github.com/rpcudp/go-rpcudp/examples/set", "github.com/rpcudp/go-rpcudp/examples/get")
	start := time.Now()
	if out, err := exec.CommandContext(buildCtx, goTool, args...).CombinedOutput(); err != nil {
		t.Fatalf("go %v: %v\n%s", args, err, out)
	}
	t.Logf("built set and get in %v", time.Since(start).Round(time.Millisecond))
	ctx := testCtx(t)
	a := startNode(t, "-listen", "127.0.0.1:0")
	startNode(t, "-listen", "127.0.0.1:0", "-i", "127.0.0.1", "-p", a.port())

	command := func(name string, args ...string) (string, int) {
		t.Helper()
		cmd := exec.CommandContext(ctx, filepath.Join(bin, name), append([]string{"-timeout", "300ms"}, args...)...)
		// A -race binary sleeps a second at exit unless told not to.
		cmd.Env = append(os.Environ(), strings.TrimSpace("GORACE="+os.Getenv("GORACE")+" atexit_sleep_ms=0"))
		var errOut bytes.Buffer
		cmd.Stderr = &errOut
		out, err := cmd.Output()
		code := cmd.ProcessState.ExitCode()
		if err != nil && code < 0 {
			t.Fatalf("%s %v: %v", name, args, err)
		}
		if errOut.Len() > 0 {
			t.Logf("%s %v stderr: %s", name, args, errOut.String())
		}
		return string(out), code
	}
	for _, step := range []struct {
		cmd  string
		args []string
		out  string
		code int
	}{
		{"set", []string{"127.0.0.1", a.port(), "hello", "world"}, "Set hello = world\n", 0},
		{"get", []string{"127.0.0.1", a.port(), "hello"}, "Get result: world\n", 0},
		{"set", []string{"-int", "127.0.0.1", a.port(), "answer", "42"}, "Set answer = 42\n", 0},
		{"get", []string{"127.0.0.1", a.port(), "answer"}, "Get result: 42\n", 0},
		{"get", []string{"127.0.0.1", a.port(), "missing"}, "Get result: None\n", 1},
		{"get", []string{"127.0.0.1", "notaport", "hello"}, "", 2},
	} {
		t0 := time.Now()
		out, code := command(step.cmd, step.args...)
		t.Logf("%s %v: exit %d in %v", step.cmd, step.args, code, time.Since(t0).Round(time.Millisecond))
		if out != step.out || code != step.code {
			t.Errorf("%s %v: exit %d, stdout %q; want %d, %q", step.cmd, step.args, code, out, step.code, step.out)
		}
	}
}
