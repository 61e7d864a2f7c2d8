package app_test

import (
	"net/http"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"

	keyserverv1 "github.com/keyserver/keyserver/gen/keyserver/v1"
)

const (
	wv  = "edef8ba9-79d6-4ace-a3c8-27dcd51d21ed"
	pr  = "9a04f079-9840-4286-ab92-e65be0885f95"
	fps = "94ce86fb-07ff-4f43-adb8-93d2fa968ca2"
	prm = "adb41c24-2dbf-4a6d-958b-4457c0d27b95"
)

// entries renders a response's signaling as "dash:<system>" / "hls:<system>".
func entries(resp *keyserverv1.GetKeyAndSignalizationResponse) []string {
	var out []string
	for _, s := range resp.GetDrmSignalization() {
		switch {
		case s.GetDash() != nil:
			out = append(out, "dash:"+s.GetDash().GetDrmSystemId())
		case s.GetHls() != nil:
			out = append(out, "hls:"+s.GetHls().GetDrmSystemId())
		default:
			out = append(out, "empty")
		}
	}
	return out
}

func u32(v uint32) *uint32 { return &v }

// TestMatrix walks every row of api.md's streaming-mode × EMI × drmList
// matrix over real gRPC and REST.
func TestMatrix(t *testing.T) {
	env, _ := start(t)
	const (
		none = keyserverv1.StreamingMode_STREAMING_MODE_UNSPECIFIED
		hls  = keyserverv1.StreamingMode_HLS
		dash = keyserverv1.StreamingMode_DASH
	)
	tests := []struct {
		name string
		mode keyserverv1.StreamingMode
		emi  *uint32
		drms []string
		want []string
	}{
		{"empty/empty", none, nil, nil, []string{"dash:" + pr, "dash:" + prm, "dash:" + wv, "hls:" + fps, "hls:" + prm, "hls:" + wv}},
		{"empty/emi/empty", none, u32(16426), nil, []string{"dash:" + pr, "dash:" + prm, "dash:" + wv, "hls:" + fps, "hls:" + prm, "hls:" + wv}},
		{"empty/subset", none, nil, []string{"WV", "PR"}, []string{"dash:" + wv, "hls:" + wv, "dash:" + pr}},
		{"empty/subset/fps-prm", none, u32(16426), []string{"fps", "Prm"}, []string{"hls:" + fps, "dash:" + prm, "hls:" + prm}},
		{"empty/long-names", none, nil, []string{"FAIRPLAY", "playready", "Widevine"}, []string{"hls:" + fps, "dash:" + pr, "dash:" + wv, "hls:" + wv}},
		{"empty/uuids", none, nil, []string{strings.ToUpper(prm), wv}, []string{"dash:" + prm, "hls:" + prm, "dash:" + wv, "hls:" + wv}},
		{"hls/empty", hls, nil, nil, []string{"hls:" + fps, "hls:" + prm, "hls:" + wv}},
		{"hls/emi/empty", hls, u32(16426), nil, []string{"hls:" + fps, "hls:" + prm, "hls:" + wv}},
		{"hls/subset", hls, nil, []string{"WV", "FPS"}, []string{"hls:" + wv, "hls:" + fps}},
		{"hls/prm", hls, u32(16426), []string{"PRM"}, []string{"hls:" + prm}},
		{"dash/empty", dash, nil, nil, []string{"dash:" + prm, "dash:" + pr, "dash:" + wv}},
		{"dash/emi/empty", dash, u32(16426), nil, []string{"dash:" + prm, "dash:" + pr, "dash:" + wv}},
		{"dash/subset", dash, nil, []string{"PR", "WV"}, []string{"dash:" + pr, "dash:" + wv}},
		{"dash/prm", dash, nil, []string{"prm"}, []string{"dash:" + prm}},
	}
	for _, tr := range transports {
		for i, tt := range tests {
			t.Run(tr.name+"/"+tt.name, func(t *testing.T) {
				req := newReq("matrix-"+tr.name+"-"+string(rune('a'+i)), keyserverv1.DistributionMode_VOD, tt.mode, tt.drms...)
				req.DrmContent.Profile.Emi = tt.emi
				resp := mustOK(t, tr.call(t, env, "NAG0000", req))
				got := entries(resp)
				if strings.Join(got, ",") != strings.Join(tt.want, ",") {
					t.Errorf("signaling\n got %v\nwant %v", got, tt.want)
				}
				ck := resp.GetContentKey()
				if ck.GetKeyId() == "" || ck.GetKey() == "" || ck.GetIv() == "" {
					t.Errorf("contentKey incomplete: keyId=%q key set=%v iv=%q", ck.GetKeyId(), ck.GetKey() != "", ck.GetIv())
				}
			})
		}
	}
}

// TestRejections checks each rejection's status, gRPC code and HTTP code,
// and that nothing was stored.
func TestRejections(t *testing.T) {
	env, _ := start(t)
	const (
		none = keyserverv1.StreamingMode_STREAMING_MODE_UNSPECIFIED
		hls  = keyserverv1.StreamingMode_HLS
		dash = keyserverv1.StreamingMode_DASH
		vod  = keyserverv1.DistributionMode_VOD
	)
	tests := []struct {
		name   string
		req    *keyserverv1.GetKeyAndSignalizationRequest
		reason string
		code   codes.Code
		field  string // must appear in the message
	}{
		{"PR with HLS", newReq("rej", vod, hls, "PR"), "UNDEFINED_DRM_SYSTEM_ID", codes.InvalidArgument, "drmList[0]"},
		{"FPS with DASH", newReq("rej", vod, dash, "WV", "FPS"), "UNDEFINED_DRM_SYSTEM_ID", codes.InvalidArgument, "drmList[1]"},
		{"unknown DRM name", newReq("rej", vod, none, "CLEARKEY"), "UNDEFINED_DRM_SYSTEM_ID", codes.InvalidArgument, "drmList[0]"},
		{"unknown DRM uuid", newReq("rej", vod, none, "1077efec-c0b2-4d02-ace3-3c1e52e2fb4b"), "UNDEFINED_DRM_SYSTEM_ID", codes.InvalidArgument, "drmList[0]"},
		{"duplicate DRM", newReq("rej", vod, none, "WV", "wv"), "INVALID_REQUEST", codes.InvalidArgument, "drmList[1]"},
		{"EMI cenc", func() *keyserverv1.GetKeyAndSignalizationRequest {
			r := newReq("rej", vod, none)
			r.DrmContent.Profile.Emi = u32(16420)
			return r
		}(), "UNDEFINED_ENCRYPTION_METHOD", codes.InvalidArgument, "drmContent.profile.emi"},
		{"EMI zero", func() *keyserverv1.GetKeyAndSignalizationRequest {
			r := newReq("rej", vod, none)
			r.DrmContent.Profile.Emi = u32(0)
			return r
		}(), "UNDEFINED_ENCRYPTION_METHOD", codes.InvalidArgument, "drmContent.profile.emi"},
		{"unknown streaming mode", newReq("rej", vod, keyserverv1.StreamingMode(7)), "UNDEFINED_STREAMING_MODE", codes.InvalidArgument, "drmContent.profile.streamingMode"},
		{"unknown distribution mode", newReq("rej", keyserverv1.DistributionMode(9), none), "UNDEFINED_DISTRIBUTION_MODE", codes.InvalidArgument, "drmContent.profile.distributionMode"},
		{"missing distribution mode", newReq("rej", keyserverv1.DistributionMode_DISTRIBUTION_MODE_UNSPECIFIED, none), "UNDEFINED_DISTRIBUTION_MODE", codes.InvalidArgument, "drmContent.profile.distributionMode"},
		{"missing content id", newReq("", vod, none), "INVALID_REQUEST", codes.InvalidArgument, "drmContent.drmContentId"},
		{"missing drmContent", &keyserverv1.GetKeyAndSignalizationRequest{}, "INVALID_REQUEST", codes.InvalidArgument, "drmContent"},
		{"content id too long", newReq(strings.Repeat("x", 257), vod, none), "INVALID_REQUEST", codes.InvalidArgument, "drmContent.drmContentId"},
		{"content id newline", newReq("a\nb", vod, none), "INVALID_REQUEST", codes.InvalidArgument, "drmContent.drmContentId"},
		{"bad time", func() *keyserverv1.GetKeyAndSignalizationRequest {
			r := newReq("rej", keyserverv1.DistributionMode_LIVE, none)
			r.ScheduledKey = &keyserverv1.ScheduledKey{Time: "yesterday"}
			return r
		}(), "INVALID_REQUEST", codes.InvalidArgument, "scheduledKey.time"},
		{"beyond horizon", withTime(newReq("rej", keyserverv1.DistributionMode_LIVE, none), t0.Add(8*24*3600e9)), "INVALID_REQUEST", codes.InvalidArgument, "scheduledKey.time"},
	}
	for _, tr := range transports {
		for _, tt := range tests {
			t.Run(tr.name+"/"+tt.name, func(t *testing.T) {
				r := tr.call(t, env, "NAG0000", tt.req)
				if r.reason != tt.reason {
					t.Fatalf("status %s, want %s (%s)", r.reason, tt.reason, r.msg)
				}
				if tr.name == "grpc" && r.code != tt.code {
					t.Errorf("gRPC code %v, want %v", r.code, tt.code)
				}
				if tr.name == "rest" && r.httpCode != http.StatusBadRequest {
					t.Errorf("HTTP %d, want 400", r.httpCode)
				}
				if !strings.Contains(r.msg, tt.field) {
					t.Errorf("message %q does not name %s", r.msg, tt.field)
				}
			})
		}
	}
	assertStoreEmpty(t, env, "NAG0000")
}
