package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/keyserver/keyserver/drm"
	"github.com/keyserver/keyserver/keystore"
)

// Records survive Close: a reopened store returns byte-identical records,
// by request and by key id, and holds nothing more.
func testReopen(t *testing.T, open Open) {
	in := open(t)
	s := in.Store
	tenants := []string{"NAG0000", "NAG0001", "other_tenant-9"}
	var want []keystore.Record
	var reqs []keystore.Request
	for _, tn := range tenants {
		for c := range 20 {
			sp := space(tn, fmt.Sprintf("content/%d/é", c))
			reqs = append(reqs, vod(sp))
			for p := range 5 {
				reqs = append(reqs, live(sp, 7200, int64(p)+480000))
			}
		}
		iv := drm.GenerateIV()
		sup := drm.GenerateContentKey()
		reqs = append(reqs, keystore.Request{Space: space(tn, "supplied"), Supplied: &keystore.Supplied{KID: sup.KID, Key: sup.Key, IV: &iv}})
	}
	for _, r := range reqs {
		rec, _ := mustGet(t, s, r)
		want = append(want, rec)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.GetOrCreate(context.Background(), reqs[0]); !errors.Is(err, keystore.ErrClosed) {
		t.Errorf("after Close: %v, want ErrClosed", err)
	}

	in2 := in.Reopen(t)
	s2 := in2.Store
	for i, r := range reqs {
		rec, created := mustGet(t, s2, r)
		if created {
			t.Errorf("request %d: created after reopen", i)
		}
		if d := cmp.Diff(want[i], rec); d != "" {
			t.Errorf("request %d after reopen (-before +after):\n%s", i, d)
		}
		got, err := s2.LookupKeyID(context.Background(), r.Space.Tenant, want[i].Key.KID)
		if err != nil {
			t.Fatalf("LookupKeyID: %v", err)
		}
		if d := cmp.Diff(want[i], got); d != "" {
			t.Errorf("LookupKeyID %d (-want +got):\n%s", i, d)
		}
	}
	total := 0
	for _, tn := range tenants {
		total += len(mustRecords(t, in2, tn))
	}
	if total != len(reqs) {
		t.Errorf("Records total %d, want %d", total, len(reqs))
	}
}

func testSupplied(t *testing.T, open Open) {
	ctx := context.Background()
	in := open(t)
	s := in.Store
	sp := space("NAG0000", "channel-sup")
	k := drm.GenerateContentKey()
	iv := k.IV
	sup := func(kid drm.KeyID, key drm.Key, iv *drm.IV) *keystore.Supplied {
		return &keystore.Supplied{KID: kid, Key: key, IV: iv}
	}
	req := live(sp, 3600, 100)
	req.Supplied = sup(k.KID, k.Key, &iv)
	rec, created := mustGet(t, s, req)
	if !created || !rec.Supplied || rec.Key != k {
		t.Fatalf("stored %+v created %v", rec, created)
	}

	// Idempotent re-sends, with and without IV, also after dropping caches (reopen covered elsewhere).
	for _, ivp := range []*drm.IV{&iv, nil} {
		r := req
		r.Supplied = sup(k.KID, k.Key, ivp)
		got, created := mustGet(t, s, r)
		if created || got.Key != k {
			t.Errorf("re-send (iv %v): created %v, same %v", ivp != nil, created, got.Key == k)
		}
	}

	// Without an IV the store generates one and returns it on re-send.
	k2 := drm.GenerateContentKey()
	r2 := live(sp, 3600, 101)
	r2.Supplied = sup(k2.KID, k2.Key, nil)
	got2, created := mustGet(t, s, r2)
	if !created || got2.Key.IV == (drm.IV{}) || got2.Key.KID != k2.KID || got2.Key.Key != k2.Key {
		t.Errorf("generated IV: %+v", got2)
	}
	again2, _ := mustGet(t, s, r2)
	if again2.Key.IV != got2.Key.IV {
		t.Error("re-send without IV returned another IV")
	}

	gen, _ := mustGet(t, s, live(sp, 3600, 200)) // a generated key
	otherKey := drm.GenerateContentKey()
	otherIV := drm.GenerateIV()
	conflicts := map[string]keystore.Request{
		"different key":                  {Space: sp, PeriodSeconds: 3600, Period: index(100), Supplied: sup(k.KID, otherKey.Key, &iv)},
		"different IV":                   {Space: sp, PeriodSeconds: 3600, Period: index(100), Supplied: sup(k.KID, k.Key, &otherIV)},
		"same kid, another period":       {Space: sp, PeriodSeconds: 3600, Period: index(102), Supplied: sup(k.KID, k.Key, &iv)},
		"same kid, another content":      {Space: space("NAG0000", "other"), PeriodSeconds: 3600, Period: index(100), Supplied: sup(k.KID, k.Key, &iv)},
		"same kid, VOD of same content":  {Space: sp, Supplied: sup(k.KID, k.Key, &iv)},
		"period holds a generated key":   {Space: sp, PeriodSeconds: 3600, Period: index(200), Supplied: sup(otherKey.KID, otherKey.Key, nil)},
		"generated key's kid, new key":   {Space: sp, PeriodSeconds: 3600, Period: index(300), Supplied: sup(gen.Key.KID, otherKey.Key, nil)},
		"period holds another supplied":  {Space: sp, PeriodSeconds: 3600, Period: index(100), Supplied: sup(otherKey.KID, k.Key, &iv)},
		"generated kid+key at its place": {Space: sp, PeriodSeconds: 3600, Period: index(200), Supplied: sup(gen.Key.KID, otherKey.Key, nil)},
	}
	before := mustRecords(t, in, "NAG0000")
	for name, r := range conflicts {
		if _, _, err := s.GetOrCreate(ctx, r); !errors.Is(err, keystore.ErrConflict) {
			t.Errorf("%s: err = %v, want ErrConflict", name, err)
		}
	}
	if d := cmp.Diff(before, mustRecords(t, in, "NAG0000")); d != "" {
		t.Errorf("conflicts changed the store:\n%s", d)
	}
	// Re-sending the generated key itself is idempotent.
	r := live(sp, 3600, 200)
	r.Supplied = sup(gen.Key.KID, gen.Key.Key, nil)
	if got, _ := mustGet(t, s, r); got.Key != gen.Key {
		t.Error("re-sending a generated key did not return it")
	}

	// The same key id in another tenant is no conflict; each keeps its own.
	other := drm.GenerateContentKey()
	ro := live(space("NAG0001", "channel-sup"), 3600, 100)
	ro.Supplied = sup(k.KID, other.Key, nil)
	if _, created := mustGet(t, s, ro); !created {
		t.Error("other tenant: not created")
	}
	a, err := s.LookupKeyID(ctx, "NAG0000", k.KID)
	if err != nil || a.Key.Key != k.Key {
		t.Errorf("tenant A lookup: %v, own key %v", err, a.Key.Key == k.Key)
	}
	b, err := s.LookupKeyID(ctx, "NAG0001", k.KID)
	if err != nil || b.Key.Key != other.Key || b.Space.Tenant != "NAG0001" {
		t.Errorf("tenant B lookup: %v, own key %v", err, b.Key.Key == other.Key)
	}
}

func testSupplied_ConcurrentResend(t *testing.T, open Open) {
	in := open(t)
	s := in.Store
	k := drm.GenerateContentKey()
	var wg sync.WaitGroup
	var mu sync.Mutex
	creators := 0
	for range 16 {
		wg.Go(func() {
			req := live(space("NAG0000", "c"), 60, 1)
			req.Supplied = &keystore.Supplied{KID: k.KID, Key: k.Key} // no IV: generated once
			rec, created, err := s.GetOrCreate(context.Background(), req)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if created {
				creators++
			}
			if rec.Key.Key != k.Key {
				t.Error("another key")
			}
		})
	}
	wg.Wait()
	if creators != 1 {
		t.Errorf("creators = %d", creators)
	}
	recs := mustRecords(t, in, "NAG0000")
	if len(recs) != 1 {
		t.Fatalf("records = %d", len(recs))
	}
}

func testTenantIsolation(t *testing.T, open Open) {
	ctx := context.Background()
	in := open(t)
	s := in.Store
	a, _ := mustGet(t, s, vod(space("A", "same-content")))
	b, _ := mustGet(t, s, vod(space("B", "same-content")))
	if a.Key.KID == b.Key.KID || a.Key.Key == b.Key.Key {
		t.Error("two tenants share a key")
	}
	if _, err := s.LookupKeyID(ctx, "A", b.Key.KID); !errors.Is(err, keystore.ErrNotFound) {
		t.Errorf("A looking up B's kid: %v, want ErrNotFound", err)
	}
	if _, err := s.LookupKeyID(ctx, "C", a.Key.KID); !errors.Is(err, keystore.ErrNotFound) {
		t.Errorf("unknown tenant: %v, want ErrNotFound", err)
	}
	if got, err := s.LookupKeyID(ctx, "A", a.Key.KID); err != nil || got.Key != a.Key {
		t.Errorf("A's own lookup: %v", err)
	}
	if n := len(mustRecords(t, in, "A")); n != 1 {
		t.Errorf("A has %d records", n)
	}
}
