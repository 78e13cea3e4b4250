package kademlia

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestConfigRanges: numbers out of range are refused with ErrBadConfig
// naming the field, before anything is allocated (finding 6: K = 1e12 used
// to end in "fatal error: out of memory").
func TestConfigRanges(t *testing.T) {
	for _, tt := range []struct {
		name  string
		cfg   Config
		field string // "" = accepted
	}{
		{"zero", Config{}, ""},
		{"max K", Config{K: maxK, Alpha: maxAlpha}, ""},
		{"huge K", Config{K: 1_000_000_000_000}, "K"},
		{"K just over", Config{K: maxK + 1}, "K"},
		{"negative K", Config{K: -1}, "K"},
		{"huge Alpha", Config{Alpha: 1 << 40}, "Alpha"},
		{"B over id bits", Config{B: 161}, "B"},
		{"huge MaxFailures", Config{MaxFailures: 1 << 30}, "MaxFailures"},
		{"RPCTimeout a week", Config{RPCTimeout: 7 * 24 * time.Hour}, "RPCTimeout"},
		{"negative QueryTimeout", Config{QueryTimeout: -time.Second}, "QueryTimeout"},
		{"negative RefreshInterval", Config{RefreshInterval: -1}, "RefreshInterval"},
		{"NoLimit budgets", Config{HandOffKeys: NoLimit, HandOffBytesPerSecond: NoLimit, ReplyBytesPerSecond: NoLimit}, ""},
		{"-2 hand-off keys", Config{HandOffKeys: -2}, "HandOffKeys"},
		{"negative reply burst", Config{ReplyBurst: NoLimit}, "ReplyBurst"},
		{"huge reply sources", Config{ReplySources: 1 << 30}, "ReplySources"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.cfg.withDefaults()
			if tt.field == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, ErrBadConfig) || !strings.Contains(err.Error(), "Config."+tt.field+" ") {
				t.Fatalf("err = %v, want ErrBadConfig naming Config.%s", err, tt.field)
			}
			if _, err := Listen(context.Background(), "127.0.0.1:0", tt.cfg); !errors.Is(err, ErrBadConfig) {
				t.Errorf("Listen: %v", err)
			}
		})
	}
}

// TestLoadStateRanges: a state file's k and alpha are checked like Config's.
func TestLoadStateRanges(t *testing.T) {
	id := RandomID().String()
	for _, data := range []string{
		`{"id": "` + id + `", "k": 1000000000000, "alpha": 3, "neighbors": []}`,
		`{"id": "` + id + `", "k": 20, "alpha": 1000000000000, "neighbors": []}`,
		`{"id": "` + id + `", "k": 20, "alpha": 3, "neighbors": [` + strings.Repeat(`"10.0.0.1:1",`, maxK) + `"10.0.0.1:1"]}`,
		`{"id": "` + id + `", "k": 20, "alpha": 3, "neighbors": []}` + strings.Repeat(" ", maxStateFile),
	} {
		path := filepath.Join(t.TempDir(), "state.json")
		if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := LoadState(path)
		if !errors.Is(err, ErrBadConfig) || !strings.Contains(err.Error(), path) {
			t.Errorf("LoadState(%.80s) = %v, want ErrBadConfig naming the file", data, err)
		}
	}
}
