package storetest

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

func testGetOrCreate_VOD(t *testing.T, open Open) {
	in := open(t)
	s := in.Store
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

func testGetOrCreate_Live(t *testing.T, open Open) {
	in := open(t)
	s := in.Store
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

	if n := len(mustRecords(t, in, "NAG0000")); n != 7 {
		t.Errorf("Records = %d, want 7", n)
	}
}

func testGetOrCreate_ConcurrentNewPeriod(t *testing.T, open Open) {
	in := open(t)
	s := in.Store
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
	if got := mustRecords(t, in, "NAG0000"); len(got) != 1 {
		t.Errorf("store holds %d records, want exactly 1", len(got))
	}
}

// Many writers over many new periods at once: every period ends with one
// key, and every caller of a period saw it.
func testGetOrCreate_ConcurrentManyPeriods(t *testing.T, open Open) {
	in := open(t)
	s := in.Store
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
		if got := len(mustRecords(t, in, "T"+fmt.Sprint(tn))); got != periods {
			t.Errorf("tenant T%d: %d records, want %d", tn, got, periods)
		}
	}
}

func testGetOrCreate_Errors(t *testing.T, open Open) {
	ctx := context.Background()
	in := open(t)
	s := in.Store
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
	if n := len(mustRecords(t, in, "NAG0000")); n != 0 {
		t.Errorf("failed requests stored %d records", n)
	}
}
