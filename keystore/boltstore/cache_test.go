package boltstore_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/keyserver/keyserver/drm"
	"github.com/keyserver/keyserver/keystore"
	"github.com/keyserver/keyserver/keystore/boltstore"
)

// A record answered from the cache (which keeps records without their
// space) is the record the file holds: same space, period, key, IV, flags
// and creation time as a store without a cache reads back.
func TestCache_HitEqualsStoredRecord(t *testing.T) {
	iv := drm.IV{1, 2, 3}
	supplied := drm.GenerateContentKey()
	reqs := []keystore.Request{
		vod(space("NAG0000", "movie-1")),
		live(keystore.Space{Tenant: "NAG0000", ContentID: "chan-1", Scheme: drm.SchemeCENC, Track: "HD"}, 10, 177000000),
		live(keystore.Space{Tenant: "T-2", ContentID: "chan-1", Scheme: drm.SchemeCENC, Track: "HD"}, 3600, 490000),
		{Space: space("NAG0000", "supplied-iv"), Supplied: &keystore.Supplied{KID: supplied.KID, Key: supplied.Key, IV: &iv}},
		{Space: space("NAG0000", "supplied-no-iv"), Supplied: &keystore.Supplied{KID: drm.KeyID{9}, Key: supplied.Key}},
		// Cache keys longer than the inline limit (cache.go) are held as
		// strings: a 256-byte content id, VOD and LIVE.
		vod(space("NAG0000", strings.Repeat("v", 256))),
		live(keystore.Space{Tenant: "NAG0000", ContentID: strings.Repeat("l", 256), Scheme: drm.SchemeCENC}, 10, 177000000),
	}
	path := t.TempDir() + "/keys.db"
	s := openTestStore(t, path, &boltstore.Options{MasterKey: testMaster})
	var first, hit []keystore.Record
	for _, r := range reqs {
		rec, created := mustGet(t, s, r)
		if !created {
			t.Fatalf("%+v: not created", r.Space)
		}
		first = append(first, rec)
	}
	for _, r := range reqs {
		rec, created := mustGet(t, s, r)
		if created {
			t.Fatalf("%+v: created twice", r.Space)
		}
		hit = append(hit, rec)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openTestStore(t, path, &boltstore.Options{MasterKey: testMaster, CacheSize: -1})
	for i, r := range reqs {
		stored, _ := mustGet(t, s, r)
		if d := cmp.Diff(stored, hit[i]); d != "" {
			t.Errorf("%+v: cached answer differs from the stored record (-stored +cached):\n%s", r.Space, d)
		}
		if d := cmp.Diff(stored, first[i]); d != "" {
			t.Errorf("%+v: first answer differs from the stored record (-stored +first):\n%s", r.Space, d)
		}
		if hit[i].Created.Location() != stored.Created.Location() {
			t.Errorf("%+v: cached Created in %v, stored in %v", r.Space, hit[i].Created.Location(), stored.Created.Location())
		}
	}
}
