package main

import (
	"bufio"
	"os"
	"runtime"
	"strings"
	"time"
)

// cpuModel returns the CPU's model name as Linux reports it, or "".
func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		k, v, ok := strings.Cut(s.Text(), ":")
		if ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// cpuMeter measures the process's CPU use over a stretch of wall time.
type cpuMeter struct {
	wall  time.Time
	cpu   time.Duration
	known bool
}

func startCPU() cpuMeter {
	cpu, ok := processCPU()
	return cpuMeter{wall: time.Now(), cpu: cpu, known: ok}
}

// share returns the CPU time used since start over the wall time passed,
// as a share of GOMAXPROCS (1: every P busy all along), or 0 when unknown.
func (m cpuMeter) share() float64 {
	cpu, ok := processCPU()
	wall := time.Since(m.wall)
	if !ok || !m.known || wall <= 0 {
		return 0
	}
	return (cpu - m.cpu).Seconds() / wall.Seconds() / float64(runtime.GOMAXPROCS(0))
}
