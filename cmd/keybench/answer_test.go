package main

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	keyserverv1 "github.com/keyserver/keyserver/gen/keyserver/v1"
)

// TestCheckAnswer: the wire walk accepts what proto.Marshal writes for a
// good answer, returns its key id, and refuses each thing a packager could
// not use, and malformed encodings.
func TestCheckAnswer(t *testing.T) {
	good := func() *keyserverv1.GetKeyAndSignalizationResponse {
		return &keyserverv1.GetKeyAndSignalizationResponse{
			Status:     keyserverv1.Status_OK,
			ContentKey: &keyserverv1.ContentKey{KeyId: "0f6b1c6e-2d5a-4a8e-9a43-1c1d7c2f3e4a", Key: "AAAAAAAAAAAAAAAAAAAAAA==", Iv: "AQEBAQEBAQEBAQEBAQEBAQ=="},
			DrmSignalization: []*keyserverv1.DrmSignalization{
				{Format: &keyserverv1.DrmSignalization_Dash{Dash: &keyserverv1.DashSignalization{DrmSystemId: "x", PsshBox: "AAAA"}}},
				{Format: &keyserverv1.DrmSignalization_Hls{Hls: &keyserverv1.HlsSignalization{ExtXKey: "#EXT-X-KEY:METHOD=SAMPLE-AES"}}},
			},
		}
	}
	enc := func(m proto.Message) []byte {
		b, err := proto.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	id, err := checkAnswer(enc(good()))
	if err != nil || string(id) != good().GetContentKey().GetKeyId() {
		t.Fatalf("good answer: id %q, err %v", id, err)
	}

	bad := map[string][]byte{}
	m := good()
	m.Status = keyserverv1.Status_INTERNAL_ERROR
	bad["status"] = enc(m)
	m = good()
	m.ContentKey.KeyId = ""
	bad["no key id"] = enc(m)
	m = good()
	m.ContentKey = nil
	bad["no content key"] = enc(m)
	m = good()
	m.DrmSignalization = nil
	bad["no signaling"] = enc(m)
	m = good()
	m.DrmSignalization = append(m.DrmSignalization, &keyserverv1.DrmSignalization{})
	bad["empty entry"] = enc(m)
	b := enc(good())
	bad["truncated"] = b[:len(b)-3]
	bad["bad tag"] = append(enc(good()), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01)
	bad["bad key id length"] = protowire.AppendBytes(protowire.AppendTag(nil, fieldContentKey, protowire.BytesType), []byte{0x0a, 0x7f, 'x'})
	for name, b := range bad {
		if id, err := checkAnswer(b); err == nil {
			t.Errorf("%s: accepted (key id %q)", name, id)
		} else if strings.TrimSpace(err.Error()) == "" {
			t.Errorf("%s: empty error", name)
		}
	}
}
