package app_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/keyserver/keyserver/app"
	"github.com/keyserver/keyserver/internal/testkit"

	"github.com/google/uuid"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	keyserverv1 "github.com/keyserver/keyserver/gen/keyserver/v1"
)

func withDebugLog(buf *testkit.LogSink) func(*app.Config) {
	return func(c *app.Config) { c.Logger = buf.TextLogger() }
}

// encodings are the ways a secret could show up in a log.
func encodings(raw []byte) []string {
	return []string{
		string(raw),
		base64.StdEncoding.EncodeToString(raw),
		base64.RawStdEncoding.EncodeToString(raw),
		base64.RawURLEncoding.EncodeToString(raw),
		hex.EncodeToString(raw),
		strings.ToUpper(hex.EncodeToString(raw)),
	}
}

// TestLogging_NoSecrets runs accepted and rejected requests with tokens,
// generated and supplied keys through both transports with debug logging
// on, and checks that no token, signing key, content key or IV is in the
// captured log.
func TestLogging_NoSecrets(t *testing.T) {
	var logs testkit.LogSink
	f := startAuth(t, true, withDebugLog(&logs))
	var secrets []string
	secret := func(raw []byte) { secrets = append(secrets, encodings(raw)...) }
	secretToken := func(tok string) {
		secrets = append(secrets, tok)
		for _, seg := range strings.Split(tok, ".") {
			if len(seg) > 0 {
				secrets = append(secrets, seg)
			}
		}
	}
	secret(f.keyA)
	secret(f.keyB)
	secret(f.keyNoPriv)
	keyOfResp := func(ck *keyserverv1.ContentKey) {
		for _, v := range []string{ck.GetKey(), ck.GetIv()} {
			raw, err := base64.StdEncoding.DecodeString(v)
			if err != nil || len(raw) != 16 {
				t.Fatalf("answer key/IV %q is not base64 of 16 bytes", v)
			}
			secret(raw)
		}
	}
	var ids []string
	for _, tr := range []string{"grpc", "rest"} {
		good := f.tokenA()
		secretToken(good)
		for _, req := range []*keyserverv1.GetKeyAndSignalizationRequest{
			newReq("log-vod-"+tr, keyserverv1.DistributionMode_VOD, 0, "WV", "PR", "PRM"),
			newReq("log-live-"+tr, keyserverv1.DistributionMode_LIVE, keyserverv1.StreamingMode_HLS),
		} {
			id := uuid.NewString()
			ids = append(ids, id)
			r := call(t, f.env, tr, "NAG0000", good, req, http.Header{"X-Correlation-Id": {id}})
			keyOfResp(mustOK(t, r).GetContentKey())
		}
		// A supplied key and IV.
		key, iv := make([]byte, 16), make([]byte, 16)
		_, _ = rand.Read(key)
		_, _ = rand.Read(iv)
		secret(key)
		secret(iv)
		sup := newReq("log-supplied-"+tr, keyserverv1.DistributionMode_VOD, 0, "WV")
		sup.ScheduledKey = &keyserverv1.ScheduledKey{ContentKey: &keyserverv1.ContentKey{
			KeyId: uuid.NewString(), Key: base64.StdEncoding.EncodeToString(key), Iv: base64.StdEncoding.EncodeToString(iv)}}
		mustOK(t, call(t, f.env, tr, "NAG0000", good, sup, nil))
		// Refused tokens: bad signature, expired, another tenant's.
		for _, bad := range []string{mint(f.credA, f.keyB, t0.Add(time.Hour)), mint(f.credA, f.keyA, t0.Add(-time.Hour)), f.tokenB(), "not-a-token"} {
			secretToken(bad)
			id := uuid.NewString()
			ids = append(ids, id)
			if r := call(t, f.env, tr, "NAG0000", bad, newReq("log-bad-"+tr, keyserverv1.DistributionMode_VOD, 0), http.Header{"X-Correlation-Id": {id}}); r.resp != nil {
				t.Fatalf("bad token accepted")
			}
		}
	}
	for _, id := range ids {
		logs.WaitFor(t, "correlation_id="+id) // REST lines are written as the request ends
	}
	out := logs.String()
	if !strings.Contains(out, "status=UNAUTHENTICATED") || !strings.Contains(out, "status=PERMISSION_DENIED") || !strings.Contains(out, "content_id=log-vod-grpc") {
		t.Errorf("log lacks the expected request lines:\n%s", out)
	}
	for _, s := range secrets {
		if len(s) >= 8 && strings.Contains(out, s) {
			t.Errorf("log holds a secret %q", s)
		}
	}
}

// TestCorrelation_GRPC: the client's id is echoed in the response metadata
// and logged; an absent id is generated (UUID); more than 68 bytes is
// INVALID_REQUEST. REST ids reach the gRPC log line through the gateway.
func TestCorrelation_GRPC(t *testing.T) {
	var logs testkit.LogSink
	f := startAuth(t, false, withDebugLog(&logs))
	send := func(id string) (string, result) {
		ctx := context.Background()
		if id != "" {
			ctx = metadata.AppendToOutgoingContext(ctx, "x-correlation-id", id)
		}
		var md metadata.MD
		_, err := f.env.Client.GetKeyAndSignalization(ctx, newReq("corr", keyserverv1.DistributionMode_VOD, 0), grpc.Header(&md))
		got := ""
		if v := md.Get("x-correlation-id"); len(v) == 1 {
			got = v[0]
		}
		r := result{}
		if err != nil {
			st := status.Convert(err)
			r.code, r.msg = st.Code(), st.Message()
			for _, d := range st.Details() {
				if info, ok := d.(*errdetails.ErrorInfo); ok {
					r.reason = info.Reason
				}
			}
		}
		return got, r
	}
	max := strings.Repeat("c", 68)
	for _, id := range []string{"abc-123", max} {
		got, r := send(id)
		if r.reason != "" || got != id {
			t.Errorf("id %q: echoed %q, error %s", id, got, r.msg)
		}
		if !strings.Contains(logs.String(), "correlation_id="+id) {
			t.Errorf("id %q not in the log", id)
		}
	}
	got, _ := send("")
	if u, err := uuid.Parse(got); err != nil || u.Version() != 4 {
		t.Errorf("generated id %q is not a random UUID", got)
	}
	if !strings.Contains(logs.String(), "correlation_id="+got) {
		t.Errorf("generated id %q not in the log", got)
	}
	if _, r := send(max + "c"); r.reason != "INVALID_REQUEST" || !strings.Contains(r.msg, "x-correlation-id") {
		t.Errorf("69-byte id: %s %q, want INVALID_REQUEST naming x-correlation-id", r.reason, r.msg)
	}
	// REST: the id goes through the gateway into the gRPC log line.
	id := "rest-" + uuid.NewString()
	r := call(t, f.env, "rest", "NAG0000", "", newReq("corr-rest", keyserverv1.DistributionMode_VOD, 0), http.Header{"X-Correlation-Id": {id}})
	mustOK(t, r)
	if r.header.Get("X-Correlation-Id") != id {
		t.Errorf("REST echoed %q", r.header.Get("X-Correlation-Id"))
	}
	line := logs.WaitFor(t, "correlation_id="+id)
	for _, want := range []string{"method=/keyserver.v1.KeyService/GetKeyAndSignalization", "tenant=NAG0000", "content_id=corr-rest", "status=OK", "duration="} {
		if !strings.Contains(line, want) {
			t.Errorf("REST request's log line %q lacks %s", line, want)
		}
	}
	// GET /healthz goes through the same chain, with the request's
	// correlation id, and is logged under its route.
	hid := "health-" + uuid.NewString()
	req, err := http.NewRequest(http.MethodGet, f.env.HTTPURL+"/healthz", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Correlation-Id", hid)
	res, err := f.env.HTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK || res.Header.Get("X-Correlation-Id") != hid {
		t.Errorf("/healthz: HTTP %d, correlation id %q", res.StatusCode, res.Header.Get("X-Correlation-Id"))
	}
	line = logs.WaitFor(t, "correlation_id="+hid)
	if !strings.Contains(line, `method="GET /healthz"`) || !strings.Contains(line, "status=SERVING") || !strings.Contains(line, "http_status=200") {
		t.Errorf("/healthz log line %q, want the route's, SERVING, with its correlation id", line)
	}
}
