package keystore_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/keyserver/keyserver/drm"
	"github.com/keyserver/keyserver/keystore"
)

func TestGetOrCreate_VOD(t *testing.T) {
	s, _ := newTestStore(t)
	sp := space("NAG0000", "movie-1")
	first, created := mustGet(t, s, vod(sp))
	if !created {
		t.Fatal("first request: created = false")
	}
	if first.PeriodSeconds != 0 || first.Period != 0 || first.Supplied || first.Space != sp {
		t.Errorf("record = %+v", first)
	}
	if first.Created.Location() != time.UTC || time.Since(first.Created) > time.Minute {
		t.Errorf("Created = %v", first.Created)
	}
	again, created := mustGet(t, s, vod(sp))
	if created {
		t.Error("second request: created = true")
	}
	if d := cmp.Diff(first, again); d != "" {
		t.Errorf("second request differs (-first +again):\n%s", d)
	}
	other, _ := mustGet(t, s, vod(keystore.Space{Tenant: "NAG0000", ContentID: "movie-1", Scheme: drm.SchemeCENC}))
	if other.Key.KID == first.Key.KID || other.Key.Key == first.Key.Key {
		t.Error("cenc and cbcs spaces share a key")
	}
	track, _ := mustGet(t, s, vod(keystore.Space{Tenant: "NAG0000", ContentID: "movie-1", Scheme: drm.SchemeCBCS, Track: "HD"}))
	if track.Key.KID == first.Key.KID {
		t.Error("track HD shares the native key")
	}
}

func TestGetOrCreate_Live(t *testing.T) {
	s, _ := newTestStore(t)
	sp := space("NAG0000", "channel-7")
	t0 := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	req := keystore.Request{Space: sp, PeriodSeconds: 3600, Period: at(t0)}

	a, created := mustGet(t, s, req)
	if !created || a.PeriodSeconds != 3600 || a.Period != t0.Unix()/3600 {
		t.Fatalf("first = %+v, created %v", a, created)
	}
	req.Period = at(t0.Add(59 * time.Minute))
	b, created := mustGet(t, s, req)
	if created || b.Key != a.Key {
		t.Errorf("same period: created %v, same key %v", created, b.Key == a.Key)
	}
	req.Period = at(t0.Add(time.Hour))
	c, created := mustGet(t, s, req)
	if !created || c.Period != a.Period+1 || c.Key.KID == a.Key.KID || c.Key.Key == a.Key.Key {
		t.Errorf("next period: %+v created %v", c, created)
	}

	// The pin survives a different proposal: the Period function sees 3600.
	var seen []int64
	req2 := keystore.Request{Space: sp, PeriodSeconds: 60, Period: func(p int64) (int64, error) {
		seen = append(seen, p)
		return at(t0)(p)
	}}
	d, created := mustGet(t, s, req2)
	if created || d.Key != a.Key || d.PeriodSeconds != 3600 {
		t.Errorf("proposal 60 after pin 3600: %+v created %v", d, created)
	}
	for _, p := range seen {
		if p != 3600 {
			t.Errorf("Period called with %d, want the pinned 3600", p)
		}
	}

	// VOD is independent of the LIVE pin, and LIVE period 0 is not VOD.
	v, created := mustGet(t, s, vod(sp))
	if !created || v.PeriodSeconds != 0 || v.Period != 0 || v.Key.KID == a.Key.KID || v.Key.KID == c.Key.KID {
		t.Errorf("VOD: %+v created %v", v, created)
	}
	z, created := mustGet(t, s, live(sp, 3600, 0))
	if !created || z.Key.KID == v.Key.KID {
		t.Errorf("LIVE period 0 vs VOD: created %v, same kid %v", created, z.Key.KID == v.Key.KID)
	}
	neg, _ := mustGet(t, s, live(sp, 3600, -5))
	if neg.Period != -5 {
		t.Errorf("negative period = %d", neg.Period)
	}

	// A space keyed VOD first pins on its first LIVE key.
	sp2 := space("NAG0000", "vod-then-live")
	mustGet(t, s, vod(sp2))
	l, _ := mustGet(t, s, live(sp2, 10, 1))
	l2, _ := mustGet(t, s, live(sp2, 20, 1))
	if l.PeriodSeconds != 10 || l2.Key != l.Key {
		t.Errorf("pin after VOD: %d, same %v", l.PeriodSeconds, l2.Key == l.Key)
	}

	if n := len(mustRecords(t, s, "NAG0000")); n != 7 {
		t.Errorf("Records = %d, want 7", n)
	}
}

func TestGetOrCreate_ConcurrentNewPeriod(t *testing.T) {
	s, _ := newTestStore(t)
	sp := space("NAG0000", "channel-race")
	const n = 64
	var (
		wg      sync.WaitGroup
		start   = make(chan struct{})
		recs    [n]keystore.Record
		created [n]bool
		errs    [n]error
	)
	for i := range n {
		wg.Go(func() {
			<-start
			recs[i], created[i], errs[i] = s.GetOrCreate(context.Background(), live(sp, 3600, 490000))
		})
	}
	close(start)
	wg.Wait()
	creators := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("goroutine %d: %v", i, errs[i])
		}
		if d := cmp.Diff(recs[0], recs[i]); d != "" {
			t.Errorf("goroutine %d got another record (-0 +%d):\n%s", i, i, d)
		}
		if created[i] {
			creators++
		}
	}
	if creators != 1 {
		t.Errorf("%d callers report created, want 1", creators)
	}
	if got := mustRecords(t, s, "NAG0000"); len(got) != 1 {
		t.Errorf("store holds %d records, want exactly 1", len(got))
	}
}

// Many writers over many new periods at once: every period ends with one
// key, and every caller of a period saw it.
func TestGetOrCreate_ConcurrentManyPeriods(t *testing.T) {
	s, _ := newTestStore(t)
	const writers, periods = 32, 40
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		seen = map[int64]drm.KeyID{}
	)
	for w := range writers {
		wg.Go(func() {
			for i := range periods {
				p := int64((i + w) % periods)
				sp := space("T"+fmt.Sprint(w%3), "ch")
				rec, _, err := s.GetOrCreate(context.Background(), live(sp, 60, p))
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				k := p + int64(w%3)<<32
				if old, ok := seen[k]; ok && old != rec.Key.KID {
					t.Errorf("period %d: two key ids", p)
				}
				seen[k] = rec.Key.KID
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	for tn := range 3 {
		if got := len(mustRecords(t, s, "T"+fmt.Sprint(tn))); got != periods {
			t.Errorf("tenant T%d: %d records, want %d", tn, got, periods)
		}
	}
}

func TestReopen(t *testing.T) {
	s, path := newTestStore(t)
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

	s2 := openTestStore(t, path, nil)
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
		total += len(mustRecords(t, s2, tn))
	}
	if total != len(reqs) {
		t.Errorf("Records total %d, want %d", total, len(reqs))
	}
}

func TestSupplied(t *testing.T) {
	ctx := context.Background()
	s, _ := newTestStore(t)
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
	before := mustRecords(t, s, "NAG0000")
	for name, r := range conflicts {
		if _, _, err := s.GetOrCreate(ctx, r); !errors.Is(err, keystore.ErrConflict) {
			t.Errorf("%s: err = %v, want ErrConflict", name, err)
		}
	}
	if d := cmp.Diff(before, mustRecords(t, s, "NAG0000")); d != "" {
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

func TestSupplied_ConcurrentResend(t *testing.T) {
	s, _ := newTestStore(t)
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
	recs := mustRecords(t, s, "NAG0000")
	if len(recs) != 1 {
		t.Fatalf("records = %d", len(recs))
	}
}

func TestTenantIsolation(t *testing.T) {
	ctx := context.Background()
	s, _ := newTestStore(t)
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
	if n := len(mustRecords(t, s, "A")); n != 1 {
		t.Errorf("A has %d records", n)
	}
}

func TestGetOrCreate_Errors(t *testing.T) {
	ctx := context.Background()
	s, _ := newTestStore(t)
	sp := space("NAG0000", "c")
	bad := map[string]keystore.Request{
		"empty tenant":      {Space: space("", "c")},
		"bad tenant":        {Space: space("a/b", "c")},
		"long tenant":       {Space: space(string(make([]byte, 65)), "c")},
		"empty content":     {Space: space("T", "")},
		"long content":      {Space: space("T", string(make([]byte, 257)))},
		"invalid utf-8":     {Space: space("T", "\xff")},
		"no scheme":         {Space: keystore.Space{Tenant: "T", ContentID: "c"}},
		"bad track":         {Space: keystore.Space{Tenant: "T", ContentID: "c", Scheme: drm.SchemeCBCS, Track: "H D"}},
		"negative period":   {Space: sp, PeriodSeconds: -1, Period: index(1)},
		"live without func": {Space: sp, PeriodSeconds: 60},
		"zero supplied kid": {Space: sp, Supplied: &keystore.Supplied{}},
	}
	for name, r := range bad {
		if _, _, err := s.GetOrCreate(ctx, r); !errors.Is(err, keystore.ErrInvalidRequest) {
			t.Errorf("%s: %v, want ErrInvalidRequest", name, err)
		}
	}
	errBoom := errors.New("boom")
	_, _, err := s.GetOrCreate(ctx, keystore.Request{Space: sp, PeriodSeconds: 60, Period: func(int64) (int64, error) { return 0, errBoom }})
	if !errors.Is(err, errBoom) {
		t.Errorf("period error: %v", err)
	}

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, _, err := s.GetOrCreate(cctx, vod(sp)); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
	if _, err := s.LookupKeyID(cctx, "NAG0000", drm.KeyID{1}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled lookup: %v", err)
	}
	if n := len(mustRecords(t, s, "NAG0000")); n != 0 {
		t.Errorf("failed requests stored %d records", n)
	}
}
