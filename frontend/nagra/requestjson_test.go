package nagra

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	keyserverv1 "github.com/keyserver/keyserver/gen/keyserver/v1"
)

// requestJSONSeeds are bodies decodeKeyRequest takes, bodies it hands to
// protojson, and bodies nobody takes.
var requestJSONSeeds = []string{
	// Taken.
	`{"drmContent":{"drmContentId":"channel-7","profile":{"distributionMode":"LIVE","streamingMode":"DASH","emi":16426}},"drmList":["WV","PR"],"scheduledKey":{"time":"2026-11-24T10:00:00Z"}}`,
	" {\n\t\"drmContent\" : { \"profile\" : { \"distributionMode\" : \"VOD\" } , \"drmContentId\" : \"caf\u00e9 \u2028\" } } \r\n",
	`{"tenantId":"T1","drmContent":{},"drmList":[],"scheduledKey":{"contentKey":{"keyId":"k","key":"v","iv":"i"},"time":""}}`,
	`{"drmContent":{"profile":{"emi":0,"streamingMode":"STREAMING_MODE_UNSPECIFIED"}}}`,
	`{"drmContent":{"profile":{"emi":4294967295}}}`,
	`{}`,
	// Handed to protojson (which takes them).
	`{"drmContent":{"drmContentId":"a\"b","profile":{"distributionMode":"VOD"}}}`,
	`{"drm_content":{"drm_content_id":"m"}}`,
	`{"drmContent":{"profile":{"distributionMode":2,"emi":"16426"}}}`,
	`{"drmContent":{"profile":{"emi":1.6426e4}}}`,
	`{"drmContent":null,"drmList":null}`,
	// Refused by both.
	`{"drmContent":{"profile":{"emi":4294967296}}}`,
	`{"drmContent":{"profile":{"emi":-1}}}`,
	`{"drmContent":{"profile":{"emi":016426}}}`,
	`{"drmContent":{"drmContentId":"a","drmContentId":"b"}}`,
	`{"drmContent":{"profile":{"distributionMode":"vod"}}}`,
	"{\"drmContent\":{\"drmContentId\":\"\xff\"}}",
	"{\"drmContent\":{\"drmContentId\":\"a\tb\"}}",
	`{"drmContent":{}}x`, `{"drmContent":{},}`, `{"drmList":["a",]}`, `{"drmList":["a" "b"]}`,
	`null`, `[]`, `{"drmContent":`, ``, `"x"`,
}

// TestDecodeKeyRequest checks which seeds the fast path takes, and that it
// decodes them as protojson does.
func TestDecodeKeyRequest(t *testing.T) {
	for i, s := range requestJSONSeeds {
		m := &keyserverv1.GetKeyAndSignalizationRequest{}
		ok := decodeKeyRequest([]byte(s), m)
		if want := i < 6; ok != want {
			t.Errorf("decodeKeyRequest(%q) = %v, want %v", s, ok, want)
		}
		err := protojson.Unmarshal([]byte(s), &keyserverv1.GetKeyAndSignalizationRequest{})
		if want := i < 11; (err == nil) != want {
			t.Errorf("protojson on %q: %v, want it to take it: %v", s, err, want)
		}
		checkDecodeKeyRequest(t, []byte(s))
	}
	// The first seed in full, checked field by field.
	m := &keyserverv1.GetKeyAndSignalizationRequest{}
	if !decodeKeyRequest([]byte(requestJSONSeeds[0]), m) {
		t.Fatal("first seed refused")
	}
	p := m.GetDrmContent().GetProfile()
	if m.GetDrmContent().GetDrmContentId() != "channel-7" || p.GetDistributionMode() != keyserverv1.DistributionMode_LIVE ||
		p.GetStreamingMode() != keyserverv1.StreamingMode_DASH || p.Emi == nil || p.GetEmi() != 16426 ||
		strings.Join(m.GetDrmList(), ",") != "WV,PR" || m.GetScheduledKey().GetTime() != "2026-11-24T10:00:00Z" {
		t.Errorf("decoded %v", m)
	}
}

// checkDecodeKeyRequest fails if decodeKeyRequest takes body and protojson
// refuses it or decodes it otherwise, or if it refuses body and leaves
// anything set.
func checkDecodeKeyRequest(t *testing.T, body []byte) {
	t.Helper()
	got := &keyserverv1.GetKeyAndSignalizationRequest{}
	ok := decodeKeyRequest(body, got)
	if !ok {
		if !proto.Equal(got, &keyserverv1.GetKeyAndSignalizationRequest{}) {
			t.Errorf("decodeKeyRequest(%q) refused it but left %v", body, got)
		}
		return
	}
	want := &keyserverv1.GetKeyAndSignalizationRequest{}
	if err := protojson.Unmarshal(body, want); err != nil {
		t.Fatalf("decodeKeyRequest took %q, which protojson refuses: %v", body, err)
	}
	if !proto.Equal(got, want) {
		t.Fatalf("decodeKeyRequest(%q) = %v, protojson %v", body, got, want)
	}
}

// FuzzDecodeKeyRequest checks decodeKeyRequest against protojson on any
// body: whatever the fast path takes, protojson takes and decodes alike.
func FuzzDecodeKeyRequest(f *testing.F) {
	for _, s := range requestJSONSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) { checkDecodeKeyRequest(t, body) })
}
