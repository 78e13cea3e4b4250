package boltstore

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	. "github.com/rpcudp/go-rpcudp/kademlia"
)

// bbolt's file layout, as far as the corruptions below need it: pages of
// pageSize bytes; pages 0 and 1 hold the two meta pages, each a 16-byte
// page header then the meta (magic, version, page size, flags, root
// bucket (16 bytes), freelist page id, ...).
const (
	pageHeader       = 16
	metaFreelistOff  = pageHeader + 4*4 + 16
	metaPageSizeOff  = pageHeader + 2*4
	corruptionValues = 100
)

// filledStore writes a store with some values and returns its bytes and
// page size.
func filledStore(t *testing.T) ([]byte, int) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kad.db")
	s, err := Open(path, StorageConfig{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range corruptionValues {
		if err := s.Put(storageKey(fmt.Sprint(i)), mustValue(t, strings.Repeat("v", 100+i)), PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data, int(binary.LittleEndian.Uint32(data[metaPageSizeOff:]))
}

// junk overwrites n bytes at off with a pattern.
func junk(data []byte, off, n int) {
	for i := off; i < off+n && i < len(data); i++ {
		data[i] = byte(0xa5 ^ i)
	}
}

// TestOpenCorruptions: a corrupt database, whichever part is hit (issue 9,
// finding 6: an invalid freelist page and a slice bounds panic used to
// crash the node), is an error naming the file, never a panic.
func TestOpenCorruptions(t *testing.T) {
	good, ps := filledStore(t)
	for _, tt := range []struct {
		name    string
		corrupt func(data []byte, pageSize int) []byte
	}{
		{"freelist page", func(d []byte, ps int) []byte {
			for _, meta := range []int{0, ps} {
				fl := int(binary.LittleEndian.Uint64(d[meta+metaFreelistOff:]))
				junk(d, fl*ps, pageHeader)
			}
			return d
		}},
		{"every data page", func(d []byte, ps int) []byte {
			junk(d, 2*ps, len(d))
			return d
		}},
		{"data page bodies", func(d []byte, ps int) []byte {
			for p := 2 * ps; p < len(d); p += ps {
				junk(d, p+pageHeader, 64)
			}
			return d
		}},
		{"page counts", func(d []byte, ps int) []byte {
			for p := 2 * ps; p < len(d); p += ps {
				binary.LittleEndian.PutUint16(d[p+10:], 0xffff)
			}
			return d
		}},
		{"both meta pages", func(d []byte, ps int) []byte {
			junk(d, 0, 2*ps)
			return d
		}},
		{"truncated", func(d []byte, ps int) []byte { return d[:ps+100] }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "kad.db")
			if err := os.WriteFile(path, tt.corrupt(bytes.Clone(good), ps), 0o600); err != nil {
				t.Fatal(err)
			}
			s, err := Open(path, StorageConfig{})
			if err == nil {
				// bbolt may not notice every corruption at open; then reading
				// everything must still not panic.
				_ = s.Iterate(func(ID, Value, Meta) bool { return true })
				_ = s.Close()
				t.Skipf("%s: opened without error", tt.name)
			}
			if !strings.Contains(err.Error(), path) {
				t.Fatalf("Open = %v, want an error naming %s", err, path)
			}
			t.Logf("%v", err)
		})
	}
}
