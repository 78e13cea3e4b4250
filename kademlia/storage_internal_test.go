package kademlia

import (
	"testing"
	"time"
)

func TestStorageExpirySaturates(t *testing.T) {
	now := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	got := expiryFor(now, time.Duration(1<<63-1))
	if got.UnixNano() != 1<<63-1 {
		t.Fatalf("expiryFor saturates to %v (%d)", got, got.UnixNano())
	}
	if got := expiryFor(now, time.Hour); !got.Equal(now.Add(time.Hour)) {
		t.Fatalf("expiryFor = %v", got)
	}
}
