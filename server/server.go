// Package server wires the listeners: gRPC and HTTP (REST), TLS, the
// health service (gRPC and GET /healthz), a mount table of front-ends,
// and one generic chain applied to every front-end (chain.go: correlation
// id, body and in-flight bounds, request deadline, one access-log line
// per request, refusals included). It knows no protocol: front-ends
// (package frontend/…) are given to it as Mounts and GRPCServices by
// package app, and render the chain's refusals themselves.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"

	"github.com/keyserver/keyserver/access"
	"github.com/keyserver/keyserver/internal/httpx"
)

// Server serves the mounted front-ends over gRPC and HTTP.
type Server struct {
	cfg    Config
	log    *slog.Logger
	grpc   *grpc.Server
	health *health.Server
	limit  *limiter
	http   http.Handler
	ready  readiness // health.go
	// openapi is the document GET /openapi.json serves (openapi.go).
	openapi []byte
}

// New validates cfg and builds a Server. It does not listen yet.
func New(cfg Config) (*Server, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cfg.Limits = cfg.Limits.withDefaults()
	s := &Server{cfg: cfg, log: cfg.Logger, health: health.NewServer(), limit: newLimiter(cfg.Limits)}
	opts := []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(s.unary),
		grpc.MaxRecvMsgSize(cfg.Limits.MaxMessageBytes),
		// Bounds against clients that open streams and never finish
		// sending (chain.go, tap): per connection, at most MaxStreams
		// streams; every front-end stream holds an in-flight slot and runs
		// under the request deadline from its first header, before its
		// message has arrived; a connection must finish its handshake
		// within ReadHeaderTimeout and is closed after IdleTimeout without
		// a stream.
		grpc.MaxConcurrentStreams(uint32(cfg.Limits.MaxStreams)),
		grpc.InTapHandle(s.tap),
		grpc.ConnectionTimeout(cfg.Limits.ReadHeaderTimeout),
		grpc.KeepaliveParams(keepalive.ServerParameters{MaxConnectionIdle: cfg.Limits.IdleTimeout}),
		// Static flow-control windows. Requests are small and bounded by
		// MaxMessageBytes, so growing the receive window buys nothing;
		// dynamic windows (BDP estimation) cost a PING, its ack and a
		// WINDOW_UPDATE, each its own write and wake-up, on almost every
		// request of a connection that carries one request at a time, as
		// an encoder's does.
		grpc.StaticStreamWindowSize(int32(max(64<<10, cfg.Limits.MaxMessageBytes+5))),
		grpc.StaticConnWindowSize(1 << 20),
	}
	if cfg.TLS.Enabled() {
		opts = append(opts, grpc.Creds(credentials.NewTLS(cfg.TLS.serverConfig())))
	}
	for _, g := range cfg.GRPC {
		if g.Codec != nil {
			opts = append(opts, grpc.ForceServerCodecV2(g.Codec))
		}
	}
	s.grpc = grpc.NewServer(opts...)
	healthpb.RegisterHealthServer(s.grpc, healthService{s.health, s})
	reflection.Register(s.grpc)
	s.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	s.health.SetServingStatus(ReadinessService, healthpb.HealthCheckResponse_SERVING)
	for _, g := range cfg.GRPC {
		g.Register(s.grpc)
		s.health.SetServingStatus(g.ServiceName, healthpb.HealthCheckResponse_SERVING)
		s.ready.services = append(s.ready.services, g.ServiceName)
	}
	s.refreshReadiness()
	doc, err := s.buildOpenAPI()
	if err != nil {
		return nil, err
	}
	s.openapi = doc
	h, err := s.httpHandler()
	if err != nil {
		return nil, err
	}
	s.http = h
	return s, nil
}

// httpHandler builds the mux: the server's own routes (/healthz, /livez,
// /readyz), every mount's patterns behind the chain, 405 with Allow for
// other methods on a mounted path, 404 for the rest; the whole behind
// logHTTP.
func (s *Server) httpHandler() (http.Handler, error) {
	mux := http.NewServeMux()
	allow := map[string][]string{}
	for _, r := range s.ownRoutes() {
		mux.HandleFunc(r.pattern, r.handler)
		_, path, _ := strings.Cut(r.pattern, " ")
		allow[path] = []string{"GET", "HEAD"}
	}
	for i := range s.cfg.HTTP {
		m := &s.cfg.HTTP[i]
		h := s.mount(m)
		for _, p := range m.Patterns {
			method, path, ok := strings.Cut(p, " ")
			if !ok || method == "" || !strings.HasPrefix(path, "/") {
				return nil, fmt.Errorf("server: mount %s: pattern %q needs a method and a path", m.Name, p)
			}
			if err := handle(mux, p, h); err != nil {
				return nil, fmt.Errorf("server: mount %s: %w", m.Name, err)
			}
			allow[path] = append(allow[path], method)
		}
	}
	for path, methods := range allow {
		sort.Strings(methods)
		if err := handle(mux, path, methodNotAllowed(strings.Join(methods, ", "))); err != nil {
			return nil, fmt.Errorf("server: %w", err)
		}
	}
	mux.HandleFunc("/", notFound)
	return s.logHTTP(mux), nil
}

// handle registers h on mux, turning the mux's panic on a conflicting
// pattern into an error.
func handle(mux *http.ServeMux, pattern string, h http.Handler) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("pattern %q: %v", pattern, r)
		}
	}()
	mux.Handle(pattern, h)
	return nil
}

// Serve serves gRPC on grpcLis and REST on httpLis until ctx is done, then
// shuts down gracefully: no new requests are accepted, in-flight requests
// finish (bounded by shutdownTimeout), and Serve returns. The caller closes
// the store after Serve returns.
func (s *Server) Serve(ctx context.Context, grpcLis, httpLis net.Listener) error {
	errc := make(chan error, 2)
	go func() { errc <- s.grpc.Serve(grpcLis) }()
	rctx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	go s.watchReadiness(rctx)

	hs := &http.Server{
		Handler:           s.http,
		ReadHeaderTimeout: s.cfg.Limits.ReadHeaderTimeout,
		ReadTimeout:       s.cfg.Limits.ReadTimeout,
		IdleTimeout:       s.cfg.Limits.IdleTimeout,
		ConnContext:       httpx.WithConn,
	}
	if s.cfg.TLS.Enabled() {
		hs.TLSConfig = s.cfg.TLS.serverConfig()
		httpLis = tls.NewListener(httpLis, hs.TLSConfig)
	}
	go func() { errc <- hs.Serve(httpLis) }()

	select {
	case <-ctx.Done():
	case err := <-errc:
		// A listener failed: stop everything and report it.
		_ = hs.Close()
		s.grpc.Stop()
		return fmt.Errorf("server: %w", err)
	}
	stopWatch()
	s.stopReadiness()
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	done := make(chan struct{})
	go func() { s.grpc.GracefulStop(); close(done) }()
	herr := hs.Shutdown(sctx) // waits for in-flight REST requests
	select {
	case <-done:
	case <-sctx.Done():
		s.grpc.Stop()
	}
	if herr != nil && !errors.Is(herr, http.ErrServerClosed) {
		return fmt.Errorf("server: http shutdown: %w", herr)
	}
	return nil
}

// shutdownTimeout bounds how long in-flight requests may take at shutdown.
const shutdownTimeout = 20 * time.Second

// healthz answers GET /healthz with the health service's status: 200
// while serving, 503 once shutting down or when nothing can be served
// (health.go). It is the REST baseline of
// cmd/keybench: the HTTP transport and the chain, without a front-end's
// work.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	note := access.FromContext(r.Context())
	note.FrontEnd, note.Method = "health", "GET /healthz"
	s.refreshReadiness()
	st := healthpb.HealthCheckResponse_NOT_SERVING
	if resp, err := s.health.Check(r.Context(), &healthpb.HealthCheckRequest{}); err == nil {
		st = resp.GetStatus()
	}
	note.Status = st.String()
	w.Header().Set("Content-Type", "application/json")
	if st != healthpb.HealthCheckResponse_SERVING {
		note.HTTPCode = http.StatusServiceUnavailable
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	_, _ = w.Write([]byte(`{"status":"` + st.String() + `"}` + "\n"))
}
