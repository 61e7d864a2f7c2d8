package app_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/keyserver/keyserver/app"
	"github.com/keyserver/keyserver/frontend/widevine"
	"github.com/keyserver/keyserver/internal/testkit"

	"github.com/keyserver/keyserver/app/apptest"
	"github.com/keyserver/keyserver/drm"
	"github.com/keyserver/keyserver/keystore"
	"github.com/keyserver/keyserver/signaling"
)

// wvInner is the inner response as a client reads it.
type wvInner struct {
	Status        string `json:"status"`
	StatusMessage string `json:"status_message"`
	Tracks        []struct {
		Type              string  `json:"type"`
		KeyID             []byte  `json:"key_id"`
		Key               []byte  `json:"key"`
		IV                []byte  `json:"iv"`
		CryptoPeriodIndex *uint32 `json:"crypto_period_index"`
		PSSH              []struct {
			DRMType string `json:"drm_type"`
			Data    []byte `json:"data"`
		} `json:"pssh"`
	} `json:"tracks"`
	ContentID []byte `json:"content_id"`
}

// wvPost posts an envelope and returns the inner response; the HTTP
// status must be 200 whatever the protocol status.
func wvPost(t *testing.T, env *apptest.Env, path string, envelope []byte) wvInner {
	t.Helper()
	return wvPostHdr(t, env, path, envelope, nil)
}

// wvPostHdr posts an envelope with request headers and returns the inner
// response; the HTTP status must be 200 whatever the protocol status.
func wvPostHdr(t *testing.T, env *apptest.Env, path string, envelope []byte, hdr http.Header) wvInner {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, env.HTTPURL+path, strings.NewReader(string(envelope)))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	res, err := env.HTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("HTTP %d (%s), want 200 with a protocol status", res.StatusCode, body)
	}
	return decodeWV(t, body)
}

// decodeWV decodes an answer's inner response.
func decodeWV(t *testing.T, body []byte) wvInner {
	t.Helper()
	var outer struct {
		Response string `json:"response"`
	}
	if err := json.Unmarshal(body, &outer); err != nil {
		t.Fatalf("outer response %s: %v", body, err)
	}
	innerJSON, err := base64.StdEncoding.DecodeString(outer.Response)
	if err != nil {
		t.Fatal(err)
	}
	var in wvInner
	if err := json.Unmarshal(innerJSON, &in); err != nil {
		t.Fatalf("inner response %s: %v", innerJSON, err)
	}
	return in
}

const wvTracks = `[{"type":"SD"},{"type":"HD"},{"type":"UHD1"},{"type":"UHD2"},{"type":"AUDIO"}]`

func wvVOD(contentID, scheme string) string {
	return `{"content_id":"` + base64.StdEncoding.EncodeToString([]byte(contentID)) + `","policy":"","tracks":` + wvTracks +
		`,"drm_types":["WIDEVINE"],"protection_scheme":"` + scheme + `"}`
}

func wvLive(contentID string, first, count, seconds int) string {
	return `{"content_id":"` + base64.StdEncoding.EncodeToString([]byte(contentID)) + `","policy":"","tracks":` + wvTracks +
		`,"drm_types":["WIDEVINE"],"first_crypto_period_index":` + itoa(first) + `,"crypto_period_count":` + itoa(count) +
		`,"crypto_period_seconds":` + itoa(seconds) + `,"protection_scheme":"CENC"}`
}

func itoa(i int) string { return strconv.Itoa(i) }

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func wvStart(t *testing.T, cfg app.Config) (*apptest.Env, *testkit.LogSink) {
	t.Helper()
	logs := &testkit.LogSink{}
	cfg.Logger = logs.JSONLogger()
	return apptest.Start(t, cfg), logs
}

func TestWidevineVODKeysPerTrackType(t *testing.T) {
	cred := apptest.NewAESCred("packager-1")
	env, logs := wvStart(t, app.Config{DefaultTenant: "T1", Defaults: app.Tenant{WidevineSigners: map[string]app.WidevineSigner{
		cred.Name: {AESKey: cred.Key, AESIV: cred.IV},
	}}})
	in := wvPost(t, env, "/widevine/cenc", apptest.Envelope(t, &cred, wvVOD("movie-1", "CBCS")))
	if in.Status != "OK" {
		t.Fatalf("status %s: %s", in.Status, in.StatusMessage)
	}
	if string(in.ContentID) != "movie-1" {
		t.Fatalf("content_id echo %q", in.ContentID)
	}
	wantTypes := []string{"SD", "HD", "UHD1", "UHD2", "AUDIO"}
	if len(in.Tracks) != len(wantTypes) {
		t.Fatalf("%d tracks, want %d", len(in.Tracks), len(wantTypes))
	}
	kids := map[string]bool{}
	for i, tr := range in.Tracks {
		if tr.Type != wantTypes[i] {
			t.Fatalf("tracks[%d].type %s, want %s (request order)", i, tr.Type, wantTypes[i])
		}
		if len(tr.KeyID) != 16 || len(tr.Key) != 16 || len(tr.IV) != 16 || tr.CryptoPeriodIndex != nil {
			t.Fatalf("tracks[%d]: key_id %d key %d iv %d bytes, period %v", i, len(tr.KeyID), len(tr.Key), len(tr.IV), tr.CryptoPeriodIndex)
		}
		kids[string(tr.KeyID)] = true
		// The keystore holds this key under this tenant, content, scheme and track.
		rec, err := env.Store.LookupKeyID(context.Background(), "T1", drm.KeyID(tr.KeyID))
		if err != nil {
			t.Fatal(err)
		}
		if rec.Space != (keystore.Space{Tenant: "T1", ContentID: "movie-1", Scheme: drm.SchemeCBCS, Track: tr.Type}) ||
			!bytes.Equal(rec.Key.Key.Bytes(), tr.Key) || !bytes.Equal(rec.Key.IV[:], tr.IV) || rec.PeriodSeconds != 0 {
			t.Fatalf("tracks[%d]: keystore record differs: space %+v", i, rec.Space)
		}
		// Exactly one Widevine pssh entry whose data names this key.
		if len(tr.PSSH) != 1 || tr.PSSH[0].DRMType != "WIDEVINE" {
			t.Fatalf("tracks[%d].pssh = %+v, want one WIDEVINE entry", i, tr.PSSH)
		}
		d, err := signaling.ParseWidevinePSSHData(tr.PSSH[0].Data)
		if err != nil {
			t.Fatal(err)
		}
		if k := d.KIDs(); len(k) != 1 || k[0] != drm.KeyID(tr.KeyID) || string(d.ContentID) != "movie-1" ||
			d.ProtectionScheme == nil || *d.ProtectionScheme != 0x63626373 || d.CryptoPeriodIndex != nil {
			t.Fatalf("tracks[%d]: Widevine pssh data does not match the key", i)
		}
		if strings.Contains(logs.String(), base64.StdEncoding.EncodeToString(tr.Key)) || strings.Contains(logs.String(), hex.EncodeToString(tr.Key)) {
			t.Fatal("a key reached the log")
		}
	}
	if len(kids) != len(wantTypes) {
		t.Fatalf("%d distinct key ids for %d track types", len(kids), len(wantTypes))
	}
	// The tenant route and the default route are the same tenant; a replay
	// returns the same keys; CENC is another key space.
	again := wvPost(t, env, "/T1/widevine/cenc", apptest.Envelope(t, &cred, wvVOD("movie-1", "CBCS")))
	for i := range in.Tracks {
		if !bytes.Equal(again.Tracks[i].Key, in.Tracks[i].Key) || !bytes.Equal(again.Tracks[i].KeyID, in.Tracks[i].KeyID) {
			t.Fatalf("replay: track %d differs", i)
		}
	}
	cenc := wvPost(t, env, "/widevine/cenc", apptest.Envelope(t, &cred, wvVOD("movie-1", "CENC")))
	if cenc.Status != "OK" || bytes.Equal(cenc.Tracks[0].KeyID, in.Tracks[0].KeyID) {
		t.Fatalf("CENC: status %s, same key id as CBCS: %v", cenc.Status, bytes.Equal(cenc.Tracks[0].KeyID, in.Tracks[0].KeyID))
	}
	logs.WaitFor(t, `"signer":"packager-1"`) // the request's line, written as it ends
}

func TestWidevineRotationBatchOrderAndReplay(t *testing.T) {
	cred := apptest.NewAESCred("live-1")
	env, _ := wvStart(t, app.Config{DefaultTenant: "T1", Defaults: app.Tenant{WidevineSigners: map[string]app.WidevineSigner{
		cred.Name: {AESKey: cred.Key, AESIV: cred.IV},
	}}})
	const first, count = 7, 10
	in := wvPost(t, env, "/widevine/cenc", apptest.Envelope(t, &cred, wvLive("chan-1", first, count, 6)))
	if in.Status != "OK" {
		t.Fatalf("status %s: %s", in.Status, in.StatusMessage)
	}
	if len(in.Tracks) != count*5 {
		t.Fatalf("%d tracks, want %d", len(in.Tracks), count*5)
	}
	types := []string{"SD", "HD", "UHD1", "UHD2", "AUDIO"}
	seen := map[string]bool{}
	for i, tr := range in.Tracks {
		wantIdx := uint32(first + i/5)
		if tr.CryptoPeriodIndex == nil || *tr.CryptoPeriodIndex != wantIdx || tr.Type != types[i%5] {
			t.Fatalf("tracks[%d]: type %s period %v, want %s period %d (grouped by period, ascending)", i, tr.Type, tr.CryptoPeriodIndex, types[i%5], wantIdx)
		}
		if seen[string(tr.KeyID)] {
			t.Fatalf("tracks[%d]: key id reused", i)
		}
		seen[string(tr.KeyID)] = true
		d, err := signaling.ParseWidevinePSSHData(tr.PSSH[0].Data)
		if err != nil || d.CryptoPeriodIndex == nil || *d.CryptoPeriodIndex != wantIdx || d.KIDs()[0] != drm.KeyID(tr.KeyID) {
			t.Fatalf("tracks[%d]: pssh does not carry the period's key id and index", i)
		}
		rec, err := env.Store.LookupKeyID(context.Background(), "T1", drm.KeyID(tr.KeyID))
		if err != nil || rec.Period != int64(wantIdx) || rec.PeriodSeconds != 6 || rec.Space.Track != tr.Type {
			t.Fatalf("tracks[%d]: keystore record period %d P %d track %s (%v)", i, rec.Period, rec.PeriodSeconds, rec.Space.Track, err)
		}
	}
	// An overlapping batch (shaka re-requests index-1) after a restart gives
	// byte-identical keys for the shared periods.
	env.Restart()
	over := wvPost(t, env, "/widevine/cenc", apptest.Envelope(t, &cred, wvLive("chan-1", first+3, 4, 6)))
	if over.Status != "OK" || len(over.Tracks) != 20 {
		t.Fatalf("overlap: status %s, %d tracks", over.Status, len(over.Tracks))
	}
	for i, tr := range over.Tracks {
		old := in.Tracks[15+i]
		if !bytes.Equal(tr.KeyID, old.KeyID) || !bytes.Equal(tr.Key, old.Key) || !bytes.Equal(tr.IV, old.IV) {
			t.Fatalf("overlap track %d differs from the first answer", i)
		}
	}
	// Another crypto_period_seconds for the pinned content is refused and
	// stores nothing.
	before, _ := env.Store.Records(context.Background(), "T1")
	bad := wvPost(t, env, "/widevine/cenc", apptest.Envelope(t, &cred, wvLive("chan-1", 100, 2, 4)))
	if bad.Status != "MALFORMED_REQUEST" || !strings.Contains(bad.StatusMessage, "crypto_period_seconds") {
		t.Fatalf("period mismatch: %s %q", bad.Status, bad.StatusMessage)
	}
	after, _ := env.Store.Records(context.Background(), "T1")
	if len(after) != len(before) {
		t.Fatalf("a refused request stored %d records", len(after)-len(before))
	}
}

func TestWidevineStatuses(t *testing.T) {
	good := apptest.NewAESCred("good")
	other := apptest.NewAESCred("tenant-b-only")
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rsaCred := apptest.WVCred{Name: "rsa-signer", RSA: rk}
	pemPub := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: mustPKIX(t, &rk.PublicKey)})
	var pub widevine.RSAPublicKey
	if err := pub.UnmarshalText(pemPub); err != nil {
		t.Fatal(err)
	}
	env, _ := wvStart(t, app.Config{
		DefaultTenant: "A",
		Defaults: app.Tenant{WidevineSigners: map[string]app.WidevineSigner{
			good.Name:    {AESKey: good.Key, AESIV: good.IV},
			rsaCred.Name: {RSAPublicKey: &pub},
		}},
		Tenants: map[string]app.Tenant{"B": {WidevineSigners: map[string]app.WidevineSigner{
			other.Name: {AESKey: other.Key, AESIV: other.IV},
		}}},
	})
	wrong := good
	wrong.Key = bytes.Clone(good.Key)
	wrong.Key[5] ^= 1
	cases := []struct {
		name, path string
		body       []byte
		want       string
	}{
		{"rsa-pss signer", "/widevine/cenc", apptest.Envelope(t, &rsaCred, wvVOD("m", "CBCS")), "OK"},
		{"tenant signer", "/B/widevine/cenc", apptest.Envelope(t, &other, wvVOD("m", "CBCS")), "OK"},
		{"unsigned", "/widevine/cenc", apptest.Envelope(t, nil, wvVOD("m", "CBCS")), "SIGNATURE_FAILED"},
		{"wrong aes key", "/widevine/cenc", apptest.Envelope(t, &wrong, wvVOD("m", "CBCS")), "SIGNATURE_FAILED"},
		{"signature of other text", "/widevine/cenc", []byte(`{"request":"` + b64(wvVOD("m", "CBCS")) + `","signature":"` +
			base64.StdEncoding.EncodeToString(good.Sign(t, []byte(wvVOD("n", "CBCS")))) + `","signer":"good"}`), "SIGNATURE_FAILED"},
		{"unknown signer", "/widevine/cenc", apptest.Envelope(t, &apptest.WVCred{Name: "nobody", Key: good.Key, IV: good.IV}, wvVOD("m", "CBCS")), "SIGNATURE_FAILED"},
		{"tenant B signer at tenant A", "/A/widevine/cenc", apptest.Envelope(t, &other, wvVOD("m", "CBCS")), "SIGNATURE_FAILED"},
		{"default signer at tenant B", "/B/widevine/cenc", apptest.Envelope(t, &good, wvVOD("m", "CBCS")), "SIGNATURE_FAILED"},
		{"envelope not JSON", "/widevine/cenc", []byte(`{"request":`), "MALFORMED_REQUEST"},
		{"envelope wrong type", "/widevine/cenc", []byte(`{"request":5}`), "MALFORMED_REQUEST"},
		{"inner not JSON", "/widevine/cenc", apptest.Envelope(t, &good, `{"content_id":`), "MALFORMED_REQUEST"},
		{"no content id", "/widevine/cenc", apptest.Envelope(t, &good, `{"tracks":[{"type":"SD"}]}`), "CONTENT_ID_MISSING"},
		{"content id not UTF-8", "/widevine/cenc", apptest.Envelope(t, &good, `{"content_id":"/w==","tracks":[{"type":"SD"}]}`), "MALFORMED_REQUEST"},
		{"no tracks", "/widevine/cenc", apptest.Envelope(t, &good, `{"content_id":"`+b64("m")+`","tracks":[]}`), "TRACK_TYPE_MISSING"},
		{"unknown track", "/widevine/cenc", apptest.Envelope(t, &good, `{"content_id":"`+b64("m")+`","tracks":[{"type":"8K"}]}`), "TRACK_TYPE_UNKNOWN"},
		{"duplicate track", "/widevine/cenc", apptest.Envelope(t, &good, `{"content_id":"`+b64("m")+`","tracks":[{"type":"SD"},{"type":"SD"}]}`), "MALFORMED_REQUEST"},
		{"playready drm type", "/widevine/cenc", apptest.Envelope(t, &good, `{"content_id":"`+b64("m")+`","tracks":[{"type":"SD"}],"drm_types":["PLAYREADY"]}`), "MALFORMED_REQUEST"},
		{"cbc1", "/widevine/cenc", apptest.Envelope(t, &good, `{"content_id":"`+b64("m")+`","tracks":[{"type":"SD"}],"protection_scheme":"CBC1"}`), "MALFORMED_REQUEST"},
		{"zero periods", "/widevine/cenc", apptest.Envelope(t, &good, `{"content_id":"`+b64("m")+`","tracks":[{"type":"SD"}],"first_crypto_period_index":3,"crypto_period_count":0}`), "NO_REQUESTED_CRYPTO_PERIODS"},
		{"too many periods", "/widevine/cenc", apptest.Envelope(t, &good, wvLive("m", 0, 101, 10)), "MALFORMED_REQUEST"},
		{"index overflow", "/widevine/cenc", apptest.Envelope(t, &good, wvLive("m", 4294967295, 2, 10)), "MALFORMED_REQUEST"},
		{"decryption request", "/widevine/cenc", apptest.Envelope(t, &good, `{"pssh_data":"AAAA","tracks":[{"type":"SD"}]}`), "MALFORMED_REQUEST"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tenant := "A"
			if strings.HasPrefix(tc.path, "/B/") {
				tenant = "B"
			}
			before, _ := env.Store.Records(context.Background(), tenant)
			in := wvPost(t, env, tc.path, tc.body)
			if in.Status != tc.want {
				t.Fatalf("status %s (%s), want %s", in.Status, in.StatusMessage, tc.want)
			}
			after, _ := env.Store.Records(context.Background(), tenant)
			if tc.want != "OK" {
				if len(in.Tracks) != 0 || in.StatusMessage == "" {
					t.Fatalf("error answer carries %d tracks, message %q", len(in.Tracks), in.StatusMessage)
				}
				if len(after) != len(before) {
					t.Fatalf("a refused request stored %d records", len(after)-len(before))
				}
			}
		})
	}
}

func mustPKIX(t *testing.T, pub *rsa.PublicKey) []byte {
	t.Helper()
	b, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestWidevineStoreUnavailable: a closed store answers 200 INTERNAL_ERROR,
// the status shaka retries.
func TestWidevineStoreUnavailable(t *testing.T) {
	st, _ := testkit.NewBolt(t)
	cred := apptest.NewAESCred("p")
	env, logs := wvStart(t, app.Config{Store: st, DefaultTenant: "A", Defaults: app.Tenant{WidevineSigners: map[string]app.WidevineSigner{
		cred.Name: {AESKey: cred.Key, AESIV: cred.IV},
	}}})
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	in := wvPost(t, env, "/widevine/cenc", apptest.Envelope(t, &cred, wvVOD("m", "CBCS")))
	if in.Status != "INTERNAL_ERROR" || len(in.Tracks) != 0 {
		t.Fatalf("status %s with %d tracks, want INTERNAL_ERROR", in.Status, len(in.Tracks))
	}
	if !strings.Contains(logs.String(), "internal error") {
		t.Fatal("the store failure was not logged")
	}
}

func TestWidevineSignerConfigValidation(t *testing.T) {
	st, _ := testkit.NewBolt(t)
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	for name, s := range map[string]app.WidevineSigner{
		"aesKey is 15 bytes": {AESKey: make([]byte, 15), AESIV: make([]byte, 16)},
		"aesIv is 8 bytes":   {AESKey: make([]byte, 32), AESIV: make([]byte, 8)},
		"needs aesKey":       {},
		"1024 bits":          {RSAPublicKey: &widevine.RSAPublicKey{PublicKey: &small.PublicKey}},
	} {
		cfg := app.Config{Store: st, Tenants: map[string]app.Tenant{"X": {WidevineSigners: map[string]app.WidevineSigner{"s": s}}}}
		err := cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), name) || !strings.Contains(err.Error(), `widevineSigners["s"]`) {
			t.Errorf("%s: Validate() = %v", name, err)
		}
	}
	var h widevine.HexBytes
	if err := h.UnmarshalText([]byte("zz")); err == nil {
		t.Error("HexBytes accepted zz")
	}
}

// TestWidevineLargeEnvelope: an envelope larger than the Nagra API's body
// limit (64 KiB) is the Widevine API's to judge: one of 200 KB (a long
// policy name) is served, one over the Widevine limit gets HTTP 200 with
// MALFORMED_REQUEST, never the Nagra API's 413.
func TestWidevineLargeEnvelope(t *testing.T) {
	cred := apptest.NewAESCred("big")
	env, _ := wvStart(t, app.Config{DefaultTenant: "T1", Defaults: app.Tenant{WidevineSigners: map[string]app.WidevineSigner{
		cred.Name: {AESKey: cred.Key, AESIV: cred.IV},
	}}})
	inner := `{"content_id":"` + b64("big-1") + `","tracks":[{"type":"SD"}],"policy":"` + strings.Repeat("p", 150_000) + `"}`
	env1 := apptest.Envelope(t, &cred, inner)
	if len(env1) <= 64<<10 {
		t.Fatalf("envelope is only %d bytes", len(env1))
	}
	if in := wvPost(t, env, "/widevine/cenc", env1); in.Status != "OK" || len(in.Tracks) != 1 {
		t.Fatalf("%d-byte envelope: %s %q, want OK with one track", len(env1), in.Status, in.StatusMessage)
	}
	huge := apptest.Envelope(t, &cred, `{"content_id":"`+b64("big-2")+`","tracks":[{"type":"SD"}],"policy":"`+strings.Repeat("p", 1<<20)+`"}`)
	in := wvPost(t, env, "/widevine/cenc", huge)
	if in.Status != "MALFORMED_REQUEST" || !strings.Contains(in.StatusMessage, "exceeds 1048576 bytes") {
		t.Fatalf("%d-byte envelope: %s %q, want MALFORMED_REQUEST naming the limit", len(huge), in.Status, in.StatusMessage)
	}
}
