package app_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/keyserver/keyserver/app"
	"github.com/keyserver/keyserver/app/apptest"
	"github.com/keyserver/keyserver/cpix"
	"github.com/keyserver/keyserver/cpix/cpixtest"
	"github.com/keyserver/keyserver/drm"
	"github.com/keyserver/keyserver/frontend/speke"
	keyserverv1 "github.com/keyserver/keyserver/gen/keyserver/v1"
	"github.com/keyserver/keyserver/internal/testcert"
	"github.com/keyserver/keyserver/internal/testkit"
)

// TestCPIX_GetMatchesNagraAPI: GET /{tenantId}/cpix/{contentId} authors a
// document whose key and signaling are those the Nagra API gives for the
// same content (one key space per tenant, one signaling package).
func TestCPIX_GetMatchesNagraAPI(t *testing.T) {
	env := startSpeke(t)
	resp, err := env.HTTP.Get(env.HTTPURL + "/NAG0000/cpix/movie-9?drm=WV,PR&scheme=cbcs")
	if err != nil {
		t.Fatal(err)
	}
	body := readAll(t, resp)
	if resp.StatusCode != 200 {
		t.Fatalf("HTTP %d %s", resp.StatusCode, body)
	}
	cpixtest.Validate(t, body)
	p := parseAnswer(t, body, nil)
	if len(p.keys) != 1 {
		t.Fatalf("%d keys, want 1", len(p.keys))
	}
	nagra := mustOK(t, callREST(t, env, "NAG0000", newReq("movie-9", keyserverv1.DistributionMode_VOD, keyserverv1.StreamingMode_DASH, "WV", "PR")))
	kid := nagra.GetContentKey().GetKeyId()
	key, ok := p.keys[kid]
	if !ok {
		t.Fatalf("CPIX key ids %v, Nagra API key id %s", p.keys, kid)
	}
	if base64.StdEncoding.EncodeToString(key) != nagra.GetContentKey().GetKey() {
		t.Fatal("CPIX and the Nagra API give different keys for one content")
	}
	for _, sig := range nagra.GetDrmSignalization() {
		s := sig.GetDash()
		var pssh string
		for _, e := range p.systems[kid][s.GetDrmSystemId()] {
			if v, ok := strings.CutPrefix(e, "PSSH="); ok {
				pssh = v
			}
		}
		if pssh == "" || pssh != s.GetPsshBox() {
			t.Errorf("%s: CPIX PSSH %q, Nagra API %q", s.GetDrmSystemId(), pssh, s.GetPsshBox())
		}
	}

	// A live window: one key per period and track, with periods and rules.
	start := time.Now().UTC().Truncate(time.Hour)
	q := "/NAG0000/cpix/channel-3?tracks=SD,HD,AUDIO&start=" + start.Format(time.RFC3339) + "&end=" + start.Add(3*time.Hour).Format(time.RFC3339)
	resp, err = env.HTTP.Get(env.HTTPURL + q)
	if err != nil {
		t.Fatal(err)
	}
	body = readAll(t, resp)
	if resp.StatusCode != 200 {
		t.Fatalf("live: HTTP %d %s", resp.StatusCode, body)
	}
	cpixtest.Validate(t, body)
	p = parseAnswer(t, body, nil)
	if len(p.keys) != 9 {
		t.Errorf("live window: %d keys, want 3 periods × 3 tracks", len(p.keys))
	}
	if n := len(cpix.Children(cpix.Child(p.doc.Root, cpix.NS, "ContentKeyPeriodList"), cpix.NS, "ContentKeyPeriod")); n != 3 {
		t.Errorf("%d periods, want 3", n)
	}
	for _, bad := range []string{"?drm=XX", "?scheme=cens", "?tracks=SD,FOO", "?start=2026-01-01T00:00:00Z", "?drm=FPS&scheme=cenc", "?nope=1"} {
		resp, err := env.HTTP.Get(env.HTTPURL + "/NAG0000/cpix/movie-9" + bad)
		if err != nil {
			t.Fatal(err)
		}
		b := readAll(t, resp)
		if resp.StatusCode != 400 || len(b) < 10 {
			t.Errorf("%s: HTTP %d %s, want 400 with a message", bad, resp.StatusCode, b)
		}
	}
}

func readAll(t *testing.T, resp *http.Response) []byte {
	t.Helper()
	defer resp.Body.Close()
	var b bytes.Buffer
	if _, err := b.ReadFrom(resp.Body); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestCPIX_Ingest: a document that brings keys (the DASH-IF clear vector)
// stores them as supplied keys; the same document again is idempotent, a
// changed key conflicts; a document encrypted to the server's own
// recipient certificate is opened with its private key.
func TestCPIX_Ingest(t *testing.T) {
	der, priv := readVectorKey(t, "Cert1")
	env := startSpeke(t, func(c *app.Config) {
		c.CPIXRecipient = &speke.Recipient{Certificate: der, Key: priv}
	})
	vec, err := os.ReadFile("../cpix/testdata/vectors/ClearContentKeysOnly.xml")
	if err != nil {
		t.Fatal(err)
	}
	// The vector has no content id: name one.
	doc, err := cpix.Parse(vec, cpix.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	doc.Root.CreateAttr("contentId", "vector-1")
	in, _ := doc.Bytes()
	a := postSpeke(t, env, "/NAG0000/cpix", "", string(in), nil)
	if a.code != 200 {
		t.Fatalf("ingest: HTTP %d %s", a.code, a.body)
	}
	want := parseAnswer(t, in, nil).keys
	for kid, k := range want {
		id, _ := drm.ParseKeyID(kid)
		rec, err := env.Store.LookupKeyID(context.Background(), "NAG0000", id)
		if err != nil || !bytes.Equal(rec.Key.Key[:], k) || !rec.Supplied || rec.Space.ContentID != "vector-1" {
			t.Errorf("key %s: stored %v, same %v, supplied %v", kid, err, bytes.Equal(rec.Key.Key[:], k), rec.Supplied)
		}
	}
	if again := postSpeke(t, env, "/NAG0000/cpix", "", string(in), nil); again.code != 200 {
		t.Fatalf("re-ingest: HTTP %d %s", again.code, again.body)
	}
	// Change one key value: conflict, nothing stored.
	ck := cpix.Child(cpix.Child(doc.Root, cpix.NS, "ContentKeyList"), cpix.NS, "ContentKey")
	doc.SetPlainValue(ck, bytes.Repeat([]byte{7}, 16))
	changed, _ := doc.Bytes()
	if c := postSpeke(t, env, "/NAG0000/cpix", "", string(changed), nil); c.code != http.StatusConflict {
		t.Fatalf("changed key: HTTP %d %s, want 409", c.code, c.body)
	}
	// Encrypted to the server: the DASH-IF vector encrypted for Cert1.
	enc, err := os.ReadFile("../cpix/testdata/vectors/EncryptedContentKeys.xml")
	if err != nil {
		t.Fatal(err)
	}
	edoc, err := cpix.Parse(enc, cpix.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	edoc.Root.CreateAttr("contentId", "vector-2")
	eb, _ := edoc.Bytes()
	if e := postSpeke(t, env, "/NAG0000/cpix", "", string(eb), nil); e.code != 200 {
		t.Fatalf("encrypted ingest: HTTP %d %s", e.code, e.body)
	}
	// The Readme's plaintext key of one of its key ids.
	id, _ := drm.ParseKeyID("bd5adf51-cf04-410f-aac3-ec63a69e929e")
	rec, err := env.Store.LookupKeyID(context.Background(), "NAG0000", id)
	if err != nil || base64.StdEncoding.EncodeToString(rec.Key.Key[:]) != "3rWoHYasQubO6HbJGrGtLw==" {
		t.Errorf("encrypted ingest stored %v, key matches the Readme: %v", err, err == nil && base64.StdEncoding.EncodeToString(rec.Key.Key[:]) == "3rWoHYasQubO6HbJGrGtLw==")
	}
}

// TestSPEKE_Authentication: with --auth=required a SPEKE request needs a
// token or a client certificate bound to a credential of the tenant; an
// AWS SigV4 Authorization header neither passes nor fails a request.
func TestSPEKE_Authentication(t *testing.T) {
	ca := testcert.NewCA(t, "keyserver CA")
	srvCert := ca.Issue(t, "keyserver", testcert.Server)
	packager := ca.Issue(t, "mediapackage", testcert.Client)
	stranger := ca.Issue(t, "stranger", testcert.Client)
	fp := sha256.Sum256(packager.Certificate[0])
	key := newSigningKey(t)
	cfg := app.Config{DefaultTenant: "NAG0000", Now: func() time.Time { return t0 },
		TLS: app.TLS{Certificate: &srvCert, ClientCAs: ca.Pool},
		Auth: app.Auth{Required: true, Credentials: []app.Credential{
			{ID: "token-cred", Tenant: "NAG0000", SigningKey: key, Privileges: []string{"CKM"}},
			{ID: "aws-cred", Tenant: "NAG0000", Privileges: []string{"CKM"}, ClientCertificates: [][32]byte{fp}},
		}}}
	doc := spekeSpec{contentID: "auth", version: "2.3", scheme: "cenc", systems: []string{"WV"}, rules: videoPresets["PRESET_VIDEO_1"]}.build()
	withCert := func(c tls.Certificate) *apptest.Env {
		return apptest.Start(t, cfg, apptest.ClientTLS(&tls.Config{RootCAs: ca.Pool, Certificates: []tls.Certificate{c}}))
	}
	env := withCert(packager)
	sigv4 := http.Header{"Authorization": {"AWS4-HMAC-SHA256 Credential=AKIA/20261202/us-east-1/execute-api/aws4_request, SignedHeaders=host, Signature=abc"}}
	if a := postSpeke(t, env, "/speke/v2/copyProtection", "2.0", doc.xml, sigv4); a.code != 200 {
		t.Fatalf("bound client certificate: HTTP %d %s", a.code, a.body)
	}
	if a := postSpeke(t, env, "/NAG0001/speke/v2/copyProtection", "2.0", doc.xml, nil); a.code != http.StatusForbidden {
		t.Errorf("bound certificate, another tenant: HTTP %d %s, want 403", a.code, a.body)
	}
	other := withCert(stranger)
	if a := postSpeke(t, other, "/speke/v2/copyProtection", "2.0", doc.xml, sigv4); a.code != http.StatusUnauthorized || !strings.Contains(string(a.body), "token is missing") {
		t.Errorf("unbound certificate, no token: HTTP %d %s, want 401", a.code, a.body)
	}
	tok := http.Header{"Nv-Authorizations": {mint("token-cred", key, t0.Add(time.Hour))}}
	if a := postSpeke(t, other, "/speke/v2/copyProtection", "2.0", doc.xml, tok); a.code != 200 {
		t.Errorf("token: HTTP %d %s", a.code, a.body)
	}
	// A credential without a signing key verifies no token.
	forged := http.Header{"Nv-Authorizations": {mint("aws-cred", nil, t0.Add(time.Hour))}}
	if a := postSpeke(t, other, "/speke/v2/copyProtection", "2.0", doc.xml, forged); a.code != http.StatusUnauthorized {
		t.Errorf("token of a certificate-only credential: HTTP %d %s, want 401", a.code, a.body)
	}

	// Optional mode: the SigV4 header alone passes.
	opt := startSpeke(t)
	if a := postSpeke(t, opt, "/speke/v2/copyProtection", "2.0", doc.xml, sigv4); a.code != 200 {
		t.Errorf("optional mode with a SigV4 header: HTTP %d %s", a.code, a.body)
	}
}

// TestSPEKE_Limits: documents beyond the limits are refused with a message
// naming the limit.
func TestSPEKE_Limits(t *testing.T) {
	env := startSpeke(t)
	var rules []spekeRule
	for i := range 257 {
		rules = append(rules, spekeRule{track: "T" + strings.Repeat("x", i%3) + string(rune('a'+i%26)) + string(rune('a'+i/26)), video: []string{""}})
	}
	doc := spekeSpec{contentID: "big", version: "2.3", scheme: "cenc", systems: []string{"WV"}, rules: rules}.build()
	if a := postSpeke(t, env, "/speke/v2/copyProtection", "2.0", doc.xml, nil); a.code != 422 || !strings.Contains(string(a.body), "at most 256") {
		t.Errorf("257 keys: HTTP %d %s", a.code, a.body)
	}
	huge := `<cpix:CPIX xmlns:cpix="urn:dashif:org:cpix">` + strings.Repeat("<!-- padding -->", 200000) + `</cpix:CPIX>`
	if a := postSpeke(t, env, "/speke/v2/copyProtection", "2.0", huge, nil); a.code != http.StatusRequestEntityTooLarge {
		t.Errorf("3 MB document: HTTP %d %.200s", a.code, a.body)
	}
	deep := `<cpix:CPIX xmlns:cpix="urn:dashif:org:cpix">` + strings.Repeat("<a>", 100) + strings.Repeat("</a>", 100) + `</cpix:CPIX>`
	if a := postSpeke(t, env, "/speke/v2/copyProtection", "2.0", deep, nil); a.code != 400 {
		t.Errorf("deep document: HTTP %d %s", a.code, a.body)
	}
}

// TestSPEKE_LogsNoKeys: each request is one access-log line with its
// correlation id, front-end, tenant and content; no line holds a key, in
// the clear or in base64, at debug level, for clear and encrypted answers.
func TestSPEKE_LogsNoKeys(t *testing.T) {
	sink := &testkit.LogSink{}
	der, _ := readVectorKey(t, "Cert1")
	env := startSpeke(t, func(c *app.Config) { c.Logger = sink.TextLogger() })
	spec := spekeSpec{contentID: "logged", version: "2.3", scheme: "cbcs", systems: []string{"WV", "PR", "FPS"},
		rules: append(append([]spekeRule(nil), videoPresets["PRESET_VIDEO_2"]...), audioPresets["PRESET_AUDIO_1"]...)}
	doc := spec.build()
	a := postSpeke(t, env, "/NAG0000/speke/v2/copyProtection", "2.0", doc.xml, http.Header{"X-Correlation-Id": {"corr-speke-1"}})
	if a.code != 200 {
		t.Fatalf("HTTP %d %s", a.code, a.body)
	}
	spec.recipient = der
	if e := postSpeke(t, env, "/NAG0000/speke/v2/copyProtection", "2.0", spec.build().xml, nil); e.code != 200 {
		t.Fatalf("encrypted: HTTP %d", e.code)
	}
	line := sink.WaitFor(t, "corr-speke-1")
	for _, want := range []string{"front_end=cpix", "tenant=NAG0000", "content_id=logged", "http_status=200"} {
		if !strings.Contains(line, want) {
			t.Errorf("access-log line lacks %s: %s", want, line)
		}
	}
	logs := sink.String()
	for kid, k := range parseAnswer(t, a.body, nil).keys {
		for _, enc := range []string{base64.StdEncoding.EncodeToString(k), fmt.Sprintf("%x", k), string(k)} {
			if strings.Contains(logs, enc) {
				t.Fatalf("the log holds the key of %s", kid)
			}
		}
	}
}
