package server

// Liveness and readiness.
//
//   - GET /livez: the process is alive and answering HTTP: always 200
//     {"status":"SERVING"} while the listener serves. Restarting the
//     process is the remedy when it fails.
//   - GET /readyz: ready for all traffic, new keys included: 200
//     {"status":"SERVING"}; otherwise, and while shutting down, 503
//     {"status":"NOT_SERVING","reason":"…"}. Taking the server out of a
//     load balancer's pool is the remedy.
//   - GET /healthz and the gRPC health service's overall status ("") and
//     front-end services (keyserver.v1.KeyService): serving requests at
//     all. They stay SERVING while only new keys are refused (the key
//     store is read-only: stored keys are still served) and go
//     NOT_SERVING when nothing can be served (store unreachable) and at
//     shutdown.
//   - The gRPC health service name "readiness" ([ReadinessService]) is
//     /readyz over gRPC.
//
// The back-end's state comes from Config.Readiness (package app asks the
// key store). It is read at every check and once a second in the
// background, which keeps the gRPC health Watch streams current and lets
// a store recover (a read-only store retries writing from its probe) when
// no request for a new key reaches this server any more.

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/keyserver/keyserver/access"
)

// ReadinessService is the gRPC health service name whose status is
// /readyz's: SERVING when ready for all traffic, new keys included.
const ReadinessService = "readiness"

// Readiness is what the server's back-end can serve now.
type Readiness uint8

const (
	// Ready: all traffic.
	Ready Readiness = iota
	// ServingExisting: requests for existing keys only; new keys are
	// refused (a read-only key store). Alive and healthy, not ready.
	ServingExisting
	// NotServing: no request can be served (the key store is unreachable).
	NotServing
)

// readinessInterval is how often the background refresh reads the
// back-end's state.
const readinessInterval = time.Second

// readiness is the last state the health statuses were set from.
type readiness struct {
	mu       sync.Mutex
	level    Readiness
	reason   string
	stopped  bool // shutting down: statuses stay NOT_SERVING
	services []string
}

// refreshReadiness reads the back-end's state and, when it changed, sets
// the health statuses and logs the change. It returns the state.
func (s *Server) refreshReadiness() (Readiness, string) {
	level, reason := Ready, ""
	if s.cfg.Readiness != nil {
		level, reason = s.cfg.Readiness()
	}
	r := &s.ready
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped {
		return NotServing, "shutting down"
	}
	if level == r.level && reason == r.reason {
		return level, reason
	}
	r.level, r.reason = level, reason
	overall, ready := healthpb.HealthCheckResponse_SERVING, healthpb.HealthCheckResponse_SERVING
	if level != Ready {
		ready = healthpb.HealthCheckResponse_NOT_SERVING
	}
	if level == NotServing {
		overall = healthpb.HealthCheckResponse_NOT_SERVING
	}
	s.health.SetServingStatus("", overall)
	for _, name := range r.services {
		s.health.SetServingStatus(name, overall)
	}
	s.health.SetServingStatus(ReadinessService, ready)
	if level == Ready {
		s.log.Info("ready for all traffic again")
	} else {
		s.log.Warn("not ready for all traffic", slog.String("reason", reason), slog.Bool("serving_existing_keys", level == ServingExisting))
	}
	return level, reason
}

// watchReadiness refreshes the state every readinessInterval until ctx is
// done.
func (s *Server) watchReadiness(ctx context.Context) {
	t := time.NewTicker(readinessInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.refreshReadiness()
		}
	}
}

// stopReadiness marks the server as shutting down: every status goes
// NOT_SERVING and stays so.
func (s *Server) stopReadiness() {
	s.ready.mu.Lock()
	s.ready.stopped = true
	s.ready.mu.Unlock()
	s.health.Shutdown()
}

// healthService is the gRPC health service, answering Check from the
// back-end's current state.
type healthService struct {
	*health.Server
	s *Server
}

// Check implements healthpb.HealthServer.
func (h healthService) Check(ctx context.Context, req *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	h.s.refreshReadiness()
	return h.Server.Check(ctx, req)
}

// livez answers GET /livez: 200 while the process answers HTTP.
func (s *Server) livez(w http.ResponseWriter, r *http.Request) {
	note := access.FromContext(r.Context())
	note.FrontEnd, note.Method, note.Status = "health", "GET /livez", "SERVING"
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(`{"status":"SERVING"}` + "\n"))
}

// readyz answers GET /readyz: 200 when ready for all traffic, else 503
// with the reason.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	note := access.FromContext(r.Context())
	note.FrontEnd, note.Method = "health", "GET /readyz"
	level, reason := s.refreshReadiness()
	w.Header().Set("Content-Type", "application/json")
	if level == Ready {
		note.Status = "SERVING"
		_, _ = w.Write([]byte(`{"status":"SERVING"}` + "\n"))
		return
	}
	note.Status, note.HTTPCode = "NOT_SERVING", http.StatusServiceUnavailable
	w.WriteHeader(http.StatusServiceUnavailable)
	_, _ = w.Write([]byte(`{"status":"NOT_SERVING","reason":` + strconv.Quote(reason) + "}\n"))
}

// route is one of the server's own REST routes.
type route struct {
	pattern string // "GET /livez"
	handler http.HandlerFunc
}

// ownRoutes are the REST routes the server serves itself, outside the
// front-ends' chain (no in-flight bound, no token); openapi.json
// describes them.
func (s *Server) ownRoutes() []route {
	return []route{
		{"GET /healthz", s.healthz},
		{"GET /livez", s.livez},
		{"GET /readyz", s.readyz},
		{"GET /openapi.json", s.openAPI}, // openapi.go
	}
}
