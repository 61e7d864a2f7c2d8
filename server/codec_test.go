package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	keyserverv1 "github.com/keyserver/keyserver/gen/keyserver/v1"
	"github.com/keyserver/keyserver/keystore"
)

// TestSigCodec_SameAsProto: the codec's encoding of real answers
// (cached entries, uncached entries, no contentKey, an error message) is
// byte-identical to proto.Marshal's and decodes to an equal message.
func TestSigCodec_SameAsProto(t *testing.T) {
	var mk [32]byte
	_, _ = rand.Read(mk[:])
	st, err := keystore.Open(filepath.Join(t.TempDir(), "keys.db"), &keystore.Options{MasterKey: mk})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ks := &keyService{cfg: &Config{Store: st, DefaultTenant: "T"}, now: time.Now}
	codec := newSigCodec(&ks.sigs)

	reqs := []*keyserverv1.GetKeyAndSignalizationRequest{
		{DrmContent: &keyserverv1.DrmContent{DrmContentId: "vod <&> ü", Profile: &keyserverv1.Profile{DistributionMode: keyserverv1.DistributionMode_VOD}}},
		{DrmContent: &keyserverv1.DrmContent{DrmContentId: "live", Profile: &keyserverv1.Profile{DistributionMode: keyserverv1.DistributionMode_LIVE, StreamingMode: keyserverv1.StreamingMode_HLS}}, DrmList: []string{"WV"}},
	}
	var answers []*keyserverv1.GetKeyAndSignalizationResponse
	for _, req := range reqs {
		for range 2 { // first builds the entries, second caches them (sigCache.admit)
			resp, err := ks.GetKeyAndSignalization(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			answers = append(answers, resp)
		}
	}
	// Entries not in the cache, no contentKey, an error message.
	uncached := proto.Clone(answers[0]).(*keyserverv1.GetKeyAndSignalizationResponse)
	uncached.ContentKey = nil
	uncached.ErrorMessage = "x"
	answers = append(answers, uncached, &keyserverv1.GetKeyAndSignalizationResponse{Status: keyserverv1.Status_OK})

	for i, resp := range answers {
		want, err := proto.Marshal(resp)
		if err != nil {
			t.Fatal(err)
		}
		bs, err := codec.Marshal(resp)
		if err != nil {
			t.Fatal(err)
		}
		got := bs.Materialize()
		if !bytes.Equal(got, want) {
			t.Errorf("answer %d: codec bytes differ from proto.Marshal (%d vs %d bytes)", i, len(got), len(want))
		}
		back := &keyserverv1.GetKeyAndSignalizationResponse{}
		if err := proto.Unmarshal(got, back); err != nil || !proto.Equal(back, resp) {
			t.Errorf("answer %d does not decode to itself: %v", i, err)
		}
	}
	// Anything else goes through the stock codec.
	if bs, err := codec.Marshal(reqs[0]); err != nil || bs.Len() == 0 {
		t.Errorf("request message: %v", err)
	}

	// The gateway's codec decodes every one of these encodings (and
	// variants around a cached set's bytes) to what proto.Unmarshal gives,
	// taking the cached entries exactly when the bytes are a set's.
	gw := newSigCodec(&ks.sigs)
	enc := func(m proto.Message) []byte {
		b, err := proto.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	cachedWire := enc(answers[1])
	inputs := map[string]struct {
		b      []byte
		cached bool
	}{
		"cached":                     {cachedWire, true},
		"cached, other hls set":      {enc(answers[3]), true},
		"copies of a set's entries":  {enc(answers[4]), true}, // equal bytes
		"no entries":                 {enc(answers[5]), false},
		"cached + unknown field":     {protowire.AppendVarint(protowire.AppendTag(append([]byte(nil), cachedWire...), 9, protowire.VarintType), 7), false},
		"cached, last entry cut off": {cachedWire[:len(cachedWire)-1], false},
		"one entry fewer":            {enc(&keyserverv1.GetKeyAndSignalizationResponse{Status: keyserverv1.Status_OK, DrmSignalization: answers[1].DrmSignalization[1:]}), false},
	}
	for name, in := range inputs {
		want := &keyserverv1.GetKeyAndSignalizationResponse{}
		wantErr := proto.Unmarshal(in.b, want)
		got := &keyserverv1.GetKeyAndSignalizationResponse{}
		err := gw.Unmarshal(mem.BufferSlice{mem.SliceBuffer(in.b[:len(in.b)/2]), mem.SliceBuffer(in.b[len(in.b)/2:])}, got)
		if (err != nil) != (wantErr != nil) {
			t.Errorf("%s: error %v, proto.Unmarshal's %v", name, err, wantErr)
			continue
		}
		if err != nil {
			continue
		}
		if !proto.Equal(got, want) {
			t.Errorf("%s: gateway codec decoded a different message than proto.Unmarshal", name)
		}
		usedCache := len(got.DrmSignalization) > 0 && ks.sigs.setOf(got.DrmSignalization) != nil
		if usedCache != in.cached {
			t.Errorf("%s: cached entries used = %v, want %v", name, usedCache, in.cached)
		}
	}
	// Many real answers of the same shape (their encodings differ only in
	// key ids, keys and content ids) are each found by their own bytes.
	for i := range 50 {
		req := &keyserverv1.GetKeyAndSignalizationRequest{DrmContent: &keyserverv1.DrmContent{
			DrmContentId: fmt.Sprintf("channel-%d", i), Profile: &keyserverv1.Profile{DistributionMode: keyserverv1.DistributionMode_LIVE}}}
		var resp *keyserverv1.GetKeyAndSignalizationResponse
		for range 2 { // the second request caches the set (sigCache.admit)
			var err error
			if resp, err = ks.GetKeyAndSignalization(context.Background(), req); err != nil {
				t.Fatal(err)
			}
		}
		got := &keyserverv1.GetKeyAndSignalizationResponse{}
		if err := gw.Unmarshal(mem.BufferSlice{mem.SliceBuffer(enc(resp))}, got); err != nil || !proto.Equal(got, resp) {
			t.Fatalf("channel %d: %v", i, err)
		}
		if set := ks.sigs.setOf(got.DrmSignalization); set == nil || set != ks.sigs.setOf(resp.DrmSignalization) {
			t.Fatalf("channel %d: the gateway codec did not find the answer's own set", i)
		}
	}
	// Other messages take the stock codec.
	hc := &keyserverv1.GetKeyAndSignalizationRequest{}
	if err := gw.Unmarshal(mem.BufferSlice{mem.SliceBuffer(enc(reqs[0]))}, hc); err != nil || !proto.Equal(hc, reqs[0]) {
		t.Errorf("request message through the gateway codec: %v", err)
	}
}
