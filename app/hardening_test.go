package app_test

// Regression tests of the hardening issue's defects (numbers in the test
// names), over real REST and gRPC connections. Defect 2 (a gRPC stream
// flood, measured by the resident memory of a real keyserver process) and
// defect 10 (file modes) are in cmd/keyserver; defect 11 is
// TestWidevineLargeEnvelope.

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/keyserver/keyserver/app"
	"github.com/keyserver/keyserver/app/apptest"
	keyserverv1 "github.com/keyserver/keyserver/gen/keyserver/v1"
	"github.com/keyserver/keyserver/internal/testkit"
)

// wvFixture is an auth fixture (NAG0000 and NAG0001 have credentials) with
// a default Widevine signer and one of NAG0001's own.
func wvAuthFixture(t *testing.T, required bool, opts ...func(*app.Config)) (*authFixture, apptest.WVCred, apptest.WVCred) {
	t.Helper()
	def, own := apptest.NewAESCred("default-signer"), apptest.NewAESCred("b-signer")
	f := startAuth(t, required, append([]func(*app.Config){func(c *app.Config) {
		c.Defaults.WidevineSigners = map[string]app.WidevineSigner{def.Name: {AESKey: def.Key, AESIV: def.IV}}
		c.Tenants = map[string]app.Tenant{"NAG0001": {WidevineSigners: map[string]app.WidevineSigner{own.Name: {AESKey: own.Key, AESIV: own.IV}}}}
	}}, opts...)...)
	return f, def, own
}

// TestHardening1_WidevineAuthorizesBySigner: the Widevine API's
// authentication is the signature, its authorization the signer's tenant:
// a tenant without credentials does not exist in required mode (even for
// a default signer), and an nv-authorizations token authorizes nothing.
func TestHardening1_WidevineAuthorizesBySigner(t *testing.T) {
	f, def, own := wvAuthFixture(t, true)
	vodReq := wvVOD("hard-1", "CBCS")
	// NAG0002 has no credentials: not a tenant in required mode.
	if in := wvPost(t, f.env, "/NAG0002/widevine/cenc", apptest.Envelope(t, &def, vodReq)); in.Status != "ACCESS_DENIED" {
		t.Errorf("tenant without credentials: %s %q, want ACCESS_DENIED", in.Status, in.StatusMessage)
	}
	assertNoRecords(t, f.env, "NAG0002")
	// A valid token of NAG0001 does not let NAG0000's request through
	// with a signer NAG0000 does not have.
	hdr := http.Header{"Nv-Authorizations": {f.tokenB()}}
	if in := wvPostHdr(t, f.env, "/NAG0000/widevine/cenc", apptest.Envelope(t, &own, vodReq), hdr); in.Status != "SIGNATURE_FAILED" {
		t.Errorf("another tenant's signer with its token: %s %q, want SIGNATURE_FAILED", in.Status, in.StatusMessage)
	}
	assertNoRecords(t, f.env, "NAG0000")
	// The tenants that exist get their keys, with or without a token.
	if in := wvPost(t, f.env, "/NAG0000/widevine/cenc", apptest.Envelope(t, &def, vodReq)); in.Status != "OK" {
		t.Errorf("default signer at a tenant with credentials: %s %q", in.Status, in.StatusMessage)
	}
	if in := wvPostHdr(t, f.env, "/NAG0001/widevine/cenc", apptest.Envelope(t, &own, vodReq), http.Header{"Nv-Authorizations": {"garbage"}}); in.Status != "OK" {
		t.Errorf("tenant signer with a garbage token (tokens are not read): %s %q", in.Status, in.StatusMessage)
	}
}

// TestHardening1_WidevineOptionalMode: in optional mode a token does not
// authorize either: another tenant's signer is refused at NAG0001 whatever
// token comes with it.
func TestHardening1_WidevineOptionalMode(t *testing.T) {
	f, _, own := wvAuthFixture(t, false)
	hdr := http.Header{"Nv-Authorizations": {f.tokenA()}}
	if in := wvPostHdr(t, f.env, "/NAG0000/widevine/cenc", apptest.Envelope(t, &own, wvVOD("opt", "CBCS")), hdr); in.Status != "SIGNATURE_FAILED" {
		t.Errorf("NAG0001's signer at NAG0000 with NAG0000's token: %s %q, want SIGNATURE_FAILED", in.Status, in.StatusMessage)
	}
}

// TestHardening3_WidevineLimits: Widevine requests count against
// MaxInFlight and run under RequestTimeout, answered in the protocol's
// vocabulary (HTTP 200, INTERNAL_ERROR, which shaka retries).
func TestHardening3_WidevineLimits(t *testing.T) {
	g := openGated(t)
	cred := apptest.NewAESCred("p")
	env := apptest.Start(t, app.Config{Store: g, DefaultTenant: "T",
		Defaults: app.Tenant{WidevineSigners: map[string]app.WidevineSigner{cred.Name: {AESKey: cred.Key, AESIV: cred.IV}}},
		Limits:   app.Limits{MaxInFlight: 1, RequestTimeout: 300 * time.Millisecond}})
	// One request held in the store takes the only slot...
	type answer struct {
		code int
		body []byte
		err  error
	}
	held := make(chan answer, 1)
	heldEnv := apptest.Envelope(t, &cred, wvVOD("held", "CBCS"))
	go func() {
		res, err := env.HTTP.Post(env.HTTPURL+"/widevine/cenc", "application/json", strings.NewReader(string(heldEnv)))
		if err != nil {
			held <- answer{err: err}
			return
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		held <- answer{code: res.StatusCode, body: b, err: err}
	}()
	waitArrivals(t, g, 1)
	// ...so another is refused at once.
	busy := wvPost(t, env, "/widevine/cenc", apptest.Envelope(t, &cred, wvVOD("busy", "CBCS")))
	if busy.Status != "INTERNAL_ERROR" || !strings.Contains(busy.StatusMessage, "in flight") {
		t.Errorf("beyond MaxInFlight: %s %q, want INTERNAL_ERROR saying the server is busy", busy.Status, busy.StatusMessage)
	}
	// The held one ends at the deadline (the gate never opens for it),
	// answered in the protocol's way.
	a := <-held
	if a.err != nil || a.code != http.StatusOK {
		t.Fatalf("held request: HTTP %d, %v", a.code, a.err)
	}
	if in := decodeWV(t, a.body); in.Status != "INTERNAL_ERROR" {
		t.Errorf("held past RequestTimeout: %s %q, want INTERNAL_ERROR", in.Status, in.StatusMessage)
	}
	// With the store open again, the slot is free: served.
	close(g.open)
	if in := wvPost(t, env, "/widevine/cenc", apptest.Envelope(t, &cred, wvVOD("after", "CBCS"))); in.Status != "OK" {
		t.Errorf("after the held request ended: %s %q, want OK", in.Status, in.StatusMessage)
	}
}

// TestHardening4_DefaultRouteTenant: the route without a tenant serves
// the default tenant only; a body naming another is INVALID_REQUEST naming
// tenantId, and nothing is stored for it.
func TestHardening4_DefaultRouteTenant(t *testing.T) {
	f := startAuth(t, false)
	for _, body := range []string{
		`{"tenantId":"NAG0001","drmContent":{"drmContentId":"h4","profile":{"distributionMode":"VOD"}}}`,
		`{"tenant_id":"NAG0001","drmContent":{"drmContentId":"h4","profile":{"distributionMode":"VOD"}}}`,
	} {
		r := postJSON(t, f.env, "", body, nil)
		if r.reason != "INVALID_REQUEST" || r.httpCode != http.StatusBadRequest || !strings.HasPrefix(r.msg, "tenantId:") {
			t.Errorf("%s: %s HTTP %d %q, want INVALID_REQUEST naming tenantId", body, r.reason, r.httpCode, r.msg)
		}
	}
	assertNoRecords(t, f.env, "NAG0001", "NAG0000")
	mustOK(t, postJSON(t, f.env, "", `{"tenantId":"NAG0000","drmContent":{"drmContentId":"h4","profile":{"distributionMode":"VOD"}}}`, nil))
}

// TestHardening5_MalformedTokenValue: a header value with a byte gRPC
// metadata cannot carry is checked, not dropped: 401 naming the problem,
// in both modes.
func TestHardening5_MalformedTokenValue(t *testing.T) {
	for _, required := range []bool{false, true} {
		f := startAuth(t, required)
		for _, v := range []string{f.tokenA() + ",\xc3\xa9", f.tokenA() + ",x\ty"} {
			r := postJSON(t, f.env, "NAG0001", `{"drmContent":{"drmContentId":"h5","profile":{"distributionMode":"VOD"}}}`, http.Header{"Nv-Authorizations": {v}})
			if r.reason != "UNAUTHENTICATED" || r.httpCode != http.StatusUnauthorized || !strings.Contains(r.msg, "not printable ASCII") {
				t.Errorf("required=%v %q: %s HTTP %d %q, want 401 naming the bad byte", required, v[len(v)-4:], r.reason, r.httpCode, r.msg)
			}
		}
		assertNoRecords(t, f.env, "NAG0001")
	}
}

// TestHardening6_ChunkedCloses: a request with Transfer-Encoding: chunked
// (here also with a Content-Length) is answered with Connection: close,
// and a request pipelined after it is not answered.
func TestHardening6_ChunkedCloses(t *testing.T) {
	env, _ := start(t)
	c, err := net.Dial("tcp", strings.TrimPrefix(env.HTTPURL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	body := `{"drmContent":{"drmContentId":"h6","profile":{"distributionMode":"VOD"}}}`
	chunk := strings.ToUpper(strings.TrimLeft(strings.Repeat("0", 4)+itoaHex(len(body)), "0"))
	raw := "POST /ckm/v1/keyAndSignalization HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n" +
		chunk + "\r\n" + body + "\r\n0\r\n\r\n" +
		"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
	if _, err := c.Write([]byte(raw)); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if !res.Close {
		t.Errorf("answer to a chunked request: Connection %q, want close", res.Header.Get("Connection"))
	}
	if rest, err := io.ReadAll(br); err != nil || len(rest) != 0 {
		t.Errorf("after it: %d more bytes (%q), err %v; want the connection closed with the pipelined request unanswered", len(rest), rest, err)
	}
}

func itoaHex(n int) string {
	const digits = "0123456789abcdef"
	s := ""
	for ; n > 0; n /= 16 {
		s = string(digits[n%16]) + s
	}
	return s
}

// TestHardening7_RoutesAndMethods: an unknown route is 404, a known route
// with another method 405 with Allow, each a client error in JSON.
func TestHardening7_RoutesAndMethods(t *testing.T) {
	env, _ := start(t)
	cases := []struct {
		method, path string
		code         int
		allow        string
	}{
		{http.MethodPost, "/nonexistent", 404, ""},
		{http.MethodGet, "/NAG0000/widevine/cenc", 405, "POST"},
		{http.MethodGet, "/NAG0000/ckm/v1/keyAndSignalization", 405, "POST"},
		{http.MethodDelete, "/ckm/v1/keyAndSignalization", 405, "POST"},
		{http.MethodPost, "/healthz", 405, "GET, HEAD"},
	}
	for _, tc := range cases {
		req, _ := http.NewRequest(tc.method, env.HTTPURL+tc.path, strings.NewReader("{}"))
		res, err := env.HTTP.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != tc.code || res.Header.Get("Allow") != tc.allow || !strings.Contains(string(b), `"status"`) || strings.Contains(string(b), "INTERNAL_ERROR") {
			t.Errorf("%s %s: HTTP %d Allow %q %s; want %d Allow %q with a JSON client error", tc.method, tc.path, res.StatusCode, res.Header.Get("Allow"), b, tc.code, tc.allow)
		}
	}
}

// rawCodec sends bytes as they are (the request) and decodes answers as
// protobuf, to put malformed messages on the wire.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return v.([]byte), nil }
func (rawCodec) Unmarshal(b []byte, v any) error {
	return encoding.GetCodec("proto").Unmarshal(b, v)
}
func (rawCodec) Name() string { return "proto" }

// TestHardening8_MalformedGRPC: a message with invalid UTF-8 in a string,
// or truncated, is InvalidArgument with an ErrorInfo, and logged.
func TestHardening8_MalformedGRPC(t *testing.T) {
	logs := &testkit.LogSink{}
	env := apptest.Start(t, app.Config{DefaultTenant: "NAG0000", Logger: logs.TextLogger()})
	var badUTF8 []byte
	badUTF8 = protowire.AppendTag(badUTF8, 1, protowire.BytesType)
	badUTF8 = protowire.AppendString(badUTF8, "NAG\xff")
	truncated := protowire.AppendTag(nil, 2, protowire.BytesType)
	truncated = protowire.AppendVarint(truncated, 40) // a length with nothing after it
	for name, msg := range map[string][]byte{"invalid UTF-8": badUTF8, "truncated": truncated} {
		id := "h8-" + strings.ReplaceAll(name, " ", "-")
		ctx := metadata.AppendToOutgoingContext(context.Background(), "x-correlation-id", id)
		var out keyserverv1.GetKeyAndSignalizationResponse
		err := env.Conn.Invoke(ctx, keyserverv1.KeyService_GetKeyAndSignalization_FullMethodName, msg, &out, grpc.ForceCodec(rawCodec{}))
		st := status.Convert(err)
		reason := ""
		for _, d := range st.Details() {
			if info, ok := d.(*errdetails.ErrorInfo); ok {
				reason = info.Reason
			}
		}
		if st.Code() != codes.InvalidArgument || reason != "INVALID_REQUEST" {
			t.Errorf("%s: %v %q (ErrorInfo %q), want InvalidArgument INVALID_REQUEST", name, st.Code(), st.Message(), reason)
		}
		logs.WaitFor(t, "correlation_id="+id, "status=INVALID_REQUEST")
	}
}

// TestHardening9_RefusalsLogged: requests refused before a handler runs
// get their access-log line with a correlation id: REST decode errors, 413,
// 404, 405; over gRPC, over-long correlation ids (and messages that do not
// decode: TestHardening8_MalformedGRPC). A gRPC message over the size
// limit is refused by grpc-go before any hook but a stats handler, which
// costs every RPC (BENCHMARKS.md): it is not logged.
func TestHardening9_RefusalsLogged(t *testing.T) {
	logs := &testkit.LogSink{}
	env := apptest.Start(t, app.Config{DefaultTenant: "NAG0000", Logger: logs.TextLogger(), Limits: app.Limits{MaxBodyBytes: 1 << 10, MaxMessageBytes: 1 << 10}})
	rest := []struct{ id, method, path, body, want string }{
		{"h9-dup", "POST", "/ckm/v1/keyAndSignalization", `{"drmContent":{},"drmContent":{}}`, "http_status=400"},
		{"h9-413", "POST", "/ckm/v1/keyAndSignalization", strings.Repeat(" ", 2<<10), "http_status=413"},
		{"h9-404", "POST", "/nowhere", "{}", "http_status=404"},
		{"h9-405", "GET", "/widevine/cenc", "", "http_status=405"},
	}
	for _, tc := range rest {
		req, _ := http.NewRequest(tc.method, env.HTTPURL+tc.path, strings.NewReader(tc.body))
		req.Header.Set("X-Correlation-Id", tc.id)
		res, err := env.HTTP.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		logs.WaitFor(t, "correlation_id="+tc.id, tc.want)
	}
	ctx := metadata.AppendToOutgoingContext(context.Background(), "x-correlation-id", strings.Repeat("c", 69))
	if _, err := env.Client.GetKeyAndSignalization(ctx, newReq("h9", vod, 0)); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("over-long correlation id: %v", err)
	}
	logs.WaitFor(t, "method=/keyserver.v1.KeyService/GetKeyAndSignalization", "status=INVALID_REQUEST", "code=InvalidArgument")
}

// TestHardening12_ParsingRules: scheduledKey.time is RFC 3339 (offsets
// up to ±23:59, lower-case t and z accepted); emi strings are decimal or
// 0x-hexadecimal only.
func TestHardening12_ParsingRules(t *testing.T) {
	env, _ := start(t)
	timed := func(ts string) string {
		return `{"drmContent":{"drmContentId":"h12","profile":{"distributionMode":"LIVE"}},"scheduledKey":{"time":"` + ts + `"}}`
	}
	for ts, ok := range map[string]bool{
		"2026-11-24T10:00:00+24:00": false, "2026-11-24T10:00:00-24:00": false, "2026-11-24T10:00:00+23:60": false,
		"2026-11-24T10:00:00+23:59": true, "2026-11-24t10:00:00z": true, "2026-11-24T10:00:00.5Z": true,
	} {
		r := postJSON(t, env, "NAG0000", timed(ts), nil)
		if ok != (r.reason == "OK") || (!ok && !strings.HasPrefix(r.msg, "scheduledKey.time:")) {
			t.Errorf("time %s: %s %q, want accepted=%v", ts, r.reason, r.msg, ok)
		}
	}
	emi := func(v string) string {
		return `{"drmContent":{"drmContentId":"h12e","profile":{"distributionMode":"VOD","emi":` + v + `}}}`
	}
	for v, ok := range map[string]bool{
		`16426`: true, `"16426"`: true, `"0x402A"`: true, `"0X402a"`: true,
		`"0o40052"`: false, `"0b100000000101010"`: false, `"0x40_2A"`: false, `"+16426"`: false, `"1_6426"`: false,
	} {
		r := postJSON(t, env, "NAG0000", emi(v), nil)
		if ok != (r.reason == "OK") || (!ok && r.reason != "UNDEFINED_ENCRYPTION_METHOD") {
			t.Errorf("emi %s: %s %q, want accepted=%v", v, r.reason, r.msg, ok)
		}
	}
}
