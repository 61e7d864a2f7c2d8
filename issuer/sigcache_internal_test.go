package issuer

import (
	"testing"

	"github.com/keyserver/keyserver/drm"
)

func keyWith(base sigKey, outs ...Output) sigKey {
	base.n = copy(base.outs[:], outs)
	return base
}

// TestSigCache_KeyedAndBounded: sets are told apart by every part of the
// key, a second put keeps the first set, and the cache never grows past
// sigCacheSize.
func TestSigCache_KeyedAndBounded(t *testing.T) {
	var c sigCache
	wvDASH, wvHLS := Output{drm.Widevine, FormatDASH}, Output{drm.Widevine, FormatHLS}
	base := keyWith(sigKey{tenant: "A", kid: drm.KeyID{1}, contentID: "c", scheme: drm.SchemeCBCS, laURL: "u"}, wvDASH, wvHLS)
	if c.get(&base) != nil {
		t.Fatal("empty cache returned a set")
	}
	s := c.put(&base, &Signaling{Entries: []Entry{{Output: wvDASH}}})
	if c.get(&base) != s || !s.Cached() {
		t.Fatal("set not found, or not marked cached")
	}
	if again := c.put(&base, &Signaling{}); again != s {
		t.Fatal("a second put replaced the stored set")
	}
	variants := []func(*sigKey){
		func(k *sigKey) { k.tenant = "B" },
		func(k *sigKey) { k.kid = drm.KeyID{2} },
		func(k *sigKey) { k.contentID = "d" },
		func(k *sigKey) { k.scheme = drm.SchemeCENC },
		func(k *sigKey) { k.laURL = "v" },
		func(k *sigKey) { *k = keyWith(*k, wvDASH) },
		func(k *sigKey) { *k = keyWith(*k, wvHLS, wvDASH) },
		func(k *sigKey) { *k = keyWith(*k, Output{drm.PlayReady, FormatDASH}, wvHLS) },
	}
	for i, f := range variants {
		k := base
		f(&k)
		if c.get(&k) != nil {
			t.Errorf("variant %d hit the base set", i)
		}
	}
	for i := range sigCacheSize + 10 {
		k := base
		k.kid = drm.KeyID{byte(i), byte(i >> 8), byte(i >> 16), 0xff}
		c.put(&k, &Signaling{})
	}
	if n := len(c.sets); n != sigCacheSize {
		t.Fatalf("cache holds %d sets, bound is %d", n, sigCacheSize)
	}
}

// TestSigCache_AdmitOnSecondRequest: a set is worth caching from its
// key's second request on; keys asked for once stay out and are forgotten
// in bounded memory.
func TestSigCache_AdmitOnSecondRequest(t *testing.T) {
	var c sigCache
	a, b := sigKey{tenant: "A"}, sigKey{tenant: "B"}
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
		k := sigKey{tenant: "once", kid: drm.KeyID{byte(i), byte(i >> 8), byte(i >> 16)}}
		if c.admit(&k) {
			t.Fatalf("key %d, asked for once, admitted", i)
		}
		if len(c.seen) > sigCacheSize {
			t.Fatalf("%d keys remembered, bound is %d", len(c.seen), sigCacheSize)
		}
	}
}

// TestDerived_BuiltOnce: a front-end's derived value is built once per
// set and returned to every later caller.
func TestDerived_BuiltOnce(t *testing.T) {
	k := NewDerivedKey()
	s := &Signaling{}
	builds := 0
	build := func(*Signaling) any { builds++; return &builds }
	first := s.Derived(k, build)
	if again := s.Derived(k, build); again != first || builds != 1 {
		t.Fatalf("built %d times, same value %v", builds, again == first)
	}
	if other := (&Signaling{}).Derived(k, build); other != first || builds != 2 {
		// other is &builds too; what matters is that another set builds anew.
		t.Fatalf("another set did not build its own value (%d builds)", builds)
	}
}
