package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyserver/keyserver/app"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/keyserver/keyserver/app/apptest"
	keyserverv1 "github.com/keyserver/keyserver/gen/keyserver/v1"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

var t0 = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)

func start(t *testing.T) (*apptest.Env, *clock) {
	t.Helper()
	clk := &clock{t: t0}
	env := apptest.Start(t, app.Config{DefaultTenant: "NAG0000", Now: clk.Now})
	return env, clk
}

// result is one call's outcome, whichever the transport.
type result struct {
	resp     *keyserverv1.GetKeyAndSignalizationResponse
	reason   string // API status: OK or the error reason
	code     codes.Code
	httpCode int // REST only
	msg      string
	header   http.Header
}

type transport struct {
	name string
	call func(t *testing.T, env *apptest.Env, tenant string, req *keyserverv1.GetKeyAndSignalizationRequest) result
}

var transports = []transport{{"grpc", callGRPC}, {"rest", callREST}}

func callGRPC(t *testing.T, env *apptest.Env, tenant string, req *keyserverv1.GetKeyAndSignalizationRequest) result {
	t.Helper()
	return call(t, env, "grpc", tenant, "", req, nil)
}

func callREST(t *testing.T, env *apptest.Env, tenant string, req *keyserverv1.GetKeyAndSignalizationRequest) result {
	t.Helper()
	return call(t, env, "rest", tenant, "", req, nil)
}

// call sends req to tenant ("" = default tenant) over the transport with
// the nv-authorizations value token ("" = none) and extra headers.
func call(t *testing.T, env *apptest.Env, tr string, tenant, token string, req *keyserverv1.GetKeyAndSignalizationRequest, hdr http.Header) result {
	t.Helper()
	if hdr == nil {
		hdr = http.Header{}
	}
	if token != "" {
		hdr.Set("Nv-Authorizations", token)
	}
	if tr == "rest" {
		req.TenantId = ""
		body, err := protojson.Marshal(req)
		if err != nil {
			t.Fatal(err)
		}
		return postJSON(t, env, tenant, string(body), hdr)
	}
	ctx := context.Background()
	for k, vs := range hdr {
		for _, v := range vs {
			ctx = metadata.AppendToOutgoingContext(ctx, strings.ToLower(k), v)
		}
	}
	req.TenantId = tenant
	var md metadata.MD
	resp, err := env.Client.GetKeyAndSignalization(ctx, req, grpc.Header(&md))
	r := result{header: http.Header{}}
	for k, v := range md {
		r.header[http.CanonicalHeaderKey(k)] = v
	}
	if err == nil {
		r.resp, r.reason, r.code = resp, resp.GetStatus().String(), codes.OK
		return r
	}
	st := status.Convert(err)
	r.code, r.msg = st.Code(), st.Message()
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			r.reason = info.Reason
		}
	}
	if r.reason == "" {
		t.Fatalf("gRPC error without ErrorInfo: %v", err)
	}
	return r
}

// postJSON posts a raw body to the tenant's route ("" = the default-tenant
// route) and decodes the answer.
func postJSON(t *testing.T, env *apptest.Env, tenant, body string, hdr http.Header) result {
	t.Helper()
	url := env.HTTPURL + "/ckm/v1/keyAndSignalization"
	if tenant != "" {
		url = env.HTTPURL + "/" + tenant + "/ckm/v1/keyAndSignalization"
	}
	hr, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	hr.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		hr.Header[k] = v
	}
	res, err := env.HTTP.Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	r := result{httpCode: res.StatusCode, header: res.Header}
	if res.StatusCode == http.StatusOK {
		// Answers carry their length: one write, no chunked encoding.
		if res.ContentLength != int64(len(b)) || len(res.TransferEncoding) != 0 {
			t.Errorf("200 answer: Content-Length %d, Transfer-Encoding %q for %d body bytes", res.ContentLength, res.TransferEncoding, len(b))
		}
		resp := &keyserverv1.GetKeyAndSignalizationResponse{}
		if err := protojson.Unmarshal(b, resp); err != nil {
			t.Fatalf("decoding 200 body %s: %v", b, err)
		}
		r.resp, r.reason = resp, resp.GetStatus().String()
		return r
	}
	var eb struct {
		Status       string `json:"status"`
		ErrorMessage string `json:"errorMessage"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&eb); err != nil {
		t.Fatalf("error body %q is not {status, errorMessage}: %v", b, err)
	}
	r.reason, r.msg = eb.Status, eb.ErrorMessage
	return r
}

// newReq builds a request.
func newReq(contentID string, mode keyserverv1.DistributionMode, sm keyserverv1.StreamingMode, drms ...string) *keyserverv1.GetKeyAndSignalizationRequest {
	return &keyserverv1.GetKeyAndSignalizationRequest{
		DrmContent: &keyserverv1.DrmContent{
			DrmContentId: contentID,
			Profile:      &keyserverv1.Profile{DistributionMode: mode, StreamingMode: sm},
		},
		DrmList: drms,
	}
}

func withTime(r *keyserverv1.GetKeyAndSignalizationRequest, at time.Time) *keyserverv1.GetKeyAndSignalizationRequest {
	if r.ScheduledKey == nil {
		r.ScheduledKey = &keyserverv1.ScheduledKey{}
	}
	r.ScheduledKey.Time = at.Format(time.RFC3339Nano)
	return r
}

func mustOK(t *testing.T, r result) *keyserverv1.GetKeyAndSignalizationResponse {
	t.Helper()
	if r.reason != "OK" || r.resp == nil {
		t.Fatalf("want OK, got %s (%v, http %d): %s", r.reason, r.code, r.httpCode, r.msg)
	}
	return r.resp
}
