package nagra

import (
	"context"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"

	keyserverv1 "github.com/keyserver/keyserver/gen/keyserver/v1"
	"github.com/keyserver/keyserver/internal/testkit"
	"github.com/keyserver/keyserver/issuer"
)

// The hit path in process, without transport: for `go test -bench Hit
// -cpuprofile` (BENCHMARKS.md). keybench measures the whole server.

func benchService(b *testing.B) *API { return newTestAPI(b, "BENCH") }

// newTestAPI returns an API over an issuer over a fresh store in a temp
// dir, with defaultTenant.
func newTestAPI(tb testing.TB, defaultTenant string) *API {
	tb.Helper()
	st, _ := testkit.NewBolt(tb)
	iss, err := issuer.New(issuer.Config{Store: st, DefaultTenant: defaultTenant})
	if err != nil {
		tb.Fatal(err)
	}
	a, err := New(Config{Issuer: iss})
	if err != nil {
		tb.Fatal(err)
	}
	return a
}

func hitRequest(content string) *keyserverv1.GetKeyAndSignalizationRequest {
	return &keyserverv1.GetKeyAndSignalizationRequest{DrmContent: &keyserverv1.DrmContent{
		DrmContentId: content,
		Profile:      &keyserverv1.Profile{DistributionMode: keyserverv1.DistributionMode_LIVE},
	}}
}

// BenchmarkHit_Service: GetKeyAndSignalization for an existing LIVE key,
// all six signaling entries (no streamingMode, no drmList).
func BenchmarkHit_Service(b *testing.B) {
	s := benchService(b)
	req := hitRequest("channel-7")
	first, err := s.GetKeyAndSignalization(context.Background(), req)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := s.GetKeyAndSignalization(context.Background(), req)
			if err != nil || resp.GetContentKey().GetKeyId() != first.GetContentKey().GetKeyId() {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkHit_JSON: the REST answer of a hit, hand-written versus
// protojson with the gateway's options.
func BenchmarkHit_JSON(b *testing.B) {
	s := benchService(b)
	resp, err := s.GetKeyAndSignalization(context.Background(), hitRequest("channel-7"))
	if err != nil {
		b.Fatal(err)
	}
	b.Run("handwritten", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := marshalKeyResponse(make([]byte, 0, 4096), resp, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("cached", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := marshalKeyResponse(make([]byte, 0, 4096), resp, &s.index); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("protojson", func(b *testing.B) {
		opts := protojson.MarshalOptions{UseProtoNames: false, EmitUnpopulated: false}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := opts.Marshal(resp); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkDecodeRequest: a hit's REST body through unmarshalRequest
// (decodeKeyRequest), against protojson alone.
func BenchmarkDecodeRequest(b *testing.B) {
	body := []byte(`{"drmContent":{"drmContentId":"bench-0123456789abcdef-channel-0042","profile":{"distributionMode":"LIVE"}}}`)
	b.Run("unmarshalRequest", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := unmarshalRequest(body, &keyserverv1.GetKeyAndSignalizationRequest{}, protojson.UnmarshalOptions{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("protojson", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := protojson.Unmarshal(body, &keyserverv1.GetKeyAndSignalizationRequest{}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
