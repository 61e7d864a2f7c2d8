package boltstore_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/keyserver/keyserver/keystore/boltstore"
)

// BenchmarkGetOrCreate_Hit: parallel requests for an existing LIVE key,
// with the record cache (the default) and without it (a read transaction
// and an AES-GCM open per call).
func BenchmarkGetOrCreate_Hit(b *testing.B) {
	for _, cacheSize := range []int{0, -1} {
		name := "cache"
		if cacheSize < 0 {
			name = "nocache"
		}
		b.Run(name, func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "keys.db")
			s := openTestStore(b, path, &boltstore.Options{MasterKey: testMaster, CacheSize: cacheSize})
			req := live(space("NAG0000", "channel-7"), 3600, 490000)
			mustGet(b, s, req)
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, created, err := s.GetOrCreate(context.Background(), req); err != nil || created {
						b.Fatal(created, err)
					}
				}
			})
		})
	}
}

// BenchmarkGetOrCreate_Create: parallel creation of new periods, each
// fsync'd, with G concurrent writers (G = parallelism × GOMAXPROCS) against
// the default batch size of 64.
func BenchmarkGetOrCreate_Create(b *testing.B) {
	b.Run("serial", func(b *testing.B) {
		s := openTestStore(b, filepath.Join(b.TempDir(), "keys.db"), nil)
		sp := space("NAG0000", "channel-7")
		b.ReportAllocs()
		for i := range b.N {
			if _, created, err := s.GetOrCreate(context.Background(), live(sp, 3600, int64(i))); err != nil || !created {
				b.Fatal(created, err)
			}
		}
	})
	for _, par := range []int{1, 8, 32} {
		b.Run(fmt.Sprintf("par%d", par), func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "keys.db")
			s := openTestStore(b, path, nil)
			sp := space("NAG0000", "channel-7")
			var next atomic.Int64
			b.ReportAllocs()
			b.SetParallelism(par)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req := live(sp, 3600, next.Add(1))
					if _, created, err := s.GetOrCreate(context.Background(), req); err != nil || !created {
						b.Fatal(created, err)
					}
				}
			})
		})
	}
}
