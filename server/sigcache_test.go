package server

import (
	"testing"

	"github.com/keyserver/keyserver/drm"
	keyserverv1 "github.com/keyserver/keyserver/gen/keyserver/v1"
)

// TestSigCache_KeyedAndBounded: entries are told apart by every part of
// the key, and the cache never grows past sigCacheSize.
func TestSigCache_KeyedAndBounded(t *testing.T) {
	var c sigCache
	base := sigKey{tenant: "A", kid: drm.KeyID{1}, contentID: "c", scheme: drm.SchemeCBCS, laURL: "u", out: output{drm.Widevine, formatDASH}}
	if c.get(&base) != nil {
		t.Fatal("empty cache returned an entry")
	}
	e := &keyserverv1.DrmSignalization{}
	c.put(&base, e)
	if c.get(&base) != e {
		t.Fatal("entry not found")
	}
	variants := []func(*sigKey){
		func(k *sigKey) { k.tenant = "B" },
		func(k *sigKey) { k.kid = drm.KeyID{2} },
		func(k *sigKey) { k.contentID = "d" },
		func(k *sigKey) { k.scheme = drm.SchemeCENC },
		func(k *sigKey) { k.laURL = "v" },
		func(k *sigKey) { k.out.sys = drm.PlayReady },
		func(k *sigKey) { k.out.format = formatHLS },
	}
	for i, f := range variants {
		k := base
		f(&k)
		if c.get(&k) != nil {
			t.Errorf("variant %d hit the base entry", i)
		}
	}
	for i := range sigCacheSize + 10 {
		k := base
		k.kid = drm.KeyID{byte(i), byte(i >> 8), byte(i >> 16), 0xff}
		c.put(&k, e)
	}
	if n := len(c.entries); n != sigCacheSize {
		t.Fatalf("cache holds %d entries, bound is %d", n, sigCacheSize)
	}
}
