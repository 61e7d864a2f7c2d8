package app_test

import (
	"bytes"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/keyserver/keyserver/app"
)

// TestKeyRoute_AnswersAsTheGeneratedHandler sends a corpus of REST key
// requests twice to a real server: as they are, which keyRoute serves,
// and with a Grpc-Timeout header, which keyRoute hands to grpc-gateway's
// generated handler (the timeout is years, so it changes nothing else).
// Both answers must be the same, status, headers and body.
func TestKeyRoute_AnswersAsTheGeneratedHandler(t *testing.T) {
	f := startAuth(t, true, func(c *app.Config) { c.Limits.MaxBodyBytes = 1 << 10 })
	tokA, tokB := f.tokenA(), f.tokenB()
	const vod = `{"drmContent":{"drmContentId":"d1","profile":{"distributionMode":"VOD"}}}`
	cases := []struct {
		name, path, token, body string
		hdr                     http.Header
		want                    int // HTTP status
	}{
		{"vod", "/NAG0000/ckm/v1/keyAndSignalization", tokA, vod, nil, 200},
		{"vod again", "/NAG0000/ckm/v1/keyAndSignalization", tokA, vod, nil, 200},
		{"default tenant", "/ckm/v1/keyAndSignalization", tokA, vod, nil, 200},
		{"live dash, two drms", "/NAG0000/ckm/v1/keyAndSignalization", tokA, `{"drmContent":{"drmContentId":"l1","profile":{"distributionMode":"LIVE","streamingMode":"DASH"}},"drmList":["WV","PR"]}`, nil, 200},
		{"live hls", "/NAG0000/ckm/v1/keyAndSignalization", tokA, `{"drmContent":{"drmContentId":"l2","profile":{"distributionMode":"LIVE","streamingMode":"HLS"}}}`, nil, 200},
		{"scheduled key", "/NAG0000/ckm/v1/keyAndSignalization", tokA, `{"drmContent":{"drmContentId":"l3","profile":{"distributionMode":"LIVE"}},"scheduledKey":{"time":"2026-11-24T10:00:30Z"}}`, nil, 200},
		{"tenant in body, default route", "/ckm/v1/keyAndSignalization", tokA, `{"tenantId":"NAG0001","drmContent":{"drmContentId":"b1","profile":{"distributionMode":"VOD"}}}`, nil, 400},
		{"default tenant in body, default route", "/ckm/v1/keyAndSignalization", tokA, `{"tenantId":"NAG0000","drmContent":{"drmContentId":"b1","profile":{"distributionMode":"VOD"}}}`, nil, 200},
		{"non-ASCII token value", "/NAG0000/ckm/v1/keyAndSignalization", tokA + ",\xc3\xa9", vod, nil, 401},
		{"path tenant wins over body", "/NAG0000/ckm/v1/keyAndSignalization", tokA, `{"tenantId":"NAG0001","drmContent":{"drmContentId":"b2","profile":{"distributionMode":"VOD"}}}`, nil, 200},
		{"escaped tenant", "/NAG%30000/ckm/v1/keyAndSignalization", tokA, vod, nil, 200},
		{"escaped slash in tenant", "/NAG%2F0000/ckm/v1/keyAndSignalization", tokA, vod, nil, 404},
		{"dialects", "/NAG0000/ckm/v1/keyAndSignalization", tokA, `{"drm_content":{"drm_content_id":"x1","profile":{"distribution_mode":"live","streamingMode":"","emi":"0x402A"}},"drmList":{"drm":{"drmSystemId":"edef8ba9-79d6-4ace-a3c8-27dcd51d21ed"}},"extra":1}`, nil, 200},
		{"unknown mode", "/NAG0000/ckm/v1/keyAndSignalization", tokA, `{"drmContent":{"drmContentId":"x","profile":{"distributionMode":"SMOOTH"}}}`, nil, 400},
		{"not json", "/NAG0000/ckm/v1/keyAndSignalization", tokA, `{"drmContent":`, nil, 400},
		{"wrong type", "/NAG0000/ckm/v1/keyAndSignalization", tokA, `{"drmContent":{"drmContentId":5}}`, nil, 400},
		{"empty body", "/NAG0000/ckm/v1/keyAndSignalization", tokA, ``, nil, 400},
		{"body too large", "/NAG0000/ckm/v1/keyAndSignalization", tokA, `{"drmContent":{"drmContentId":"` + strings.Repeat("a", 2<<10) + `"}}`, nil, 413},
		{"content id too long", "/NAG0000/ckm/v1/keyAndSignalization", tokA, `{"drmContent":{"drmContentId":"` + strings.Repeat("a", 300) + `","profile":{"distributionMode":"VOD"}}}`, nil, 400},
		{"unknown drm", "/NAG0000/ckm/v1/keyAndSignalization", tokA, `{"drmContent":{"drmContentId":"x","profile":{"distributionMode":"VOD"}},"drmList":["NOPE"]}`, nil, 400},
		{"bad tenant", "/bad.tenant/ckm/v1/keyAndSignalization", tokA, vod, nil, 403},
		{"other tenant's token", "/NAG0001/ckm/v1/keyAndSignalization", tokA, vod, nil, 403},
		{"no token", "/NAG0000/ckm/v1/keyAndSignalization", "", vod, nil, 401},
		{"two tokens", "/NAG0000/ckm/v1/keyAndSignalization", tokA, vod, http.Header{"Nv-Authorizations": {tokB}}, 401},
		{"non-ASCII correlation id", "/NAG0000/ckm/v1/keyAndSignalization", tokA, vod, http.Header{"X-Correlation-Id": {"caf\xc3\xa9"}}, 200},
		{"accept and content type", "/NAG0000/ckm/v1/keyAndSignalization", tokA, vod, http.Header{"Accept": {"application/xml"}, "Content-Type": {"text/plain"}}, 200},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			send := func(extra http.Header) (int, http.Header, []byte) {
				t.Helper()
				hr, err := http.NewRequest(http.MethodPost, f.env.HTTPURL+tc.path, strings.NewReader(tc.body))
				if err != nil {
					t.Fatal(err)
				}
				hr.Header.Set("Content-Type", "application/json")
				hr.Header.Set("X-Correlation-Id", "corr-1")
				if tc.token != "" {
					hr.Header.Set("Nv-Authorizations", tc.token)
				}
				for _, h := range []http.Header{tc.hdr, extra} {
					for k, v := range h {
						hr.Header[k] = append(hr.Header[k], v...)
					}
				}
				if v := tc.hdr["X-Correlation-Id"]; v != nil {
					hr.Header["X-Correlation-Id"] = v
				}
				res, err := f.env.HTTP.Do(hr)
				if err != nil {
					t.Fatal(err)
				}
				defer res.Body.Close()
				b, err := io.ReadAll(res.Body)
				if err != nil {
					t.Fatal(err)
				}
				res.Header.Del("Date")
				return res.StatusCode, res.Header, b
			}
			code, hdr, body := send(nil)
			if code != tc.want {
				t.Errorf("HTTP %d %.200s, want %d", code, body, tc.want)
			}
			refCode, refHdr, refBody := send(http.Header{"Grpc-Timeout": {"99999999S"}})
			if code != refCode || !bytes.Equal(body, refBody) {
				t.Errorf("keyRoute: HTTP %d %s\ngenerated handler: HTTP %d %s", code, body, refCode, refBody)
			}
			if !equalHeaders(hdr, refHdr) {
				t.Errorf("keyRoute headers %v, generated handler's %v", hdr, refHdr)
			}
		})
	}
}

func equalHeaders(a, b http.Header) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !slices.Equal(v, b[k]) {
			return false
		}
	}
	return true
}
