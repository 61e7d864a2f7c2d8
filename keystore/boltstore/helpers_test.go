package boltstore_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/keyserver/keyserver/drm"
	"github.com/keyserver/keyserver/internal/testkit"
	"github.com/keyserver/keyserver/keystore"
	"github.com/keyserver/keyserver/keystore/boltstore"
	"github.com/keyserver/keyserver/keystore/storetest"
)

var testMaster = testkit.MasterKey

// newTestStore and openTestStore are testkit's: the store's cleanup runs
// the bbolt consistency check, then closes it.
var (
	newTestStore  = testkit.NewBolt
	openTestStore = testkit.OpenBolt
)

// The conformance suite, against Bolt with its record cache (the default)
// and without it: the first run conformance-tests keystore.Cached too.
func TestConformance(t *testing.T) {
	for _, tc := range []struct {
		name      string
		cacheSize int
	}{{"cache", 0}, {"nocache", -1}} {
		t.Run(tc.name, func(t *testing.T) {
			storetest.Run(t, func(t *testing.T) storetest.Instance {
				path := filepath.Join(t.TempDir(), "keys.db")
				return boltInstance(t, path, &boltstore.Options{MasterKey: testMaster, CacheSize: tc.cacheSize})
			})
		})
	}
}

func boltInstance(t *testing.T, path string, opts *boltstore.Options) storetest.Instance {
	s := openTestStore(t, path, opts)
	return storetest.Instance{
		Store:   s,
		Records: s.Records,
		Reopen:  func(t *testing.T) storetest.Instance { return boltInstance(t, path, opts) },
		Raw: func(t *testing.T) []byte {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			return data
		},
		MasterKey: opts.MasterKey,
	}
}

func space(tenant, content string) keystore.Space {
	return keystore.Space{Tenant: tenant, ContentID: content, Scheme: drm.SchemeCBCS}
}

func vod(sp keystore.Space) keystore.Request { return keystore.Request{Space: sp} }

func live(sp keystore.Space, p, n int64) keystore.Request {
	return keystore.Request{Space: sp, PeriodSeconds: p, Period: func(int64) (int64, error) { return n, nil }}
}

func mustGet(tb testing.TB, s keystore.Store, req keystore.Request) (keystore.Record, bool) {
	tb.Helper()
	rec, created, err := s.GetOrCreate(context.Background(), req)
	if err != nil {
		tb.Fatalf("GetOrCreate(%+v): %v", req.Space, err)
	}
	return rec, created
}
