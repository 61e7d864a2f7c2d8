package app_test

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/keyserver/keyserver/app/apptest"
	keyserverv1 "github.com/keyserver/keyserver/gen/keyserver/v1"
)

// badCase is one malformed or hostile request of the catalogue. A case
// with req runs over both transports (gRPC with tenant as tenantId, REST
// as protojson on the tenant's route); a case with body is raw REST only.
type badCase struct {
	name   string
	req    *keyserverv1.GetKeyAndSignalizationRequest
	tenant string // "" = the default tenant
	body   string
	ctype  string      // REST Content-Type; "" = application/json
	hdr    http.Header // extra REST headers / gRPC metadata
	reason string      // API status
	http   int         // REST code; 0 = the one of reason's gRPC code
	field  string      // the message must contain it
	// defaultRoute sends a body case to POST /ckm/v1/keyAndSignalization.
	defaultRoute bool
}

const (
	vod  = keyserverv1.DistributionMode_VOD
	live = keyserverv1.DistributionMode_LIVE
	hlsM = keyserverv1.StreamingMode_HLS
	dash = keyserverv1.StreamingMode_DASH
)

func withKey(r *keyserverv1.GetKeyAndSignalizationRequest, kid, key, iv string) *keyserverv1.GetKeyAndSignalizationRequest {
	if r.ScheduledKey == nil {
		r.ScheduledKey = &keyserverv1.ScheduledKey{}
	}
	r.ScheduledKey.ContentKey = &keyserverv1.ContentKey{KeyId: kid, Key: key, Iv: iv}
	return r
}

func withRawTime(r *keyserverv1.GetKeyAndSignalizationRequest, s string) *keyserverv1.GetKeyAndSignalizationRequest {
	r.ScheduledKey = &keyserverv1.ScheduledKey{Time: s}
	return r
}

func withEMI(r *keyserverv1.GetKeyAndSignalizationRequest, emi uint32) *keyserverv1.GetKeyAndSignalizationRequest {
	r.DrmContent.Profile.Emi = &emi
	return r
}

func nest(depth int, inner string) string {
	return strings.Repeat("[", depth) + inner + strings.Repeat("]", depth)
}

// catalogue is the bad-input catalogue: what a hostile or broken client
// may send, and the documented answer (api.md "Status values and errors").
func catalogue() []badCase {
	const (
		kid   = "5b1a1f4e-2c3d-4e5f-8a9b-0c1d2e3f4a5b"
		key16 = "AAECAwQFBgcICQoLDA0ODw==" // 16 bytes
		ok    = `"profile":{"distributionMode":"VOD"}`
	)
	big := strings.Repeat("x", 10000)
	cs := []badCase{
		// Structure and required fields.
		{name: "no drmContent", req: &keyserverv1.GetKeyAndSignalizationRequest{}, reason: "INVALID_REQUEST", field: "drmContent"},
		{name: "empty content id", req: newReq("", vod, 0), reason: "INVALID_REQUEST", field: "drmContent.drmContentId"},
		{name: "content id 257 bytes", req: newReq(strings.Repeat("a", 257), vod, 0), reason: "INVALID_REQUEST", field: "drmContent.drmContentId"},
		{name: "content id 10 kB", req: newReq(big, vod, 0), reason: "INVALID_REQUEST", field: "drmContent.drmContentId"},
		{name: "content id 256 bytes of which the last rune is cut", req: newReq(strings.Repeat("é", 128)+"x", vod, 0), reason: "INVALID_REQUEST", field: "drmContent.drmContentId"},
		// XML/HLS metacharacters are fine (escaped: TestHostileContentIDs);
		// line breaks and controls are refused.
		{name: "content id with newline", req: newReq("a\nb", vod, 0), reason: "INVALID_REQUEST", field: "drmContent.drmContentId"},
		{name: "content id with CR LF and EXT-X-KEY", req: newReq("x\r\n#EXT-X-KEY:METHOD=NONE", vod, hlsM), reason: "INVALID_REQUEST", field: "drmContent.drmContentId"},
		{name: "content id with NUL", req: newReq("a\x00b", vod, 0), reason: "INVALID_REQUEST", field: "drmContent.drmContentId"},
		{name: "content id with tab", req: newReq("a\tb", vod, 0), reason: "INVALID_REQUEST", field: "drmContent.drmContentId"},
		{name: "content id with DEL", req: newReq("a\x7fb", vod, 0), reason: "INVALID_REQUEST", field: "drmContent.drmContentId"},
		{name: "content id with C1 NEL", req: newReq("a\u0085b", vod, 0), reason: "INVALID_REQUEST", field: "drmContent.drmContentId"},
		{name: "content id with U+FFFE", req: newReq("a\ufffeb", vod, 0), reason: "INVALID_REQUEST", field: "drmContent.drmContentId"},
		{name: "XML markup plus a newline", req: newReq("</cenc:pssh>\n<x>", vod, dash), reason: "INVALID_REQUEST", field: "drmContent.drmContentId"},
		{name: "HLS attribute injection with newline", req: newReq("\",METHOD=NONE\n", vod, hlsM), reason: "INVALID_REQUEST", field: "drmContent.drmContentId"},

		// Modes and EMI.
		{name: "no distribution mode", req: newReq("c", 0, 0), reason: "UNDEFINED_DISTRIBUTION_MODE", field: "drmContent.profile.distributionMode"},
		{name: "distribution mode out of range", req: newReq("c", 7, 0), reason: "UNDEFINED_DISTRIBUTION_MODE", field: "drmContent.profile.distributionMode"},
		{name: "streaming mode out of range", req: newReq("c", vod, 9), reason: "UNDEFINED_STREAMING_MODE", field: "drmContent.profile.streamingMode"},
		{name: "emi 0", req: withEMI(newReq("c", vod, 0), 0), reason: "UNDEFINED_ENCRYPTION_METHOD", field: "drmContent.profile.emi"},
		{name: "emi cenc 16420", req: withEMI(newReq("c", vod, 0), 16420), reason: "UNDEFINED_ENCRYPTION_METHOD", field: "drmContent.profile.emi"},
		{name: "emi max uint32", req: withEMI(newReq("c", vod, 0), 1<<32-1), reason: "UNDEFINED_ENCRYPTION_METHOD", field: "drmContent.profile.emi"},

		// DRM list.
		{name: "unknown DRM", req: newReq("c", vod, 0, "XX"), reason: "UNDEFINED_DRM_SYSTEM_ID", field: "drmList[0]"},
		{name: "empty DRM name", req: newReq("c", vod, 0, ""), reason: "UNDEFINED_DRM_SYSTEM_ID", field: "drmList[0]"},
		{name: "DRM name with newline", req: newReq("c", vod, 0, "WV\n"), reason: "UNDEFINED_DRM_SYSTEM_ID", field: "drmList[0]"},
		{name: "DRM name 10 kB", req: newReq("c", vod, 0, big), reason: "UNDEFINED_DRM_SYSTEM_ID", field: "drmList[0]"},
		{name: "DRM duplicated", req: newReq("c", vod, 0, "WV", "WV"), reason: "INVALID_REQUEST", field: "drmList[1]"},
		{name: "DRM duplicated in mixed case", req: newReq("c", vod, 0, "PR", "pR"), reason: "INVALID_REQUEST", field: "drmList[1]"},
		{name: "DRM duplicated as name and UUID", req: newReq("c", vod, 0, "WV", "EDEF8BA9-79D6-4ACE-A3C8-27DCD51D21ED"), reason: "INVALID_REQUEST", field: "drmList[1]"},
		{name: "DRM UUID with braces", req: newReq("c", vod, 0, "{edef8ba9-79d6-4ace-a3c8-27dcd51d21ed}"), reason: "UNDEFINED_DRM_SYSTEM_ID", field: "drmList[0]"},
		{name: "five DRMs", req: newReq("c", vod, 0, "WV", "PR", "FPS", "PRM", "WV"), reason: "INVALID_REQUEST", field: "drmList"},
		{name: "PR with HLS", req: newReq("c", vod, hlsM, "PR"), reason: "UNDEFINED_DRM_SYSTEM_ID", field: "drmList[0]"},
		{name: "FPS with DASH", req: newReq("c", vod, dash, "WV", "FPS"), reason: "UNDEFINED_DRM_SYSTEM_ID", field: "drmList[1]"},

		// Times.
		{name: "time not RFC 3339", req: withRawTime(newReq("c", live, 0), "yesterday"), reason: "INVALID_REQUEST", field: "scheduledKey.time"},
		{name: "time with a space", req: withRawTime(newReq("c", live, 0), "2026-11-24 10:00:00Z"), reason: "INVALID_REQUEST", field: "scheduledKey.time"},
		{name: "time without zone", req: withRawTime(newReq("c", live, 0), "2026-11-24T10:00:00"), reason: "INVALID_REQUEST", field: "scheduledKey.time"},
		{name: "time offset +25:00", req: withRawTime(newReq("c", live, 0), "2026-11-24T10:00:00+25:00"), reason: "INVALID_REQUEST", field: "scheduledKey.time"},
		{name: "time offset +24:00", req: withRawTime(newReq("c", live, 0), "2026-11-24T10:00:00+24:00"), reason: "INVALID_REQUEST", field: "scheduledKey.time"},
		{name: "time offset -24:00", req: withRawTime(newReq("c", live, 0), "2026-11-24T10:00:00-24:00"), reason: "INVALID_REQUEST", field: "scheduledKey.time"},
		{name: "time offset minutes 60", req: withRawTime(newReq("c", live, 0), "2026-11-24T10:00:00+01:60"), reason: "INVALID_REQUEST", field: "scheduledKey.time"},
		{name: "time year 10000", req: withRawTime(newReq("c", live, 0), "10000-01-01T00:00:00Z"), reason: "INVALID_REQUEST", field: "scheduledKey.time"},
		{name: "time as Unix seconds", req: withRawTime(newReq("c", live, 0), "1795000000"), reason: "INVALID_REQUEST", field: "scheduledKey.time"},
		{name: "time far future", req: withRawTime(newReq("c", live, 0), "9999-12-31T23:59:59Z"), reason: "INVALID_REQUEST", field: "scheduledKey.time"},
		{name: "time just beyond the horizon", req: withTime(newReq("c", live, 0), t0.Add(7*24*time.Hour+2*time.Hour)), reason: "INVALID_REQUEST", field: "scheduledKey.time"},
		{name: "time year 1", req: withRawTime(newReq("c", live, 0), "0001-01-01T00:00:00Z"), reason: "INVALID_REQUEST", field: "scheduledKey.time"},
		{name: "time one second before the epoch", req: withRawTime(newReq("c", live, 0), "1969-12-31T23:59:59Z"), reason: "INVALID_REQUEST", field: "scheduledKey.time"},

		// Supplied keys.
		{name: "key without key id", req: withKey(newReq("c", vod, 0), "", key16, ""), reason: "MISSING_KEY_ID", field: "scheduledKey.contentKey.keyId"},
		{name: "IV without key id", req: withKey(newReq("c", vod, 0), "", "", key16), reason: "MISSING_KEY_ID", field: "scheduledKey.contentKey.keyId"},
		{name: "key id without key", req: withKey(newReq("c", vod, 0), kid, "", ""), reason: "MISSING_CONTENT_KEY", field: "scheduledKey.contentKey.key"},
		{name: "key id not a UUID", req: withKey(newReq("c", vod, 0), "not-a-uuid", key16, ""), reason: "INVALID_REQUEST", field: "scheduledKey.contentKey.keyId"},
		{name: "key id without dashes", req: withKey(newReq("c", vod, 0), strings.ReplaceAll(kid, "-", ""), key16, ""), reason: "INVALID_REQUEST", field: "scheduledKey.contentKey.keyId"},
		{name: "key id with braces", req: withKey(newReq("c", vod, 0), "{"+kid+"}", key16, ""), reason: "INVALID_REQUEST", field: "scheduledKey.contentKey.keyId"},
		{name: "key id with non-hex", req: withKey(newReq("c", vod, 0), "5b1a1f4e-2c3d-4e5f-8a9b-0c1d2e3f4a5g", key16, ""), reason: "INVALID_REQUEST", field: "scheduledKey.contentKey.keyId"},
		{name: "key id all zero", req: withKey(newReq("c", vod, 0), "00000000-0000-0000-0000-000000000000", key16, ""), reason: "INVALID_REQUEST", field: "scheduledKey.contentKey.keyId"},
		{name: "key of 15 bytes", req: withKey(newReq("c", vod, 0), kid, "AAECAwQFBgcICQoLDA0O", ""), reason: "INVALID_REQUEST", field: "scheduledKey.contentKey.key"},
		{name: "key of 17 bytes", req: withKey(newReq("c", vod, 0), kid, "AAECAwQFBgcICQoLDA0ODxA=", ""), reason: "INVALID_REQUEST", field: "scheduledKey.contentKey.key"},
		{name: "key URL-safe base64", req: withKey(newReq("c", vod, 0), kid, "-_-_-_-_-_-_-_-_-_-_-w==", ""), reason: "INVALID_REQUEST", field: "scheduledKey.contentKey.key"},
		{name: "key unpadded", req: withKey(newReq("c", vod, 0), kid, "AAECAwQFBgcICQoLDA0ODw", ""), reason: "INVALID_REQUEST", field: "scheduledKey.contentKey.key"},
		{name: "key with a newline", req: withKey(newReq("c", vod, 0), kid, "AAECAwQFBgcICQoL\nDA0ODw=", ""), reason: "INVALID_REQUEST", field: "scheduledKey.contentKey.key"},
		{name: "key as hex", req: withKey(newReq("c", vod, 0), kid, "000102030405060708090a0b0c0d0e0f", ""), reason: "INVALID_REQUEST", field: "scheduledKey.contentKey.key"},
		{name: "key with non-canonical padding bits", req: withKey(newReq("c", vod, 0), kid, "AAECAwQFBgcICQoLDA0ODx==", ""), reason: "INVALID_REQUEST", field: "scheduledKey.contentKey.key"},
		{name: "IV of 8 bytes", req: withKey(newReq("c", vod, 0), kid, key16, "AAECAwQFBgc="), reason: "INVALID_REQUEST", field: "scheduledKey.contentKey.iv"},
		{name: "IV not base64", req: withKey(newReq("c", vod, 0), kid, key16, "!!!!!!!!!!!!!!!!!!!!!!!!"), reason: "INVALID_REQUEST", field: "scheduledKey.contentKey.iv"},

		// Tenants.
		{name: "tenant with a dot", req: newReq("c", vod, 0), tenant: "bad.tenant", reason: "INVALID_REQUEST", field: "tenantId"},
		{name: "tenant of 65 bytes", req: newReq("c", vod, 0), tenant: strings.Repeat("T", 65), reason: "INVALID_REQUEST", field: "tenantId"},
		{name: "tenant non-ASCII", req: newReq("c", vod, 0), tenant: "NAGé", reason: "INVALID_REQUEST", field: "tenantId"},

		// Correlation id.
		{name: "correlation id of 69 bytes", req: newReq("c", vod, 0), hdr: http.Header{"X-Correlation-Id": {strings.Repeat("x", 69)}}, reason: "INVALID_REQUEST", field: "x-correlation-id"},

		// Raw REST bodies: wrong types, broken JSON, hostile encodings.
		{name: "empty body", body: "", reason: "INVALID_REQUEST", field: "drmContent"},
		{name: "whitespace body", body: " \n\t ", reason: "INVALID_REQUEST", field: "drmContent"},
		{name: "null body", body: "null", reason: "INVALID_REQUEST", field: "request body"},
		{name: "array body", body: "[]", reason: "INVALID_REQUEST", field: "request body"},
		{name: "string body", body: `"drmContent"`, reason: "INVALID_REQUEST", field: "request body"},
		{name: "number body", body: "42", reason: "INVALID_REQUEST", field: "request body"},
		{name: "truncated JSON", body: `{"drmContent":{"drmContentId":"c",`, reason: "INVALID_REQUEST", field: "request body"},
		{name: "two JSON objects", body: `{"drmContent":{"drmContentId":"c",` + ok + `}} {"x":1}`, reason: "INVALID_REQUEST", field: "request body"},
		{name: "content id number", body: `{"drmContent":{"drmContentId":5,` + ok + `}}`, reason: "INVALID_REQUEST", field: "drmContentId"},
		{name: "content id object", body: `{"drmContent":{"drmContentId":{},` + ok + `}}`, reason: "INVALID_REQUEST", field: "drmContentId"},
		{name: "content id bool", body: `{"drmContent":{"drmContentId":true,` + ok + `}}`, reason: "INVALID_REQUEST", field: "drmContentId"},
		{name: "content id deep array", body: `{"drmContent":{"drmContentId":` + nest(5000, "1") + `,` + ok + `}}`, reason: "INVALID_REQUEST", field: "drmContentId"},
		{name: "deep JSON beyond 10000 levels", body: `{"x":` + nest(20000, "") + `,"drmContent":{"drmContentId":"c",` + ok + `}}`, reason: "INVALID_REQUEST", field: "x[0][0]"},
		{name: "drmContent a string", body: `{"drmContent":"c"}`, reason: "INVALID_REQUEST", field: "drmContent"},
		{name: "profile a list", body: `{"drmContent":{"drmContentId":"c","profile":["VOD"]}}`, reason: "INVALID_REQUEST", field: "profile"},
		{name: "distribution mode bool", body: `{"drmContent":{"drmContentId":"c","profile":{"distributionMode":true}}}`, reason: "UNDEFINED_DISTRIBUTION_MODE", field: "drmContent.profile.distributionMode"},
		{name: "distribution mode digit string", body: `{"drmContent":{"drmContentId":"c","profile":{"distributionMode":"1"}}}`, reason: "UNDEFINED_DISTRIBUTION_MODE", field: "drmContent.profile.distributionMode"},
		{name: "distribution mode with trailing space", body: `{"drmContent":{"drmContentId":"c","profile":{"distributionMode":"VOD "}}}`, reason: "UNDEFINED_DISTRIBUTION_MODE", field: "drmContent.profile.distributionMode"},
		{name: "streaming mode list", body: `{"drmContent":{"drmContentId":"c","profile":{"distributionMode":"VOD","streamingMode":["HLS"]}}}`, reason: "UNDEFINED_STREAMING_MODE", field: "drmContent.profile.streamingMode"},
		{name: "emi negative", body: `{"drmContent":{"drmContentId":"c","profile":{"distributionMode":"VOD","emi":-1}}}`, reason: "UNDEFINED_ENCRYPTION_METHOD", field: "drmContent.profile.emi"},
		{name: "emi fraction", body: `{"drmContent":{"drmContentId":"c","profile":{"distributionMode":"VOD","emi":16426.5}}}`, reason: "UNDEFINED_ENCRYPTION_METHOD", field: "drmContent.profile.emi"},
		{name: "emi bad hex", body: `{"drmContent":{"drmContentId":"c","profile":{"distributionMode":"VOD","emi":"0xZZ"}}}`, reason: "UNDEFINED_ENCRYPTION_METHOD", field: "drmContent.profile.emi"},
		{name: "emi octal prefix", body: `{"drmContent":{"drmContentId":"c","profile":{"distributionMode":"VOD","emi":"0o40052"}}}`, reason: "UNDEFINED_ENCRYPTION_METHOD", field: "drmContent.profile.emi"},
		{name: "emi binary prefix", body: `{"drmContent":{"drmContentId":"c","profile":{"distributionMode":"VOD","emi":"0b100000000101010"}}}`, reason: "UNDEFINED_ENCRYPTION_METHOD", field: "drmContent.profile.emi"},
		{name: "emi hex with separator", body: `{"drmContent":{"drmContentId":"c","profile":{"distributionMode":"VOD","emi":"0x40_2A"}}}`, reason: "UNDEFINED_ENCRYPTION_METHOD", field: "drmContent.profile.emi"},
		{name: "emi decimal with separator", body: `{"drmContent":{"drmContentId":"c","profile":{"distributionMode":"VOD","emi":"16_426"}}}`, reason: "UNDEFINED_ENCRYPTION_METHOD", field: "drmContent.profile.emi"},
		{name: "body tenant on the default route", body: `{"tenantId":"NAG0001","drmContent":{"drmContentId":"c",` + ok + `}}`, defaultRoute: true, reason: "INVALID_REQUEST", field: "tenantId"},
		{name: "body tenant_id on the default route", body: `{"tenant_id":"NAG0001","drmContent":{"drmContentId":"c",` + ok + `}}`, defaultRoute: true, reason: "INVALID_REQUEST", field: "tenantId"},
		{name: "token value with non-ASCII byte", body: `{"drmContent":{"drmContentId":"c",` + ok + `}}`, hdr: http.Header{"Nv-Authorizations": {"a.b.c,\xc3\xa9"}}, reason: "UNAUTHENTICATED", http: http.StatusUnauthorized, field: "nv-authorizations"},
		{name: "emi beyond uint32", body: `{"drmContent":{"drmContentId":"c","profile":{"distributionMode":"VOD","emi":99999999999}}}`, reason: "UNDEFINED_ENCRYPTION_METHOD", field: "drmContent.profile.emi"},
		{name: "drmList a string", body: `{"drmContent":{"drmContentId":"c",` + ok + `},"drmList":"WV"}`, reason: "INVALID_REQUEST", field: "drmList"},
		{name: "drmList of numbers", body: `{"drmContent":{"drmContentId":"c",` + ok + `},"drmList":[1]}`, reason: "INVALID_REQUEST", field: "drmList[0]"},
		{name: "drmList with null", body: `{"drmContent":{"drmContentId":"c",` + ok + `},"drmList":["WV",null]}`, reason: "INVALID_REQUEST", field: "drmList[1]"},
		{name: "drmList object without id", body: `{"drmContent":{"drmContentId":"c",` + ok + `},"drmList":[{"foo":1}]}`, reason: "INVALID_REQUEST", field: "drmList[0]"},
		{name: "drmList wrapper without drm", body: `{"drmContent":{"drmContentId":"c",` + ok + `},"drmList":{"x":["WV"]}}`, reason: "INVALID_REQUEST", field: "drmList"},
		{name: "scheduledKey a string", body: `{"drmContent":{"drmContentId":"c",` + ok + `},"scheduledKey":"now"}`, reason: "INVALID_REQUEST", field: "scheduledKey"},
		{name: "time a number", body: `{"drmContent":{"drmContentId":"c",` + ok + `},"scheduledKey":{"time":1795000000}}`, reason: "INVALID_REQUEST", field: "time"},
		{name: "key id a number", body: `{"drmContent":{"drmContentId":"c",` + ok + `},"scheduledKey":{"contentKey":{"keyId":1,"key":"` + key16 + `"}}}`, reason: "INVALID_REQUEST", field: "keyId"},
		{name: "invalid UTF-8 in content id", body: "{\"drmContent\":{\"drmContentId\":\"a\xff\xfeb\"," + ok + "}}", reason: "INVALID_REQUEST", field: "drmContent.drmContentId"},
		{name: "overlong UTF-8 slash in content id", body: "{\"drmContent\":{\"drmContentId\":\"a\xc0\xafb\"," + ok + "}}", reason: "INVALID_REQUEST", field: "drmContent.drmContentId"},
		{name: "invalid UTF-8 in an unknown field", body: "{\"vendor\":{\"note\":\"\xff\"},\"drmContent\":{\"drmContentId\":\"c\"," + ok + "}}", reason: "INVALID_REQUEST", field: "vendor.note"},
		{name: "lone surrogate escape in content id", body: `{"drmContent":{"drmContentId":"a\ud800b",` + ok + `}}`, reason: "INVALID_REQUEST", field: "drmContent.drmContentId"},
		{name: "escaped newline in content id", body: `{"drmContent":{"drmContentId":"a\nb",` + ok + `}}`, reason: "INVALID_REQUEST", field: "drmContent.drmContentId"},
		{name: "escaped NUL in content id", body: `{"drmContent":{"drmContentId":"a\u0000b",` + ok + `}}`, reason: "INVALID_REQUEST", field: "drmContent.drmContentId"},
		{name: "duplicated drmContent", body: `{"drmContent":{"drmContentId":"a",` + ok + `},"drmContent":{"drmContentId":"b",` + ok + `}}`, reason: "INVALID_REQUEST", field: "drmContent"},
		{name: "duplicated content id next to an unknown field", body: `{"x":1,"drmContent":{"drmContentId":"a","drmContentId":"b",` + ok + `}}`, reason: "INVALID_REQUEST", field: "drmContent.drmContentId"},
		{name: "JSON and proto names of one field", body: `{"drmContent":{"drmContentId":"a","drm_content_id":"b",` + ok + `}}`, reason: "INVALID_REQUEST", field: "drm"},
		{name: "body over the size limit", body: `{"drmContent":{"drmContentId":"c",` + ok + `},"pad":"` + strings.Repeat("p", 70<<10) + `"}`, reason: "INVALID_REQUEST", http: http.StatusRequestEntityTooLarge, field: "request body"},
		{name: "form-encoded body", body: "drmContentId=c&distributionMode=VOD", ctype: "application/x-www-form-urlencoded", reason: "INVALID_REQUEST", field: "request body"},
		{name: "XML body", body: `<request><drmContentId>c</drmContentId></request>`, ctype: "application/xml", reason: "INVALID_REQUEST", field: "request body"},
		{name: "UTF-16 body", body: "\xff\xfe{\x00}\x00", ctype: "application/json; charset=utf-16", reason: "INVALID_REQUEST", field: "request body"},
		{name: "byte order mark", body: "\xef\xbb\xbf{\"drmContent\":{\"drmContentId\":\"c\"," + ok + "}}", reason: "INVALID_REQUEST", field: "request body"},
	}
	return cs
}

// TestBadInputCatalogue sends every catalogue request over its transports
// and checks the status, the code, a message naming the field, and that
// the store file is byte-for-byte what it was.
func TestBadInputCatalogue(t *testing.T) {
	env, _ := start(t)
	// One stored key first, so the file is not just its initial pages.
	mustOK(t, callGRPC(t, env, "NAG0000", newReq("existing", vod, 0, "WV")))
	before, err := os.ReadFile(env.StorePath)
	if err != nil {
		t.Fatal(err)
	}
	runs := 0
	for _, c := range catalogue() {
		if c.req != nil {
			t.Run("grpc/"+c.name, func(t *testing.T) {
				runs++
				checkBad(t, c, catalogueGRPC(t, env, c))
			})
		}
		t.Run("rest/"+c.name, func(t *testing.T) {
			runs++
			checkBad(t, c, catalogueREST(t, env, c))
		})
	}
	t.Logf("%d catalogue cases, %d requests", len(catalogue()), runs)
	if n := len(catalogue()); n < 60 {
		t.Errorf("catalogue has %d cases, want at least 60", n)
	}
	after, err := os.ReadFile(env.StorePath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Error("the store file changed during the catalogue")
	}
	recs, err := env.Store.Records(context.Background(), "NAG0000")
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 {
		t.Errorf("the tenant holds %d records, want the 1 stored before the catalogue", len(recs))
	}
}

func catalogueGRPC(t *testing.T, env *apptest.Env, c badCase) result {
	t.Helper()
	req := cloneReq(c.req)
	req.TenantId = c.tenant
	if req.TenantId == "" {
		req.TenantId = "NAG0000"
	}
	ctx := context.Background()
	for k, v := range c.hdr {
		ctx = metadata.AppendToOutgoingContext(ctx, strings.ToLower(k), v[0])
	}
	resp, err := env.Client.GetKeyAndSignalization(ctx, req)
	if err == nil {
		return result{resp: resp, reason: resp.GetStatus().String()}
	}
	st := status.Convert(err)
	r := result{code: st.Code(), msg: st.Message()}
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			r.reason = info.Reason
		}
	}
	return r
}

func cloneReq(r *keyserverv1.GetKeyAndSignalizationRequest) *keyserverv1.GetKeyAndSignalizationRequest {
	return proto.Clone(r).(*keyserverv1.GetKeyAndSignalizationRequest)
}

func catalogueREST(t *testing.T, env *apptest.Env, c badCase) result {
	t.Helper()
	body := c.body
	if c.req != nil {
		b, err := protojson.Marshal(c.req)
		if err != nil {
			t.Fatal(err)
		}
		body = string(b)
	}
	tenant := c.tenant
	if tenant == "" && !c.defaultRoute {
		tenant = "NAG0000"
	}
	hdr := http.Header{}
	for k, v := range c.hdr {
		hdr[k] = v
	}
	if c.ctype != "" {
		hdr.Set("Content-Type", c.ctype)
	}
	return postJSON(t, env, tenant, body, hdr)
}

func checkBad(t *testing.T, c badCase, r result) {
	t.Helper()
	if r.reason != c.reason {
		t.Fatalf("status %s (%v, HTTP %d, %q), want %s", r.reason, r.code, r.httpCode, r.msg, c.reason)
	}
	if r.httpCode != 0 {
		want := c.http
		if want == 0 {
			want = httpCodeOf(c.reason)
		}
		if r.httpCode != want {
			t.Errorf("HTTP %d, want %d", r.httpCode, want)
		}
	} else if want := grpcCodeOf(c.reason); r.code != want {
		t.Errorf("gRPC code %v, want %v", r.code, want)
	}
	if !strings.Contains(r.msg, c.field) {
		t.Errorf("message %q does not name %q", r.msg, c.field)
	}
	if len(r.msg) > 400 {
		t.Errorf("message of %d bytes echoes too much input", len(r.msg))
	}
}

func grpcCodeOf(reason string) codes.Code {
	switch reason {
	case "KEY_CONFLICT":
		return codes.AlreadyExists
	case "UNAVALAIBLE_SERVICE":
		return codes.Unavailable
	case "INTERNAL_ERROR":
		return codes.Internal
	}
	return codes.InvalidArgument
}

func httpCodeOf(reason string) int {
	switch grpcCodeOf(reason) {
	case codes.AlreadyExists:
		return http.StatusConflict
	case codes.Unavailable:
		return http.StatusServiceUnavailable
	case codes.Internal:
		return http.StatusInternalServerError
	}
	return http.StatusBadRequest
}
