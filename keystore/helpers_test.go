package keystore_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/keyserver/keyserver/drm"
	"github.com/keyserver/keyserver/keystore"
)

var testMaster = [32]byte{
	0x6b, 0x65, 0x79, 0x73, 0x74, 0x6f, 0x72, 0x65, 0x2d, 0x74, 0x65, 0x73, 0x74, 0x2d, 0x6d, 0x61,
	0x73, 0x74, 0x65, 0x72, 0x2d, 0x6b, 0x65, 0x79, 0x2d, 0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36,
}

// newTestStore opens a fresh store in t.TempDir(). Its cleanup runs the
// bbolt consistency check, then closes the store.
func newTestStore(tb testing.TB) (*keystore.Bolt, string) {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "keys.db")
	return openTestStore(tb, path, nil), path
}

// openTestStore opens path with opts (nil: the test master key) and
// registers the check-then-close cleanup.
func openTestStore(tb testing.TB, path string, opts *keystore.Options) *keystore.Bolt {
	tb.Helper()
	if opts == nil {
		opts = &keystore.Options{MasterKey: testMaster}
	}
	s, err := keystore.Open(path, opts)
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

func space(tenant, content string) keystore.Space {
	return keystore.Space{Tenant: tenant, ContentID: content, Scheme: drm.SchemeCBCS}
}

// at returns a Period function selecting the period containing t.
func at(t time.Time) func(int64) (int64, error) {
	return func(p int64) (int64, error) {
		s := t.Unix()
		n := s / p
		if s%p < 0 {
			n--
		}
		return n, nil
	}
}

// index returns a Period function selecting period n whatever the length.
func index(n int64) func(int64) (int64, error) {
	return func(int64) (int64, error) { return n, nil }
}

func vod(sp keystore.Space) keystore.Request { return keystore.Request{Space: sp} }

func live(sp keystore.Space, p, n int64) keystore.Request {
	return keystore.Request{Space: sp, PeriodSeconds: p, Period: index(n)}
}

func mustGet(tb testing.TB, s keystore.Store, req keystore.Request) (keystore.Record, bool) {
	tb.Helper()
	rec, created, err := s.GetOrCreate(context.Background(), req)
	if err != nil {
		tb.Fatalf("GetOrCreate(%+v): %v", req.Space, err)
	}
	return rec, created
}

func mustRecords(tb testing.TB, s *keystore.Bolt, tenant string) []keystore.Record {
	tb.Helper()
	recs, err := s.Records(context.Background(), tenant)
	if err != nil {
		tb.Fatalf("Records(%s): %v", tenant, err)
	}
	return recs
}
