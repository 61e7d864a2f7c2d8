package nagra

import (
	"testing"

	"github.com/keyserver/keyserver/drm"
	keyserverv1 "github.com/keyserver/keyserver/gen/keyserver/v1"
)

func testEntries(tag string) []*keyserverv1.DrmSignalization {
	return []*keyserverv1.DrmSignalization{
		{Format: &keyserverv1.DrmSignalization_Dash{Dash: &keyserverv1.DashSignalization{DrmSystemId: tag, PsshBox: "AAAA"}}},
		{Format: &keyserverv1.DrmSignalization_Hls{Hls: &keyserverv1.HlsSignalization{DrmSystemId: tag, ExtXKey: `#EXT-X-KEY:METHOD=SAMPLE-AES,URI="skd://x"`}}},
	}
}

// TestSigCache_KeyedAndBounded: sets are told apart by every part of the
// key, found again by their entries slice, and the cache never grows past
// sigCacheSize (nor does its index).
func TestSigCache_KeyedAndBounded(t *testing.T) {
	var c sigCache
	base := sigSetKey{tenant: "A", kid: drm.KeyID{1}, contentID: "c", scheme: drm.SchemeCBCS, laURL: "u"}
	base.setOutputs([]output{{drm.Widevine, formatDASH}, {drm.Widevine, formatHLS}})
	if c.get(&base) != nil {
		t.Fatal("empty cache returned a set")
	}
	s := c.put(&base, newSigSet(testEntries("a")))
	if c.get(&base) != s {
		t.Fatal("set not found")
	}
	if again := c.put(&base, newSigSet(testEntries("b"))); again != s {
		t.Fatal("a second put replaced the stored set")
	}
	if c.setOf(s.entries) != s {
		t.Fatal("set not found by its entries")
	}
	if c.setOf(testEntries("a")) != nil {
		t.Fatal("an equal but distinct entries slice was taken for the cached one")
	}
	if c.setOf(s.entries[:1]) != nil {
		t.Fatal("part of a set was taken for the set")
	}
	if cap(s.entries) != len(s.entries) {
		t.Fatal("a set's entries can be appended to in place")
	}
	variants := []func(*sigSetKey){
		func(k *sigSetKey) { k.tenant = "B" },
		func(k *sigSetKey) { k.kid = drm.KeyID{2} },
		func(k *sigSetKey) { k.contentID = "d" },
		func(k *sigSetKey) { k.scheme = drm.SchemeCENC },
		func(k *sigSetKey) { k.laURL = "v" },
		func(k *sigSetKey) { k.setOutputs([]output{{drm.Widevine, formatDASH}}) },
		func(k *sigSetKey) { k.setOutputs([]output{{drm.Widevine, formatHLS}, {drm.Widevine, formatDASH}}) },
		func(k *sigSetKey) { k.setOutputs([]output{{drm.PlayReady, formatDASH}, {drm.Widevine, formatHLS}}) },
	}
	for i, f := range variants {
		k := base
		f(&k)
		if c.get(&k) != nil {
			t.Errorf("variant %d hit the base set", i)
		}
	}
	if k := base; k.setOutputs(make([]output, maxOutputs+1)) {
		t.Error("more than maxOutputs outputs accepted as a key")
	}
	for i := range sigCacheSize + 10 {
		k := base
		k.kid = drm.KeyID{byte(i), byte(i >> 8), byte(i >> 16), 0xff}
		c.put(&k, newSigSet(testEntries(string(rune('a'+i/2%20)))))
	}
	if n := len(c.sets); n != sigCacheSize {
		t.Fatalf("cache holds %d sets, bound is %d", n, sigCacheSize)
	}
	if n := len(c.byList); n != sigCacheSize {
		t.Fatalf("entries index holds %d sets, want %d", n, sigCacheSize)
	}
	for _, s := range c.sets {
		if c.setOf(s.entries) != s {
			t.Fatal("a cached set is not found by its entries")
		}
	}
}

// TestSigCache_AdmitOnSecondRequest: a set is worth caching from its
// key's second request on; keys asked for once stay out and are forgotten
// in bounded memory.
func TestSigCache_AdmitOnSecondRequest(t *testing.T) {
	var c sigCache
	a, b := sigSetKey{tenant: "A"}, sigSetKey{tenant: "B"}
	if c.admit(&a) {
		t.Fatal("first request admitted")
	}
	if c.admit(&b) {
		t.Fatal("another key's first request admitted")
	}
	if !c.admit(&a) {
		t.Fatal("second request not admitted")
	}
	if c.admit(&a) {
		t.Fatal("the key is still remembered after admission (a third request should find the set cached instead)")
	}
	for i := range 3 * sigCacheSize {
		k := sigSetKey{tenant: "once", kid: drm.KeyID{byte(i), byte(i >> 8), byte(i >> 16)}}
		if c.admit(&k) {
			t.Fatalf("key %d, asked for once, admitted", i)
		}
		if len(c.seen) > sigCacheSize {
			t.Fatalf("%d keys remembered, bound is %d", len(c.seen), sigCacheSize)
		}
	}
}
