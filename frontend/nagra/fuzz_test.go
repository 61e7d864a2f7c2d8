package nagra

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protojson"

	keyserverv1 "github.com/keyserver/keyserver/gen/keyserver/v1"
	"github.com/keyserver/keyserver/issuer"
)

// FuzzRequestJSON feeds arbitrary bodies through the REST decoding
// (unmarshalRequest, as the gateway's decoder does) and the validation
// (parseRequest). Neither may panic; every refusal names an API status and
// says what is wrong; whatever is accepted is a request the store can key.
func FuzzRequestJSON(f *testing.F) {
	for _, s := range []string{
		`{"drmContent":{"drmContentId":"channel-7","profile":{"distributionMode":"LIVE","streamingMode":"DASH","emi":16426}},"drmList":["WV","PR"],"scheduledKey":{"time":"2026-11-24T10:00:00Z"}}`,
		`{"drmContent":{"drmContentId":"m","profile":{"distributionMode":"vod","streamingMode":""}},"drmList":{"drm":[{"drmSystemId":"edef8ba9-79d6-4ace-a3c8-27dcd51d21ed"}]}}`,
		`{"drm_content":{"drm_content_id":"m","profile":{"distribution_mode":"VOD","emi":"0x402A"}},"scheduledKey":{"contentKey":{"keyId":"5b1a1f4e-2c3d-4e5f-8a9b-0c1d2e3f4a5b","key":"AAECAwQFBgcICQoLDA0ODw==","iv":"AAECAwQFBgcICQoLDA0ODw=="}}}`,
		`{"drmContent":{"drmContentId":"a\ud800b","profile":{"distributionMode":"VOD"}},"x":[[[[1]]]]}`,
		"{\"drmContent\":{\"drmContentId\":\"\xff\",\"drmContentId\":\"b\"}}",
		`{"drmContent":{"drmContentId":"<x>\",URI=\"","profile":{"distributionMode":7}},"drmList":["wv","WV"]}`,
		`null`, `[]`, `{"drmContent":`, `{"scheduledKey":{"time":"0001-01-01T00:00:00Z"}}`,
	} {
		f.Add([]byte(s))
	}
	opts := protojson.UnmarshalOptions{}
	f.Fuzz(func(t *testing.T, body []byte) {
		req := &keyserverv1.GetKeyAndSignalizationRequest{}
		if err := unmarshalRequest(body, req, opts); err != nil {
			var be *bodyError
			if !errors.As(err, &be) {
				t.Fatalf("decoding error %T %v is not a bodyError", err, err)
			}
			if _, ok := keyserverv1.Status_name[int32(be.reason)]; !ok || be.reason == keyserverv1.Status_OK || be.msg == "" {
				t.Fatalf("decoding error without status or message: %+v", be)
			}
			return
		}
		kr, err := parseRequest(req, "NAG0000")
		if err != nil {
			var re *requestError
			if !errors.As(err, &re) || re.Msg == "" || re.Reason == keyserverv1.Status_OK {
				t.Fatalf("validation error %T %v", err, err)
			}
			if !strings.HasPrefix(re.Field, "drmContent") && !strings.HasPrefix(re.Field, "drmList") && !strings.HasPrefix(re.Field, "scheduledKey") {
				t.Fatalf("validation error names no request field: %+v", re)
			}
			return
		}
		// Accepted: a content id XML and HLS can carry, known outputs.
		if kr.ContentID == "" || len(kr.ContentID) > issuer.MaxContentIDBytes || !utf8.ValidString(kr.ContentID) {
			t.Fatalf("accepted content id %q", kr.ContentID)
		}
		for _, r := range kr.ContentID {
			if r < 0x20 || r == 0x7f || r == utf8.RuneError && !bytes.Contains(body, []byte("\uFFFD")) && !bytes.Contains(bytes.ToLower(body), []byte(`\ufffd`)) {
				t.Fatalf("accepted content id %q", kr.ContentID)
			}
		}
		if len(kr.Outputs) == 0 {
			t.Fatal("accepted request with no signaling output")
		}
	})
}

// FuzzDecode16 checks the base64 decoding of supplied keys and IVs against
// the standard library: exactly the 24-character standard padded base64 of
// 16 bytes is accepted, decoded the same, and nothing panics.
func FuzzDecode16(f *testing.F) {
	for _, s := range []string{"AAECAwQFBgcICQoLDA0ODw==", "AAECAwQFBgcICQoLDA0ODxA=", "AAECAwQFBgcICQoL\nDA0ODw=",
		"AAECAwQFBgcICQoLDA0ODx==", "-_-_-_-_-_-_-_-_-_-_-w==", "AAECAwQFBgcICQoLDA0ODwAA", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var got [16]byte
		err := decode16(got[:], s)
		want, werr := base64.StdEncoding.Strict().DecodeString(s)
		ok := werr == nil && len(want) == 16 && len(s) == 24
		if ok != (err == nil) {
			t.Fatalf("decode16(%q): %v; standard library: %d bytes, %v", s, err, len(want), werr)
		}
		if ok && !bytes.Equal(got[:], want) {
			t.Fatalf("decode16(%q) = %x, want %x", s, got, want)
		}
		if err != nil && len(s) >= 8 && strings.Contains(err.Error(), s) {
			t.Fatalf("error %q echoes the input", err)
		}
	})
}

// fuzzKey is the signing key of FuzzAuthenticate's one credential.
var fuzzKey = []byte("0123456789abcdef0123456789abcdef")

func fuzzToken(header, payload string) string {
	signing := base64.RawURLEncoding.EncodeToString([]byte(header)) + "." + base64.RawURLEncoding.EncodeToString([]byte(payload))
	mac := hmac.New(sha256.New, fuzzKey)
	mac.Write([]byte(signing))
	return signing + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// FuzzAuthenticate feeds arbitrary nv-authorizations values to the token
// check. It must not panic; a refusal is UNAUTHENTICATED or
// PERMISSION_DENIED naming the header and never echoes the signing key;
// an acceptance needs an AuthN token whose HS256 signature verifies under
// the credential's key (checked here independently of the JWT library).
func FuzzAuthenticate(f *testing.F) {
	exp := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	valid := fuzzToken(`{"kid":"cred-1","typ":"JWT","alg":"HS256"}`, fmt.Sprintf(`{"ver":"1.0","typ":"AuthN","exp":%d}`, exp))
	f.Add(valid)
	f.Add(valid + ", " + fuzzToken(`{"alg":"HS256"}`, `{"typ":"AuthZ"}`))
	f.Add(fuzzToken(`{"kid":"cred-1","typ":"JWT","alg":"none"}`, `{"ver":"1.0","typ":"AuthN","exp":1}`))
	f.Add(fuzzToken(`{"kid":"cred-1","alg":"HS256"}`, `{"ver":"1.0","typ":"AuthN","exp":1e99}`))
	f.Add("Bearer " + valid)
	f.Add("")
	f.Add("a.b.c")
	au := newAuthenticator(Auth{Required: true, Credentials: []Credential{{ID: "cred-1", Tenant: "NAG0000", SigningKey: fuzzKey, Privileges: []string{PrivilegeCKM}}}},
		func() time.Time { return time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC) })
	f.Fuzz(func(t *testing.T, value string) {
		cred, _, err := au.authenticate([]string{value})
		if err != nil {
			var re *requestError
			if !errors.As(err, &re) || (re.Reason != keyserverv1.Status_UNAUTHENTICATED && re.Reason != keyserverv1.Status_PERMISSION_DENIED) ||
				re.Field != headerAuthorization || re.Msg == "" {
				t.Fatalf("refusal %T %v", err, err)
			}
			if strings.Contains(err.Error(), string(fuzzKey)) {
				t.Fatal("refusal echoes the signing key")
			}
			return
		}
		if cred == nil || cred.ID != "cred-1" {
			t.Fatalf("accepted without the credential: %+v", cred)
		}
		if !someSignatureVerifies(value) {
			t.Fatalf("accepted %q without a valid HS256 signature", value)
		}
	})
}

// someSignatureVerifies reports whether a comma-separated value holds a
// JWT whose signature is the HMAC-SHA256 of its first two parts.
func someSignatureVerifies(value string) bool {
	for tok := range strings.SplitSeq(value, ",") {
		parts := strings.Split(strings.TrimSpace(tok), ".")
		if len(parts) != 3 {
			continue
		}
		sig, err := base64.RawURLEncoding.DecodeString(parts[2])
		if err != nil {
			continue
		}
		mac := hmac.New(sha256.New, fuzzKey)
		mac.Write([]byte(parts[0] + "." + parts[1]))
		if hmac.Equal(sig, mac.Sum(nil)) {
			return true
		}
	}
	return false
}
