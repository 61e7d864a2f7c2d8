package app_test

import (
	"context"
	"encoding/json"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/keyserver/keyserver/app"
	"github.com/keyserver/keyserver/app/apptest"
	"github.com/keyserver/keyserver/internal/testkit"
	"github.com/keyserver/keyserver/keystore"
	"github.com/keyserver/keyserver/server"
)

// stateStore is a real store whose reported state the test sets (a
// read-only or unreachable store without faking a filesystem; the real
// read-only bbolt file is cmd/keyserver's TestFaults_ReadOnlyReadiness).
type stateStore struct {
	keystore.Store
	state atomic.Uint32
}

func (s *stateStore) State() keystore.State { return keystore.State(s.state.Load()) }

// TestReadiness: /livez, /readyz, /healthz and the gRPC health service
// follow the key store's state: a read-only store keeps the server
// healthy (stored keys are served) but not ready (readyz 503, gRPC
// "readiness" NOT_SERVING); an unreachable one makes it unhealthy; every
// probe is logged under its route (issue 20).
func TestReadiness(t *testing.T) {
	bolt, _ := testkit.NewBolt(t)
	st := &stateStore{Store: bolt}
	var logs testkit.LogSink
	env := apptest.Start(t, app.Config{DefaultTenant: "NAG0000", Store: st, Logger: logs.TextLogger()})
	hc := healthpb.NewHealthClient(env.Conn)

	get := func(path string) (int, string) {
		t.Helper()
		res, err := env.HTTP.Get(env.HTTPURL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	grpcStatus := func(service string) healthpb.HealthCheckResponse_ServingStatus {
		t.Helper()
		resp, err := hc.Check(context.Background(), &healthpb.HealthCheckRequest{Service: service})
		if err != nil {
			t.Fatalf("health Check %q: %v", service, err)
		}
		return resp.GetStatus()
	}
	const serving, notServing = healthpb.HealthCheckResponse_SERVING, healthpb.HealthCheckResponse_NOT_SERVING
	type want struct {
		livez, readyz, healthz int
		overall, ready, keys   healthpb.HealthCheckResponse_ServingStatus
	}
	check := func(when string, w want) {
		t.Helper()
		if code, _ := get("/livez"); code != w.livez {
			t.Errorf("%s: /livez %d, want %d", when, code, w.livez)
		}
		code, body := get("/readyz")
		if code != w.readyz {
			t.Errorf("%s: /readyz %d %s, want %d", when, code, body, w.readyz)
		}
		var rb struct{ Status, Reason string }
		if err := json.Unmarshal([]byte(body), &rb); err != nil {
			t.Errorf("%s: /readyz body %q: %v", when, body, err)
		}
		if (code == 200) != (rb.Status == "SERVING") || (code != 200 && rb.Reason == "") {
			t.Errorf("%s: /readyz body %q", when, body)
		}
		if code, _ := get("/healthz"); code != w.healthz {
			t.Errorf("%s: /healthz %d, want %d", when, code, w.healthz)
		}
		if got := grpcStatus(""); got != w.overall {
			t.Errorf("%s: gRPC health \"\" %v, want %v", when, got, w.overall)
		}
		if got := grpcStatus(server.ReadinessService); got != w.ready {
			t.Errorf("%s: gRPC health %q %v, want %v", when, server.ReadinessService, got, w.ready)
		}
		if got := grpcStatus("keyserver.v1.KeyService"); got != w.keys {
			t.Errorf("%s: gRPC health KeyService %v, want %v", when, got, w.keys)
		}
	}
	ready := want{200, 200, 200, serving, serving, serving}
	check("writable", ready)

	// Watch "readiness" before the store changes: the background refresh
	// tells the stream without any Check.
	wctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	watch, err := hc.Watch(wctx, &healthpb.HealthCheckRequest{Service: server.ReadinessService})
	if err != nil {
		t.Fatal(err)
	}
	if m, err := watch.Recv(); err != nil || m.GetStatus() != serving {
		t.Fatalf("first watch message %v, %v", m, err)
	}
	st.state.Store(uint32(keystore.ReadOnly))
	if m, err := watch.Recv(); err != nil || m.GetStatus() != notServing {
		t.Fatalf("watch after the store went read-only: %v, %v", m, err)
	}

	check("read-only", want{200, 503, 200, serving, notServing, serving})
	if _, body := get("/readyz"); !strings.Contains(body, "read-only") {
		t.Errorf("/readyz does not say why: %s", body)
	}
	st.state.Store(uint32(keystore.Unreachable))
	check("unreachable", want{200, 503, 503, notServing, notServing, notServing})
	st.state.Store(uint32(keystore.Writable))
	check("writable again", ready)

	for _, route := range []string{"GET /livez", "GET /readyz", "GET /healthz"} {
		logs.WaitFor(t, `method="`+route+`"`, "front_end=health")
	}
	logs.WaitFor(t, "not ready for all traffic", "read-only")
}
