package app_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyserver/keyserver/app"
	"github.com/keyserver/keyserver/internal/testkit"

	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/keyserver/keyserver/app/apptest"
	keyserverv1 "github.com/keyserver/keyserver/gen/keyserver/v1"
	"github.com/keyserver/keyserver/keystore"
	"github.com/keyserver/keyserver/keystore/boltstore"
	"github.com/keyserver/keyserver/server"
)

// gatedStore is the real bbolt store behind a gate: GetOrCreate announces
// itself on arrived, then waits until the gate opens (or its context ends)
// before it reaches the store. It lets a test hold requests in flight.
type gatedStore struct {
	*boltstore.Bolt
	arrived chan struct{}
	open    chan struct{}
}

func (g *gatedStore) GetOrCreate(ctx context.Context, req keystore.Request) (keystore.Record, bool, error) {
	g.arrived <- struct{}{}
	select {
	case <-g.open:
	case <-ctx.Done():
		return keystore.Record{}, false, ctx.Err()
	}
	return g.Bolt.GetOrCreate(ctx, req)
}

func openGated(t *testing.T) *gatedStore {
	t.Helper()
	b, _ := testkit.NewBolt(t)
	return &gatedStore{Bolt: b, arrived: make(chan struct{}, 1024), open: make(chan struct{})}
}

func waitArrivals(t *testing.T, g *gatedStore, n int) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for i := 0; i < n; i++ {
		select {
		case <-g.arrived:
		case <-deadline:
			t.Fatalf("only %d of %d requests reached the store", i, n)
		}
	}
}

// TestLimits_Flood holds MaxInFlight requests in the store, floods the
// server over both transports, and checks that every excess request is
// refused while those are still held (so without waiting for a slot), that
// health checks still answer, and that the held requests and later ones
// are served.
func TestLimits_Flood(t *testing.T) {
	const bound, flood = 4, 64
	g := openGated(t)
	clk := &clock{t: t0}
	env := apptest.Start(t, app.Config{Store: g, DefaultTenant: "NAG0000", Now: clk.Now,
		Limits: app.Limits{MaxInFlight: bound}})

	held := make(chan result, bound)
	for i := 0; i < bound; i++ {
		go func() {
			tr := transports[i%2]
			held <- tr.call(t, env, "NAG0000", newReq("held-"+tr.name, vod, 0, "WV"))
		}()
	}
	waitArrivals(t, g, bound)

	var wg sync.WaitGroup
	rejected := make(chan result, flood)
	for i := 0; i < flood; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tr := transports[i%2]
			rejected <- tr.call(t, env, "NAG0000", newReq("flood", vod, 0, "WV"))
		}()
	}
	wg.Wait() // all answered while the bound is still taken
	close(rejected)
	n := 0
	for r := range rejected {
		n++
		if r.reason != "UNAVALAIBLE_SERVICE" || (r.httpCode != 0 && r.httpCode != http.StatusServiceUnavailable) ||
			(r.httpCode == 0 && r.code != codes.Unavailable) {
			t.Fatalf("excess request: %s %v HTTP %d %q", r.reason, r.code, r.httpCode, r.msg)
		}
		if !strings.Contains(r.msg, "in flight") {
			t.Errorf("refusal %q does not say why", r.msg)
		}
	}
	if n != flood {
		t.Fatalf("%d answers, want %d", n, flood)
	}
	select {
	case <-g.arrived:
		t.Fatal("a request beyond the bound reached the store")
	default:
	}
	hc, err := healthpb.NewHealthClient(env.Conn).Check(context.Background(), &healthpb.HealthCheckRequest{})
	if err != nil || hc.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("health check during overload: %v %v", hc, err)
	}

	close(g.open)
	for i := 0; i < bound; i++ {
		mustOK(t, <-held)
	}
	for _, tr := range transports {
		mustOK(t, tr.call(t, env, "NAG0000", newReq("after-"+tr.name, vod, 0, "WV")))
	}
	recs, err := g.Records(context.Background(), "NAG0000")
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 4 { // held-grpc, held-rest, after-grpc, after-rest
		t.Errorf("%d records, want 4 (no refused request stored anything)", len(recs))
	}
}

// TestLimits_RequestDeadline: a request held in the store past
// RequestTimeout ends with a deadline error instead of hanging, and
// stores nothing.
func TestLimits_RequestDeadline(t *testing.T) {
	g := openGated(t)
	env := apptest.Start(t, app.Config{Store: g, DefaultTenant: "NAG0000",
		Limits: app.Limits{RequestTimeout: 50 * time.Millisecond}})
	_, err := env.Client.GetKeyAndSignalization(context.Background(),
		&keyserverv1.GetKeyAndSignalizationRequest{TenantId: "NAG0000", DrmContent: newReq("slow", vod, 0).DrmContent})
	if status.Code(err) != codes.DeadlineExceeded {
		t.Errorf("gRPC: %v, want DeadlineExceeded", err)
	}
	r := postJSON(t, env, "NAG0000", `{"drmContent":{"drmContentId":"slow","profile":{"distributionMode":"VOD"}}}`, nil)
	if r.reason != "UNAVALAIBLE_SERVICE" || r.httpCode != http.StatusGatewayTimeout {
		t.Errorf("REST: %s HTTP %d %q, want UNAVALAIBLE_SERVICE / 504", r.reason, r.httpCode, r.msg)
	}
	recs, err := g.Records(context.Background(), "NAG0000")
	if err != nil || len(recs) != 0 {
		t.Errorf("records after timeouts: %d, %v", len(recs), err)
	}
}

// TestLimits_MessageSize: a chunked REST body (no Content-Length) over
// the limit and an oversize gRPC message are refused; nothing is stored.
func TestLimits_MessageSize(t *testing.T) {
	env, _ := start(t)
	pad := strings.Repeat("p", server.DefaultMaxBodyBytes)
	body := `{"drmContent":{"drmContentId":"big","profile":{"distributionMode":"VOD"}},"pad":"` + pad + `"}`
	// io.MultiReader hides the length: the request is sent chunked.
	hr, err := http.NewRequest(http.MethodPost, env.HTTPURL+"/NAG0000/ckm/v1/keyAndSignalization",
		io.MultiReader(strings.NewReader(body)))
	if err != nil {
		t.Fatal(err)
	}
	res, err := env.HTTP.Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusRequestEntityTooLarge || !bytes.Contains(b, []byte(`"INVALID_REQUEST"`)) ||
		!bytes.Contains(b, []byte("request body exceeds 65536 bytes")) {
		t.Errorf("chunked oversize body: HTTP %d %s", res.StatusCode, b)
	}

	req := newReq("big", vod, 0, strings.Repeat("W", server.DefaultMaxMessageBytes))
	req.TenantId = "NAG0000"
	_, err = env.Client.GetKeyAndSignalization(context.Background(), req)
	if status.Code(err) != codes.ResourceExhausted {
		t.Errorf("oversize gRPC message: %v, want ResourceExhausted", err)
	}
	assertStoreEmpty(t, env, "NAG0000")
}

func TestLimits_Validate(t *testing.T) {
	_, err := app.New(app.Config{Store: openGated(t), Limits: app.Limits{MaxInFlight: -1}})
	if err == nil || !strings.Contains(err.Error(), "limits") {
		t.Errorf("negative limit: %v", err)
	}
}
