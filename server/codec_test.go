package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"

	keyserverv1 "github.com/keyserver/keyserver/gen/keyserver/v1"
	"github.com/keyserver/keyserver/keystore/boltstore"
)

// TestSigCodec_SameAsProto: the codec's encoding of real answers
// (cached entries, uncached entries, no contentKey, an error message) is
// byte-identical to proto.Marshal's and decodes to an equal message.
func TestSigCodec_SameAsProto(t *testing.T) {
	var mk [32]byte
	_, _ = rand.Read(mk[:])
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "keys.db"), &boltstore.Options{MasterKey: mk})
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

	// Decoding is the stock codec's, requests and answers alike.
	for _, m := range []proto.Message{reqs[0], answers[1]} {
		b, err := proto.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		got := m.ProtoReflect().New().Interface()
		if err := codec.Unmarshal(mem.BufferSlice{mem.SliceBuffer(b)}, got); err != nil || !proto.Equal(got, m) {
			t.Errorf("%T through the codec: %v", m, err)
		}
	}
}
