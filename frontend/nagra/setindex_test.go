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

// TestSetIndex_FoundByEntriesAndBounded: a set is found again by its own
// entries slice only (not an equal copy, not a part of it), its entries
// cannot be appended to in place, and the index never grows past
// indexSize.
func TestSetIndex_FoundByEntriesAndBounded(t *testing.T) {
	var x setIndex
	s := newSigSet(testEntries("a"))
	x.add(s)
	if x.setOf(s.entries) != s {
		t.Fatal("set not found by its entries")
	}
	if x.setOf(testEntries("a")) != nil {
		t.Fatal("an equal but distinct entries slice was taken for the indexed one")
	}
	if x.setOf(s.entries[:1]) != nil {
		t.Fatal("part of a set was taken for the set")
	}
	if cap(s.entries) != len(s.entries) {
		t.Fatal("a set's entries can be appended to in place")
	}
	for i := range indexSize + 10 {
		x.add(newSigSet(testEntries(drm.KeyID{byte(i), byte(i >> 8)}.String())))
	}
	if n := len(x.byList); n != indexSize {
		t.Fatalf("index holds %d sets, bound is %d", n, indexSize)
	}
	for _, set := range x.byList {
		if x.setOf(set.entries) != set {
			t.Fatal("an indexed set is not found by its entries")
		}
	}
}
