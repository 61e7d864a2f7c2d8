package app_test

import (
	"net/http"
	"strings"
	"testing"
)

// TestREST_Dialects sends raw JSON the way packagers write it.
func TestREST_Dialects(t *testing.T) {
	env, _ := start(t)
	ok := []struct{ name, body string }{
		{"unknown fields ignored", `{"drmContent":{"drmContentId":"d1","profile":{"distributionMode":"VOD","cryptoPeriod":5},"vendorExtra":{"a":1}},"drmList":["WV"],"extra":true}`},
		{"mixed-case modes", `{"drmContent":{"drmContentId":"d2","profile":{"distributionMode":"Live","streamingMode":"dash"}},"drmList":["WV"]}`},
		{"empty streaming mode", `{"drmContent":{"drmContentId":"d3","profile":{"distributionMode":"VOD","streamingMode":""}}}`},
		{"emi as hex string", `{"drmContent":{"drmContentId":"d4","profile":{"distributionMode":"VOD","emi":"0x402A"}}}`},
		{"emi as decimal string", `{"drmContent":{"drmContentId":"d5","profile":{"distributionMode":"VOD","emi":"16426"}}}`},
		{"drmList of objects", `{"drmContent":{"drmContentId":"d6","profile":{"distributionMode":"VOD"}},"drmList":{"drm":[{"drmSystemId":"edef8ba9-79d6-4ace-a3c8-27dcd51d21ed","drmName":"WideVine"}]}}`},
		{"proto field names", `{"drm_content":{"drm_content_id":"d7","profile":{"distribution_mode":"VOD"}}}`},
	}
	for _, tt := range ok {
		t.Run(tt.name, func(t *testing.T) {
			mustOK(t, postJSON(t, env, "NAG0000", tt.body, nil))
		})
	}
	bad := []struct{ name, body, reason, field string }{
		{"unknown distribution mode", `{"drmContent":{"drmContentId":"x","profile":{"distributionMode":"SMOOTH"}}}`, "UNDEFINED_DISTRIBUTION_MODE", "distributionMode"},
		{"unknown streaming mode", `{"drmContent":{"drmContentId":"x","profile":{"distributionMode":"VOD","streamingMode":"SMOOTH"}}}`, "UNDEFINED_STREAMING_MODE", "streamingMode"},
		{"emi garbage", `{"drmContent":{"drmContentId":"x","profile":{"distributionMode":"VOD","emi":"cbcs"}}}`, "UNDEFINED_ENCRYPTION_METHOD", "emi"},
		{"content id number", `{"drmContent":{"drmContentId":5,"profile":{"distributionMode":"VOD"}}}`, "INVALID_REQUEST", "drmContentId"},
		{"not json", `{"drmContent":`, "INVALID_REQUEST", "JSON"},
		{"empty body", ``, "INVALID_REQUEST", "drmContent"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			r := postJSON(t, env, "NAG0000", tt.body, nil)
			if r.reason != tt.reason || r.httpCode != http.StatusBadRequest {
				t.Fatalf("got %s / HTTP %d (%s), want %s / 400", r.reason, r.httpCode, r.msg, tt.reason)
			}
			if !strings.Contains(r.msg, tt.field) {
				t.Errorf("message %q does not name %s", r.msg, tt.field)
			}
		})
	}
	// Default-tenant route and the explicit route reach the same key space.
	a := mustOK(t, postJSON(t, env, "", `{"drmContent":{"drmContentId":"same","profile":{"distributionMode":"VOD"}}}`, nil))
	b := mustOK(t, postJSON(t, env, "NAG0000", `{"drmContent":{"drmContentId":"same","profile":{"distributionMode":"VOD"}}}`, nil))
	if a.GetContentKey().GetKeyId() != b.GetContentKey().GetKeyId() {
		t.Errorf("default-tenant route gave key %s, tenant route %s", a.GetContentKey().GetKeyId(), b.GetContentKey().GetKeyId())
	}
	// Bad tenant in the path.
	r := postJSON(t, env, "bad.tenant", `{"drmContent":{"drmContentId":"x","profile":{"distributionMode":"VOD"}}}`, nil)
	if r.reason != "INVALID_REQUEST" || !strings.Contains(r.msg, "tenantId") {
		t.Errorf("bad tenant: %s %s", r.reason, r.msg)
	}
}

func TestREST_HealthAndCorrelation(t *testing.T) {
	env, _ := start(t)
	res, err := env.HTTP.Get(env.HTTPURL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Errorf("/healthz: %d", res.StatusCode)
	}
	body := `{"drmContent":{"drmContentId":"c","profile":{"distributionMode":"VOD"}}}`
	r := postJSON(t, env, "NAG0000", body, http.Header{"X-Correlation-Id": {"abc-123"}})
	if got := r.header.Get("X-Correlation-Id"); got != "abc-123" {
		t.Errorf("echoed correlation id %q", got)
	}
	r = postJSON(t, env, "NAG0000", body, nil)
	if got := r.header.Get("X-Correlation-Id"); len(got) != 36 {
		t.Errorf("generated correlation id %q is not a UUID", got)
	}
	r = postJSON(t, env, "NAG0000", body, http.Header{"X-Correlation-Id": {strings.Repeat("x", 69)}})
	if r.reason != "INVALID_REQUEST" || r.httpCode != 400 {
		t.Errorf("oversize correlation id: %s %d", r.reason, r.httpCode)
	}
}
