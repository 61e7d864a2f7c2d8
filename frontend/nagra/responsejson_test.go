package nagra

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	keyserverv1 "github.com/keyserver/keyserver/gen/keyserver/v1"
)

// TestMarshalKeyResponse_MatchesProtojson checks the hand-written REST
// answer against protojson with the gateway's options: it must decode to
// the same message, and be the same JSON document.
func TestMarshalKeyResponse_MatchesProtojson(t *testing.T) {
	tricky := "a\"b\\c\x00\x01\b\f\n\r\t\x1f\x7f <&> é 漢 \u2028 😀 </ContentProtection>"
	cases := map[string]*keyserverv1.GetKeyAndSignalizationResponse{
		"empty":             {},
		"status only":       {Status: keyserverv1.Status_OK},
		"error":             {Status: keyserverv1.Status_KEY_CONFLICT, ErrorMessage: tricky},
		"unknown enum":      {Status: keyserverv1.Status(99)},
		"key without value": {Status: keyserverv1.Status_OK, ContentKey: &keyserverv1.ContentKey{KeyId: "d995841d-7e84-42d1-9146-0225972fcbc0", Iv: "tOE2zxSguWec0yW5aH7QVA=="}},
		"empty parts": {ContentKey: &keyserverv1.ContentKey{}, DrmSignalization: []*keyserverv1.DrmSignalization{
			{}, {Format: &keyserverv1.DrmSignalization_Dash{Dash: &keyserverv1.DashSignalization{}}},
			{Format: &keyserverv1.DrmSignalization_Hls{Hls: &keyserverv1.HlsSignalization{}}},
		}},
		"full": {
			Status:     keyserverv1.Status_OK,
			ContentKey: &keyserverv1.ContentKey{KeyId: "k", Key: "MFd7D5/utBEBPgGfvq6CSA==", Iv: "iv"},
			DrmSignalization: []*keyserverv1.DrmSignalization{
				{Format: &keyserverv1.DrmSignalization_Dash{Dash: &keyserverv1.DashSignalization{
					DrmSystemId: "edef8ba9-79d6-4ace-a3c8-27dcd51d21ed", DrmName: "WideVine", ManifestHeader: tricky, PsshBox: "AAAA+/="}}},
				{Format: &keyserverv1.DrmSignalization_Hls{Hls: &keyserverv1.HlsSignalization{
					DrmSystemId: "94ce86fb-07ff-4f43-adb8-93d2fa968ca2", DrmName: "FairPlay", KeyUri: "skd://x", Method: "SAMPLE-AES",
					KeyFormat: "com.apple.streamingkeydelivery", KeyFormatVersions: "1", ExtXKey: tricky}}},
			},
		},
	}
	for name, msg := range cases {
		t.Run(name, func(t *testing.T) {
			checkKeyResponseJSON(t, msg, nil)
		})
		// The same answer with its entries a cached set: written from the
		// set's JSON.
		if len(msg.DrmSignalization) > 0 {
			t.Run(name+" cached", func(t *testing.T) {
				var c setIndex
				set := newSigSet(msg.DrmSignalization)
				c.add(set)
				cached := proto.Clone(msg).(*keyserverv1.GetKeyAndSignalizationResponse)
				cached.DrmSignalization = set.entries
				for range 2 { // builds the set's JSON, then reuses it
					checkKeyResponseJSON(t, cached, &c)
				}
				if set.json.Load() == nil || set.answer.Load() == nil {
					t.Fatal("the set's JSON was not kept")
				}
				// Another head with the same entries (a supplied key: no
				// key value; an error message) is written for itself.
				other := proto.Clone(cached).(*keyserverv1.GetKeyAndSignalizationResponse)
				other.DrmSignalization = set.entries
				other.ContentKey = &keyserverv1.ContentKey{KeyId: "other", Iv: "iv2"}
				checkKeyResponseJSON(t, other, &c)
				other.ContentKey = nil
				other.ErrorMessage = "e"
				checkKeyResponseJSON(t, other, &c)
			})
		}
	}
}

// checkKeyResponseJSON compares marshalKeyResponse's JSON of msg with protojson's.
func checkKeyResponseJSON(t *testing.T, msg *keyserverv1.GetKeyAndSignalizationResponse, sigs *setIndex) {
	t.Helper()
	ref := protojson.MarshalOptions{UseProtoNames: false, EmitUnpopulated: false}
	got, err := keyResponseJSON(msg, sigs)
	if err != nil {
		t.Fatal(err)
	}
	back := &keyserverv1.GetKeyAndSignalizationResponse{}
	if err := protojson.Unmarshal(got, back); err != nil {
		t.Fatalf("protojson cannot read %s: %v", got, err)
	}
	if diff := cmp.Diff(msg, back, protocmp.Transform()); diff != "" {
		t.Errorf("round trip (-sent +decoded):\n%s", diff)
	}
	want, err := ref.Marshal(msg)
	if err != nil {
		t.Fatal(err)
	}
	var gotDoc, wantDoc any
	if err := json.Unmarshal(got, &gotDoc); err != nil {
		t.Fatalf("not JSON: %s: %v", got, err)
	}
	if err := json.Unmarshal(want, &wantDoc); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(wantDoc, gotDoc); diff != "" {
		t.Errorf("JSON document differs from protojson's (-protojson +ours):\n%s\nours: %s", diff, got)
	}
}

// TestMarshalKeyResponse_InvalidUTF8 falls back to protojson, which
// refuses the message.
func TestMarshalKeyResponse_InvalidUTF8(t *testing.T) {
	msg := &keyserverv1.GetKeyAndSignalizationResponse{ErrorMessage: "bad \xff"}
	if _, err := marshalKeyResponse(nil, msg, nil); err == nil {
		t.Fatal("marshalKeyResponse accepted invalid UTF-8")
	}
	// Also in a cached set's entries.
	var c setIndex
	bad := []*keyserverv1.DrmSignalization{{Format: &keyserverv1.DrmSignalization_Hls{Hls: &keyserverv1.HlsSignalization{ExtXKey: "bad \xff"}}}}
	set := newSigSet(bad)
	c.add(set)
	if _, err := marshalKeyResponse(nil, &keyserverv1.GetKeyAndSignalizationResponse{DrmSignalization: set.entries}, &c); err == nil {
		t.Fatal("marshalKeyResponse accepted invalid UTF-8 in a cached set")
	}
	set2 := newSigSet(bad)
	c.add(set2)
	for range 2 { // the set's first answer, then its kept outcome
		if _, err := keyResponseJSON(&keyserverv1.GetKeyAndSignalizationResponse{DrmSignalization: set2.entries}, &c); err == nil {
			t.Fatal("keyResponseJSON accepted invalid UTF-8 in a cached set")
		}
	}
	var rm requestMarshaler
	if _, err := rm.Marshal(msg); err == nil {
		t.Fatal("Marshal accepted invalid UTF-8")
	}
	if b, err := rm.Marshal(&keyserverv1.GetKeyAndSignalizationResponse{Status: keyserverv1.Status_OK}); err != nil || !proto.Equal(mustUnmarshal(t, b), &keyserverv1.GetKeyAndSignalizationResponse{Status: keyserverv1.Status_OK}) {
		t.Fatalf("Marshal: %s, %v", b, err)
	}
}

func mustUnmarshal(t *testing.T, b []byte) *keyserverv1.GetKeyAndSignalizationResponse {
	t.Helper()
	m := &keyserverv1.GetKeyAndSignalizationResponse{}
	if err := protojson.Unmarshal(b, m); err != nil {
		t.Fatal(err)
	}
	return m
}
