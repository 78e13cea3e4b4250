package main

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestAgainstServerCommand runs the bench against ./examples/server, as its
// doc comment tells a user to: the server's echo method is what -addr
// needs.
func TestAgainstServerCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the server command")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool:", err)
	}
	bin := filepath.Join(t.TempDir(), "server")
	buildCtx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	args := []string{"build", "-o", bin}
	if raceEnabled {
		args = append(args, "-race") // reuses the packages compiled for this test
	}
	args = append(args, "github.com/rpcudp/go-rpcudp/examples/server")
	if out, err := exec.CommandContext(buildCtx, goTool, args...).CombinedOutput(); err != nil {
		t.Fatalf("go %v: %v\n%s", args, err, out)
	}

	server := exec.Command(bin, "-listen", "127.0.0.1:0")
	// A -race binary sleeps a second at exit unless told not to.
	server.Env = append(os.Environ(), strings.TrimSpace("GORACE="+os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	stdout, err := server.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := server.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		server.Process.Signal(os.Interrupt)
		if err := server.Wait(); err != nil {
			t.Errorf("server: %v", err)
		}
	}()
	// "serving [echo sayhi sayhi_quickly sayhi_slowly] on 127.0.0.1:PORT"
	line, err := bufio.NewReader(stdout).ReadString('\n')
	fields := strings.Fields(line)
	if err != nil || !strings.Contains(line, "echo") || len(fields) < 2 {
		t.Fatalf("server printed %q, %v", line, err)
	}

	cfg := smallConfig()
	cfg.N = 200
	cfg.Addr = fields[len(fields)-1]
	res, report, _ := runOK(t, cfg)
	checkSane(t, res.RPC, 200)
	if res.InProcess || !strings.Contains(report, "server at -addr") {
		t.Errorf("in-process %v; report:\n%s", res.InProcess, report)
	}
}
