package storetest

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/keyserver/keyserver/drm"
	"github.com/keyserver/keyserver/keystore"
)

// Keys and IVs are sealed at rest: none of the issued ones (generated or
// supplied, with and without IV) appears in what the backend stores, while
// every key id (stored in clear) does, so the scan sees the stored bytes.
func testNoPlaintextKeys(t *testing.T, open Open) {
	in := open(t)
	s := in.Store
	var issued []drm.ContentKey
	for i := range 50 {
		rec, _ := mustGet(t, s, live(space("NAG0000", "ch"), 60, int64(i)))
		issued = append(issued, rec.Key)
		rec, _ = mustGet(t, s, vod(space("T2", string(rune('a'+i%26))+"x"+string(rune('0'+i/26)))))
		issued = append(issued, rec.Key)
	}
	for i := range 10 {
		k := drm.GenerateContentKey()
		req := live(space("NAG0000", "sup"), 60, int64(i))
		req.Supplied = &keystore.Supplied{KID: k.KID, Key: k.Key, IV: &k.IV}
		rec, _ := mustGet(t, s, req)
		issued = append(issued, rec.Key)
		req.Supplied.IV = nil
		req.Period = index(int64(i + 100))
		req.Supplied.KID = drm.GenerateContentKey().KID
		rec, _ = mustGet(t, s, req)
		issued = append(issued, rec.Key)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	data := in.Raw(t)
	kids := 0
	for i, k := range issued {
		if bytes.Contains(data, k.Key[:]) {
			t.Errorf("key %d found in the stored bytes", i)
		}
		if bytes.Contains(data, k.IV[:]) {
			t.Errorf("IV %d found in the stored bytes", i)
		}
		if bytes.Contains(data, k.KID[:]) {
			kids++
		}
	}
	if kids != len(issued) { // sanity: the scan sees what is stored in clear
		t.Errorf("only %d of %d key ids found in the stored bytes", kids, len(issued))
	}
	if in.MasterKey != ([32]byte{}) && bytes.Contains(data, in.MasterKey[:]) {
		t.Error("master key found in the stored bytes")
	}
}

// No error carries key or IV bytes, raw or as hex.
func testErrors_NoKeyBytes(t *testing.T, open Open) {
	s := open(t).Store
	k := drm.GenerateContentKey()
	req := vod(space("T", "c"))
	req.Supplied = &keystore.Supplied{KID: k.KID, Key: k.Key, IV: &k.IV}
	mustGet(t, s, req)
	other := drm.GenerateContentKey()
	req.Supplied = &keystore.Supplied{KID: k.KID, Key: other.Key, IV: &other.IV}
	_, _, err := s.GetOrCreate(context.Background(), req)
	if !errors.Is(err, keystore.ErrConflict) {
		t.Fatal(err)
	}
	msg := err.Error()
	for _, secret := range [][]byte{k.Key[:], k.IV[:], other.Key[:], other.IV[:]} {
		if bytes.Contains([]byte(msg), secret) || bytes.Contains([]byte(msg), []byte(drm.KeyID(secret).Hex())) {
			t.Errorf("error %q contains key material", msg)
		}
	}
}

// After Close every call returns ErrClosed, also for keys the store has
// served before (which a cache could still answer).
func testClosed(t *testing.T, open Open) {
	ctx := context.Background()
	s := open(t).Store
	sp := space("NAG0000", "closed")
	v, _ := mustGet(t, s, vod(sp))
	mustGet(t, s, live(sp, 60, 7))
	mustGet(t, s, live(sp, 60, 7)) // served twice: a cache holds it now
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for name, r := range map[string]keystore.Request{
		"VOD served before":  vod(sp),
		"LIVE served before": live(sp, 60, 7),
		"new LIVE period":    live(sp, 60, 8),
		"new space":          vod(space("NAG0000", "closed-new")),
	} {
		if _, _, err := s.GetOrCreate(ctx, r); !errors.Is(err, keystore.ErrClosed) {
			t.Errorf("%s after Close: %v, want ErrClosed", name, err)
		}
	}
	if _, err := s.LookupKeyID(ctx, "NAG0000", v.Key.KID); !errors.Is(err, keystore.ErrClosed) {
		t.Errorf("LookupKeyID after Close: %v, want ErrClosed", err)
	}
}

// The documented errors on a space that holds keys (where a cache answers):
// a cancelled context, a failing Period function (its error wrapped), a
// malformed tenant in LookupKeyID; none of them stores anything.
func testErrors_AfterCreate(t *testing.T, open Open) {
	ctx := context.Background()
	in := open(t)
	s := in.Store
	sp := space("NAG0000", "c")
	mustGet(t, s, live(sp, 60, 1))
	v, _ := mustGet(t, s, vod(sp))
	mustGet(t, s, live(sp, 60, 1))
	mustGet(t, s, vod(sp))

	errBoom := errors.New("boom")
	_, _, err := s.GetOrCreate(ctx, keystore.Request{Space: sp, PeriodSeconds: 60, Period: func(int64) (int64, error) { return 0, errBoom }})
	if !errors.Is(err, errBoom) || err == errBoom {
		t.Errorf("period error on a pinned space: %v, want errBoom wrapped", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	for name, r := range map[string]keystore.Request{"VOD": vod(sp), "LIVE": live(sp, 60, 1), "new LIVE": live(sp, 60, 2)} {
		if _, _, err := s.GetOrCreate(cctx, r); !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled %s: %v", name, err)
		}
	}
	if _, err := s.LookupKeyID(cctx, "NAG0000", v.Key.KID); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled lookup: %v", err)
	}
	for _, tenant := range []string{"", "a/b", string(make([]byte, 65))} {
		if _, err := s.LookupKeyID(ctx, tenant, v.Key.KID); !errors.Is(err, keystore.ErrInvalidRequest) {
			t.Errorf("LookupKeyID(%q): %v, want ErrInvalidRequest", tenant, err)
		}
	}
	// An invalid request for a space whose keys are cached is still invalid.
	for name, r := range map[string]keystore.Request{
		"negative period":   {Space: sp, PeriodSeconds: -1, Period: index(1)},
		"live without func": {Space: sp, PeriodSeconds: 60},
		"zero supplied kid": {Space: sp, Supplied: &keystore.Supplied{}},
	} {
		if _, _, err := s.GetOrCreate(ctx, r); !errors.Is(err, keystore.ErrInvalidRequest) {
			t.Errorf("%s: %v, want ErrInvalidRequest", name, err)
		}
	}
	if n := len(mustRecords(t, in, "NAG0000")); n != 2 {
		t.Errorf("store holds %d records, want 2", n)
	}
}
