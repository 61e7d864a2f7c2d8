package app_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	keyserverv1 "github.com/keyserver/keyserver/gen/keyserver/v1"
)

// TestConcurrentHits_SameAnswers: many clients asking for the same few
// keys over both transports at once (first answers, the request that
// caches the signaling, hits served from the cache, REST answers kept
// whole) all get the same answer per content and request shape, equal to
// the first one; under -race this also checks the shared caches.
func TestConcurrentHits_SameAnswers(t *testing.T) {
	env, _ := start(t)
	reqs := []*keyserverv1.GetKeyAndSignalizationRequest{
		newReq("live-a", keyserverv1.DistributionMode_LIVE, keyserverv1.StreamingMode_STREAMING_MODE_UNSPECIFIED),
		newReq("live-b", keyserverv1.DistributionMode_LIVE, keyserverv1.StreamingMode_DASH),
		newReq("live-b", keyserverv1.DistributionMode_LIVE, keyserverv1.StreamingMode_HLS, "WV", "FPS"),
		newReq("vod-c", keyserverv1.DistributionMode_VOD, keyserverv1.StreamingMode_STREAMING_MODE_UNSPECIFIED, "PRM", "PR"),
	}
	bodies := make([][]byte, len(reqs))
	for i, r := range reqs {
		b, err := protojson.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		bodies[i] = b
	}
	call := func(i int, rest bool) (*keyserverv1.GetKeyAndSignalizationResponse, error) {
		if !rest {
			r := proto.Clone(reqs[i]).(*keyserverv1.GetKeyAndSignalizationRequest)
			r.TenantId = "NAG0000"
			return env.Client.GetKeyAndSignalization(context.Background(), r)
		}
		res, err := env.HTTP.Post(env.HTTPURL+"/NAG0000/ckm/v1/keyAndSignalization", "application/json", bytes.NewReader(bodies[i]))
		if err != nil {
			return nil, err
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		if err != nil {
			return nil, err
		}
		if res.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("HTTP %d: %s", res.StatusCode, b)
		}
		m := &keyserverv1.GetKeyAndSignalizationResponse{}
		return m, protojson.Unmarshal(b, m)
	}

	const workers, rounds = 16, 12
	answers := make([][]*keyserverv1.GetKeyAndSignalizationResponse, len(reqs))
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for n := range rounds {
				for i := range reqs {
					resp, err := call(i, (w+n+i)%2 == 0)
					if err != nil {
						errs <- fmt.Errorf("worker %d, request %d: %w", w, i, err)
						return
					}
					mu.Lock()
					answers[i] = append(answers[i], resp)
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for i, list := range answers {
		if len(list) != workers*rounds {
			t.Fatalf("request %d: %d answers", i, len(list))
		}
		first := list[0]
		if first.GetStatus() != keyserverv1.Status_OK || len(first.GetDrmSignalization()) == 0 {
			t.Fatalf("request %d: %v", i, first)
		}
		for j, a := range list[1:] {
			if !proto.Equal(a, first) {
				t.Fatalf("request %d: answer %d differs from the first", i, j+1)
			}
		}
	}
	// Different shapes of one content share the key and differ in signaling.
	if answers[1][0].GetContentKey().GetKeyId() != answers[2][0].GetContentKey().GetKeyId() {
		t.Error("two shapes of live-b got different keys")
	}
	if strings.Contains(protojson.Format(answers[1][0]), "extXKey") {
		t.Error("the DASH-only answer carries HLS signaling")
	}
}
