package boltstore_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyserver/keyserver/keystore"
	"github.com/keyserver/keyserver/keystore/boltstore"
)

// TestOpen_TruncatedFile: a store file cut short (a copy interrupted, a
// full disk during a backup restore) is refused with ErrCorrupt naming the
// file, for writing and read-only, instead of bbolt panicking on the
// missing pages; the file is not written to.
func TestOpen_TruncatedFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys.db")
	s, err := boltstore.Open(path, &boltstore.Options{MasterKey: testMaster})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 300; i++ {
		if _, _, err := s.GetOrCreate(context.Background(), keystore.Request{Space: space("T", fmt.Sprintf("c-%d", i))}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	full, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{len(full) / 2, 5 * 4096} {
		cut := filepath.Join(t.TempDir(), "keys.db")
		if err := os.WriteFile(cut, full[:n], 0o600); err != nil {
			t.Fatal(err)
		}
		for _, ro := range []bool{false, true} {
			_, err := boltstore.Open(cut, &boltstore.Options{MasterKey: testMaster, ReadOnly: ro})
			if !errors.Is(err, keystore.ErrCorrupt) || !strings.Contains(err.Error(), cut) || !strings.Contains(err.Error(), "truncated") {
				t.Errorf("%d of %d bytes, read-only %v: %v", n, len(full), ro, err)
			}
		}
		if after, _ := os.ReadFile(cut); !bytes.Equal(after, full[:n]) {
			t.Errorf("%d bytes: the file was changed", n)
		}
	}
}
