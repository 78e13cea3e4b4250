package main

import (
	"fmt"
	"slices"
	"time"
)

// demoKey is a key to set, its value and the node that sets it.
type demoKey struct {
	name, value string
	setter      int
}

// planKeys picks the keys to set, their values and their setters.
func (d *demo) planKeys() {
	d.keys = make([]demoKey, d.cfg.Keys)
	for i := range d.keys {
		d.keys[i] = demoKey{
			name:   fmt.Sprintf("demo-key-%d", i),
			value:  fmt.Sprintf("value %d of seed %d", i, d.cfg.Seed),
			setter: d.rng.IntN(d.cfg.Nodes),
		}
	}
}

// getPlan is one Get: a key (index into demo.keys) from a node.
type getPlan struct{ key, node int }

// getResult is how one Get went.
type getResult struct {
	latency time.Duration
	failure string // "" when the Get found the value
	err     bool   // the Get itself returned an error
}

// planGets picks, for each key, GetsPerKey nodes other than its setter,
// and shuffles the Gets.
func (d *demo) planGets() []getPlan {
	var gets []getPlan
	for ki, k := range d.keys {
		others := make([]int, 0, d.cfg.Nodes-1)
		for n := range d.cfg.Nodes {
			if n != k.setter {
				others = append(others, n)
			}
		}
		d.rng.Shuffle(len(others), func(a, b int) { others[a], others[b] = others[b], others[a] })
		others = others[:d.cfg.GetsPerKey]
		slices.Sort(others)
		for _, n := range others {
			gets = append(gets, getPlan{ki, n})
		}
	}
	d.rng.Shuffle(len(gets), func(a, b int) { gets[a], gets[b] = gets[b], gets[a] })
	return gets
}

// countGets counts the outcomes of the Gets (results[i] is how gets[i]
// went) and their latency percentiles.
func (s *summary) countGets(gets []getPlan, results []getResult, setOK []bool) {
	s.Gets = len(gets)
	keyMissed := make([]bool, len(setOK))
	latency := make([]time.Duration, len(gets))
	for i, r := range results {
		latency[i] = r.latency
		if r.failure == "" {
			s.GetsFound++
			continue
		}
		if r.err {
			s.GetErrors++
		}
		keyMissed[gets[i].key] = true
		if len(s.FirstFailures) < 5 {
			s.FirstFailures = append(s.FirstFailures, r.failure)
		}
	}
	for i, missed := range keyMissed {
		if !missed && setOK[i] {
			s.KeysFound++
		}
	}
	s.GetP50 = percentile(latency, 50)
	s.GetP90 = percentile(latency, 90)
	s.GetP99 = percentile(latency, 99)
}
