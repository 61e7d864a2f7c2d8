package keystore_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/keyserver/keyserver/drm"
	"github.com/keyserver/keyserver/keystore"
)

// memStore is a minimal in-memory Store for the decorator's unit tests:
// it pins LIVE spaces, counts the calls that reach it, and fails the next
// GetOrCreate with failNext if set. (The conformance suite runs the
// decorator over the real bbolt backend: keystore/boltstore.)
type memStore struct {
	mu       sync.Mutex
	recs     map[string]keystore.Record
	pins     map[keystore.Space]int64
	calls    int
	closes   int
	failNext error
	// wrongSpace makes GetOrCreate answer with another space's record.
	wrongSpace bool
}

func newMemStore() *memStore {
	return &memStore{recs: map[string]keystore.Record{}, pins: map[keystore.Space]int64{}}
}

func (m *memStore) GetOrCreate(ctx context.Context, req keystore.Request) (keystore.Record, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls++
	if err := m.failNext; err != nil {
		m.failNext = nil
		return keystore.Record{}, false, err
	}
	if err := keystore.ValidateRequest(&req); err != nil {
		return keystore.Record{}, false, err
	}
	var p, n int64
	if req.PeriodSeconds > 0 {
		p = req.PeriodSeconds
		if pin, ok := m.pins[req.Space]; ok {
			p = pin
		}
		var err error
		if n, err = req.Period(p); err != nil {
			return keystore.Record{}, false, fmt.Errorf("keystore: period: %w", err)
		}
	}
	k := fmt.Sprintf("%+v/%d/%d", req.Space, p, n)
	if rec, ok := m.recs[k]; ok {
		if req.Supplied != nil {
			if err := keystore.MatchSupplied(&rec, req.Supplied); err != nil {
				return keystore.Record{}, false, err
			}
		}
		return rec, false, nil
	}
	cand := keystore.NewCandidate(&req)
	rec := cand.Record(&req, p, n)
	if m.wrongSpace {
		other := rec
		other.Space.ContentID += "-other"
		return other, true, nil
	}
	m.recs[k] = rec
	if p > 0 {
		m.pins[req.Space] = p
	}
	return rec, true, nil
}

func (m *memStore) LookupKeyID(ctx context.Context, tenant string, kid drm.KeyID) (keystore.Record, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls++
	for _, r := range m.recs {
		if r.Space.Tenant == tenant && r.Key.KID == kid {
			return r, nil
		}
	}
	return keystore.Record{}, keystore.ErrNotFound
}

func (m *memStore) Close() error { m.mu.Lock(); m.closes++; m.mu.Unlock(); return nil }

func (m *memStore) callCount() int { m.mu.Lock(); defer m.mu.Unlock(); return m.calls }

func sp(content string) keystore.Space {
	return keystore.Space{Tenant: "T", ContentID: content, Scheme: drm.SchemeCBCS}
}

func liveReq(s keystore.Space, p, n int64) keystore.Request {
	return keystore.Request{Space: s, PeriodSeconds: p, Period: func(int64) (int64, error) { return n, nil }}
}

func get(t *testing.T, s keystore.Store, req keystore.Request) (keystore.Record, bool) {
	t.Helper()
	rec, created, err := s.GetOrCreate(context.Background(), req)
	if err != nil {
		t.Fatalf("GetOrCreate(%+v): %v", req.Space, err)
	}
	return rec, created
}

// Hits are answered from memory (VOD by space; LIVE by the pin learnt from
// the inner store's records and the period it selects) and equal what the
// inner store returned; misses reach the inner store.
func TestCached_HitsFromMemory(t *testing.T) {
	inner := newMemStore()
	c := keystore.NewCached(inner, 100)
	v, created := get(t, c, keystore.Request{Space: sp("movie")})
	l, _ := get(t, c, liveReq(sp("chan"), 60, 5))
	long, _ := get(t, c, keystore.Request{Space: sp(strings.Repeat("x", 256))})
	if !created || inner.callCount() != 3 {
		t.Fatalf("first calls: created %v, %d inner calls", created, inner.callCount())
	}
	for range 3 {
		v2, created := get(t, c, keystore.Request{Space: sp("movie")})
		l2, _ := get(t, c, liveReq(sp("chan"), 60, 5))
		long2, _ := get(t, c, keystore.Request{Space: sp(strings.Repeat("x", 256))})
		if created || cmp.Diff(v, v2) != "" || cmp.Diff(l, l2) != "" || cmp.Diff(long, long2) != "" {
			t.Fatalf("hit differs from the first answer (created %v)", created)
		}
	}
	// Another proposed length is answered with the pinned one.
	var seen int64
	l3, _ := get(t, c, keystore.Request{Space: sp("chan"), PeriodSeconds: 3600, Period: func(p int64) (int64, error) { seen = p; return 5, nil }})
	if seen != 60 || l3.Key != l.Key {
		t.Errorf("pinned hit: Period saw %d, same key %v", seen, l3.Key == l.Key)
	}
	if n := inner.callCount(); n != 3 {
		t.Errorf("hits reached the inner store: %d calls, want 3", n)
	}
	get(t, c, liveReq(sp("chan"), 60, 6)) // a new period is a miss
	if n := inner.callCount(); n != 4 {
		t.Errorf("new period: %d inner calls, want 4", n)
	}
	if _, err := c.LookupKeyID(context.Background(), "T", l.Key.KID); err != nil || inner.callCount() != 5 {
		t.Errorf("LookupKeyID does not pass through: %v, %d calls", err, inner.callCount())
	}
}

// Only records the inner store returned without error, for the requested
// space, are cached.
func TestCached_OnlyReturnedRecords(t *testing.T) {
	inner := newMemStore()
	c := keystore.NewCached(inner, 100)
	inner.failNext = keystore.ErrUnavailable
	if _, _, err := c.GetOrCreate(context.Background(), keystore.Request{Space: sp("a")}); !errors.Is(err, keystore.ErrUnavailable) {
		t.Fatalf("inner error: %v", err)
	}
	get(t, c, keystore.Request{Space: sp("a")})
	get(t, c, keystore.Request{Space: sp("a")})
	if n := inner.callCount(); n != 2 {
		t.Errorf("%d inner calls, want 2 (the failure, then one miss)", n)
	}
	inner.wrongSpace = true
	get(t, c, keystore.Request{Space: sp("b")})
	inner.wrongSpace = false
	get(t, c, keystore.Request{Space: sp("b")})
	if n := inner.callCount(); n != 4 {
		t.Errorf("a record of another space was cached: %d inner calls, want 4", n)
	}
}

// On a hit: a supplied key that does not match is ErrConflict, a Period
// error is wrapped, an invalid request is invalid, a done context wins;
// after Close, ErrClosed. None of them reaches the inner store.
func TestCached_HitErrors(t *testing.T) {
	ctx := context.Background()
	inner := newMemStore()
	c := keystore.NewCached(inner, 100)
	k := drm.GenerateContentKey()
	req := liveReq(sp("chan"), 60, 1)
	req.Supplied = &keystore.Supplied{KID: k.KID, Key: k.Key, IV: &k.IV}
	get(t, c, req)
	calls := inner.callCount()

	same := req
	same.Supplied = &keystore.Supplied{KID: k.KID, Key: k.Key}
	if rec, created := get(t, c, same); created || rec.Key != k {
		t.Error("idempotent re-send on a hit")
	}
	other := drm.GenerateContentKey()
	for name, s := range map[string]*keystore.Supplied{
		"different key": {KID: k.KID, Key: other.Key},
		"different IV":  {KID: k.KID, Key: k.Key, IV: &other.IV},
		"different kid": {KID: other.KID, Key: k.Key},
	} {
		r := req
		r.Supplied = s
		if _, _, err := c.GetOrCreate(ctx, r); !errors.Is(err, keystore.ErrConflict) {
			t.Errorf("%s: %v, want ErrConflict", name, err)
		}
	}
	boom := errors.New("boom")
	_, _, err := c.GetOrCreate(ctx, keystore.Request{Space: sp("chan"), PeriodSeconds: 60, Period: func(int64) (int64, error) { return 0, boom }})
	if !errors.Is(err, boom) || !strings.HasPrefix(err.Error(), "keystore: period: ") {
		t.Errorf("period error: %v", err)
	}
	if _, _, err := c.GetOrCreate(ctx, keystore.Request{Space: sp("chan"), PeriodSeconds: -1, Period: req.Period}); !errors.Is(err, keystore.ErrInvalidRequest) {
		t.Errorf("negative period: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, _, err := c.GetOrCreate(cctx, req); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
	if n := inner.callCount(); n != calls {
		t.Errorf("hit errors reached the inner store: %d calls, want %d", n, calls)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.GetOrCreate(ctx, req); !errors.Is(err, keystore.ErrClosed) {
		t.Errorf("hit after Close: %v, want ErrClosed", err)
	}
	if err := c.Close(); err != nil || inner.closes != 1 {
		t.Errorf("second Close: %v, inner closed %d times", err, inner.closes)
	}
}

// A size <= 0 caches nothing; the cache stays within its bound.
func TestCached_Size(t *testing.T) {
	inner := newMemStore()
	off := keystore.NewCached(inner, 0)
	get(t, off, keystore.Request{Space: sp("a")})
	get(t, off, keystore.Request{Space: sp("a")})
	if n := inner.callCount(); n != 2 {
		t.Errorf("size 0: %d inner calls, want 2", n)
	}
	inner = newMemStore()
	c := keystore.NewCached(inner, 4)
	for i := range 50 {
		get(t, c, keystore.Request{Space: sp(fmt.Sprint(i))})
	}
	for i := range 50 {
		get(t, c, keystore.Request{Space: sp(fmt.Sprint(i))})
	}
	if n := inner.callCount(); n < 96 {
		t.Errorf("a cache of 4 answered %d of 50 repeated spaces", 100-n)
	}
}

// TestCached_LookupKeyID: a key id found once is answered from the cache,
// per tenant; not-found is not cached (the key id is bound later).
func TestCached_LookupKeyID(t *testing.T) {
	ctx := context.Background()
	m := newMemStore()
	c := keystore.NewCached(m, 16)
	kid := drm.GenerateContentKey().KID
	if _, err := c.LookupKeyID(ctx, "T", kid); !errors.Is(err, keystore.ErrNotFound) {
		t.Fatalf("before: %v", err)
	}
	req := keystore.Request{Space: sp("c"), Supplied: &keystore.Supplied{KID: kid, GenerateKey: true}}
	rec, _, err := c.GetOrCreate(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	calls := m.callCount()
	for range 3 {
		got, err := c.LookupKeyID(ctx, "T", kid)
		if err != nil || got.Key != rec.Key || got.Space != rec.Space {
			t.Fatalf("lookup: %v, same %v", err, got.Key == rec.Key)
		}
	}
	if m.callCount() != calls {
		t.Errorf("%d lookups reached the store, want 0", m.callCount()-calls)
	}
	if _, err := c.LookupKeyID(ctx, "U", kid); !errors.Is(err, keystore.ErrNotFound) {
		t.Errorf("another tenant: %v", err)
	}
	_ = c.Close()
	if _, err := c.LookupKeyID(ctx, "T", kid); !errors.Is(err, keystore.ErrClosed) {
		t.Errorf("after Close: %v", err)
	}
}
