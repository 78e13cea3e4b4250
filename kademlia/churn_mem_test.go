package kademlia

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
)

// memSample is the process's memory at one point of a churn scenario.
type memSample struct {
	phase      string
	heapInuse  uint64 // runtime.MemStats.HeapInuse
	stackInuse uint64 // runtime.MemStats.StackInuse
	goroutines int
}

// sampleMem collects garbage and reads the memory figures.
func sampleMem(phase string) memSample {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return memSample{phase: phase, heapInuse: ms.HeapInuse, stackInuse: ms.StackInuse, goroutines: runtime.NumGoroutine()}
}

// peakRSS is the process's peak resident set (VmHWM in /proc/self/status),
// or "" where there is none.
func peakRSS() string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return ""
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// logMem prints the memory per node at each phase, and what each phase
// added per node (the first sample is the baseline before any node).
func logMem(t *testing.T, nodes int, samples []memSample) {
	t.Helper()
	if len(samples) == 0 {
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "memory, %d nodes (heap and stacks in use after a GC; peak RSS of the process %s):\n", nodes, peakRSS())
	fmt.Fprintf(&b, "  %-26s %10s %10s %10s %12s %12s\n", "phase", "heap MB", "stacks MB", "goroutines", "B/node", "+B/node")
	base := samples[0]
	per := func(m memSample) float64 {
		return float64(int64(m.heapInuse+m.stackInuse)-int64(base.heapInuse+base.stackInuse)) / float64(nodes)
	}
	prev := base
	for _, s := range samples {
		fmt.Fprintf(&b, "  %-26s %10.1f %10.1f %10d %12.0f %12.0f\n", s.phase,
			float64(s.heapInuse)/1e6, float64(s.stackInuse)/1e6, s.goroutines, per(s), per(s)-per(prev))
		prev = s
	}
	t.Log(b.String())
}
