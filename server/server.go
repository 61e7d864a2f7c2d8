// Package server is where the domain packages meet: the gRPC KeyService,
// the REST gateway in front of it, request validation, the one error
// translation, correlation ids and request logging.
//
// REST requests call the services in process, through the same
// interceptors the gRPC server chains (inprocess.go), so every one of them
// runs for REST and gRPC alike. The key route is served by keyRoute
// (restkey.go) on grpc-gateway's mux, with the generated gateway handler as
// its reference.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"

	keyserverv1 "github.com/keyserver/keyserver/gen/keyserver/v1"
)

// Server serves the key API over gRPC and REST.
type Server struct {
	cfg    Config
	log    *slog.Logger
	grpc   *grpc.Server
	health *health.Server
	auth   *authenticator
	limit  *limiter
	ics    []grpc.UnaryServerInterceptor // interceptors(), gRPC and REST alike
	keys   *keyService
	sigs   *sigCache // the key service's built signaling, shared with the codec and the REST JSON writer
}

// New validates cfg and builds a Server. It does not listen yet.
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cfg.Limits = cfg.Limits.withDefaults()
	s := &Server{cfg: cfg, log: cfg.Logger, health: health.NewServer(), auth: newAuthenticator(cfg.Auth, cfg.Now), limit: newLimiter(cfg.Limits)}
	s.ics = s.interceptors()
	opts := []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(s.ics...),
		grpc.MaxRecvMsgSize(cfg.Limits.MaxMessageBytes),
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
	ks := &keyService{cfg: &s.cfg, now: cfg.Now}
	s.keys = ks
	s.sigs = &ks.sigs
	opts = append(opts, grpc.ForceServerCodecV2(newSigCodec(s.sigs)))
	s.grpc = grpc.NewServer(opts...)
	keyserverv1.RegisterKeyServiceServer(s.grpc, ks)
	healthpb.RegisterHealthServer(s.grpc, s.health)
	reflection.Register(s.grpc)
	s.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	s.health.SetServingStatus(keyserverv1.KeyService_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	return s, nil
}

// Serve serves gRPC on grpcLis and REST on httpLis until ctx is done, then
// shuts down gracefully: no new requests are accepted, in-flight requests
// finish (bounded by shutdownTimeout), and Serve returns. The caller closes
// the store after Serve returns.
func (s *Server) Serve(ctx context.Context, grpcLis, httpLis net.Listener) error {
	errc := make(chan error, 2)
	go func() { errc <- s.grpc.Serve(grpcLis) }()

	gw, err := newRESTMux(ctx, s.sigs, &restKeyService{s: s, ks: s.keys})
	if err != nil {
		s.grpc.Stop()
		return fmt.Errorf("server: gateway: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /healthz", http.HandlerFunc(s.healthz))
	wv := &widevineHandler{cfg: &s.cfg, log: s.log} // widevine.go
	mux.Handle("POST /widevine/cenc", wv)
	mux.Handle("POST /{tenantId}/widevine/cenc", wv)
	mux.Handle("/", gw)
	hs := &http.Server{
		Handler:           s.httpMiddleware(s.limitBody(mux)),
		ReadHeaderTimeout: s.cfg.Limits.ReadHeaderTimeout,
		ReadTimeout:       s.cfg.Limits.ReadTimeout,
		IdleTimeout:       s.cfg.Limits.IdleTimeout,
		ConnContext:       withConn, // answer.go
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
	s.health.Shutdown()
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

// healthz answers GET /healthz with the health service's status, asked
// as a gRPC health check is, through the same interceptors (the
// request's correlation id, its log line) every REST request goes
// through: 200 while serving, 503 once shutting down. It is the REST
// baseline of cmd/keybench: the HTTP transport and the interceptors,
// without a key service's work.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	st := s.checkHealth(r.Context(), r.Header.Get(headerCorrelationID))
	w.Header().Set("Content-Type", "application/json")
	if st != healthpb.HealthCheckResponse_SERVING {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	_, _ = w.Write([]byte(`{"status":"` + st.String() + `"}` + "\n"))
}
