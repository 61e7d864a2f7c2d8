// Package testkit holds the test helpers shared by several packages' tests:
// the one log sink (LogSink) and the one store opener. The store opener
// opens the key stores that tests across the module use: a
// bbolt store in the test's temporary directory, whose cleanup runs bbolt's
// consistency check over the whole file before closing it (a test that
// leaves a damaged file fails). It is for tests only.
//
// It imports keystore/boltstore, so boltstore's own in-package tests
// (package boltstore) cannot use it; its external tests (boltstore_test)
// and every other package's tests can.
package testkit

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/keyserver/keyserver/keystore"
	"github.com/keyserver/keyserver/keystore/boltstore"
)

// MasterKey is the master key of the stores opened with nil options.
var MasterKey = [32]byte{
	0x6b, 0x65, 0x79, 0x73, 0x74, 0x6f, 0x72, 0x65, 0x2d, 0x74, 0x65, 0x73, 0x74, 0x2d, 0x6d, 0x61,
	0x73, 0x74, 0x65, 0x72, 0x2d, 0x6b, 0x65, 0x79, 0x2d, 0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36,
}

// NewBolt opens a fresh store (keys.db in tb.TempDir(), MasterKey, default
// options) and returns it with its path. See [OpenBolt] for the cleanup.
func NewBolt(tb testing.TB) (*boltstore.Bolt, string) {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "keys.db")
	return OpenBolt(tb, path, nil), path
}

// OpenBolt opens path with opts (nil: MasterKey, defaults) or fails the
// test. Its cleanup runs the bbolt consistency check (skipped if the test
// closed the store), then closes the store; a second Close is harmless,
// so tests may close it themselves.
func OpenBolt(tb testing.TB, path string, opts *boltstore.Options) *boltstore.Bolt {
	tb.Helper()
	if opts == nil {
		opts = &boltstore.Options{MasterKey: MasterKey}
	}
	s, err := boltstore.Open(path, opts)
	if err != nil {
		tb.Fatalf("Open(%s): %v", path, err)
	}
	tb.Cleanup(func() {
		if err := s.Check(); err != nil && !errors.Is(err, keystore.ErrClosed) {
			tb.Errorf("consistency check: %v", err)
		}
		if err := s.Close(); err != nil {
			tb.Errorf("Close: %v", err)
		}
	})
	return s
}
