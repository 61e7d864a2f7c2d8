package storetest

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/keyserver/keyserver/drm"
	"github.com/keyserver/keyserver/keystore"
)

// testChosenKeyID: a key id chosen by the packager (Supplied.GenerateKey)
// binds one generated key, once, under races; the key id then conflicts
// in every other space of the tenant, and re-sends are idempotent.
func testChosenKeyID(t *testing.T, open Open) {
	ctx := context.Background()
	in := open(t)
	s := in.Store
	kid := drm.GenerateContentKey().KID
	chosen := func(content string) keystore.Request {
		req := vod(space("NAG0000", content))
		req.Supplied = &keystore.Supplied{KID: kid, GenerateKey: true}
		return req
	}

	var wg sync.WaitGroup
	var mu sync.Mutex
	creators := 0
	keys := map[drm.Key]bool{}
	for range 32 {
		wg.Go(func() {
			rec, created, err := s.GetOrCreate(ctx, chosen("speke-a"))
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if created {
				creators++
			}
			keys[rec.Key.Key] = true
			if rec.Key.KID != kid || rec.Supplied {
				t.Errorf("record: kid %v supplied %v", rec.Key.KID, rec.Supplied)
			}
		})
	}
	wg.Wait()
	if creators != 1 || len(keys) != 1 {
		t.Fatalf("creators = %d, distinct keys = %d; want 1, 1", creators, len(keys))
	}
	var key drm.Key
	for k := range keys {
		key = k
	}
	if key == (drm.Key{}) {
		t.Fatal("zero key generated")
	}

	// Re-send: the same key, not created.
	rec, created := mustGet(t, s, chosen("speke-a"))
	if created || rec.Key.Key != key {
		t.Errorf("re-send: created %v, same key %v", created, rec.Key.Key == key)
	}
	// Another space of the tenant: conflict, nothing stored.
	if _, _, err := s.GetOrCreate(ctx, chosen("speke-b")); !errors.Is(err, keystore.ErrConflict) {
		t.Errorf("same key id under another content: %v, want ErrConflict", err)
	}
	// A supplied key with that id: conflict too.
	sup := vod(space("NAG0000", "native"))
	sup.Supplied = &keystore.Supplied{KID: kid, Key: drm.Key{1}}
	if _, _, err := s.GetOrCreate(ctx, sup); !errors.Is(err, keystore.ErrConflict) {
		t.Errorf("supplied key with a bound key id: %v, want ErrConflict", err)
	}
	// Another tenant may choose the same key id: its own key.
	other := chosen("speke-a")
	other.Space.Tenant = "NAG0001"
	orec, created := mustGet(t, s, other)
	if !created || orec.Key.Key == key {
		t.Errorf("other tenant: created %v, same key as tenant A %v", created, orec.Key.Key == key)
	}
	// The lookup by key id finds the bound key.
	got, err := s.LookupKeyID(ctx, "NAG0000", kid)
	if err != nil || got.Key.Key != key || got.Space.ContentID != "speke-a" {
		t.Errorf("lookup: %v, same key %v, content %q", err, got.Key.Key == key, got.Space.ContentID)
	}
	if n := len(mustRecords(t, in, "NAG0000")); n != 1 {
		t.Errorf("tenant A records = %d, want 1", n)
	}
	// Reopened: the same binding.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if in.Reopen != nil {
		s2 := in.Reopen(t).Store
		rec, created := mustGet(t, s2, chosen("speke-a"))
		if created || rec.Key.Key != key {
			t.Errorf("after reopen: created %v, same key %v", created, rec.Key.Key == key)
		}
	}
}
