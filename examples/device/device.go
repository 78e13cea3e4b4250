package main

import (
	"fmt"
	"sync"
)

// Gain limits of the simulated device, in dB.
const (
	minGain = 0.0
	maxGain = 76.0
)

// device is the simulated hardware: one gain setting and the last error
// it reported.
type device struct {
	serial string

	mu      sync.Mutex
	gain    float64
	lastErr string
}

// setGain sets the gain, or fails (and remembers why) when g is out of
// range.
func (d *device) setGain(g float64) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !(g >= minGain && g <= maxGain) { // NaN too
		err := fmt.Errorf("gain %v dB out of range [%v, %v]", g, minGain, maxGain)
		d.lastErr = err.Error()
		return err
	}
	d.gain = g
	return nil
}

func (d *device) getGain() float64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.gain
}

// lastError is the last error the device reported ("" if none).
func (d *device) lastError() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.lastErr
}

// info is the device information, as MPM's get_device_info.
func (d *device) info() map[string]any {
	return map[string]any{
		"product":    "simulated-radio",
		"serial":     d.serial,
		"version":    "1.0",
		"gain_range": []any{minGain, maxGain},
	}
}
