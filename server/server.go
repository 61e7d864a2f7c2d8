// Package server is where the domain packages meet: the gRPC KeyService,
// the REST gateway in front of it, request validation, the one error
// translation, correlation ids and request logging.
//
// The gateway is registered on a gRPC client connection to the server's own
// listener (never Register…HandlerServer), so every interceptor runs for
// REST and gRPC alike.
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
	"google.golang.org/grpc/credentials/insecure"
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
	sigs   *sigCache // the key service's built signaling, shared with the codecs
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
	// unaryInterceptor (correlation id, error translation, the log line)
	// wraps limitInterceptor (in-flight bound, deadline, limits.go) and
	// authInterceptor, which rejects before any other work.
	opts := []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(s.unaryInterceptor, s.limitInterceptor, s.authInterceptor),
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

	dialCreds := insecure.NewCredentials()
	if s.cfg.TLS.Enabled() {
		dialCreds = credentials.NewTLS(s.cfg.TLS.gatewayConfig())
	}
	// The gateway's one connection carries every REST request's answer:
	// static windows (no BDP PINGs), large enough for 64 KiB answers on
	// hundreds of streams at once.
	conn, err := grpc.NewClient(dialTarget(grpcLis.Addr()), grpc.WithTransportCredentials(dialCreds),
		grpc.WithDefaultCallOptions(grpc.ForceCodecV2(newSigCodec(s.sigs))),
		grpc.WithStaticStreamWindowSize(1<<20), grpc.WithStaticConnWindowSize(16<<20))
	if err != nil {
		s.grpc.Stop()
		return fmt.Errorf("server: gateway dial: %w", err)
	}
	defer conn.Close()
	gw := newGatewayMux(s.sigs)
	if err := keyserverv1.RegisterKeyServiceHandler(ctx, gw, conn); err != nil {
		s.grpc.Stop()
		return fmt.Errorf("server: gateway: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /healthz", healthzHandler(healthpb.NewHealthClient(conn)))
	wv := &widevineHandler{cfg: &s.cfg, log: s.log} // widevine.go
	mux.Handle("POST /widevine/cenc", wv)
	mux.Handle("POST /{tenantId}/widevine/cenc", wv)
	mux.Handle("/", gw)
	hs := &http.Server{
		Handler:           s.httpMiddleware(s.limitBody(mux)),
		ReadHeaderTimeout: s.cfg.Limits.ReadHeaderTimeout,
		ReadTimeout:       s.cfg.Limits.ReadTimeout,
		IdleTimeout:       s.cfg.Limits.IdleTimeout,
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
	herr := hs.Shutdown(sctx) // waits for in-flight REST requests (they need gRPC: stop it after)
	done := make(chan struct{})
	go func() { s.grpc.GracefulStop(); close(done) }()
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

func dialTarget(a net.Addr) string {
	if tcp, ok := a.(*net.TCPAddr); ok && tcp.IP.IsUnspecified() {
		return net.JoinHostPort("127.0.0.1", fmt.Sprint(tcp.Port))
	}
	return a.String()
}

// healthzHandler answers GET /healthz by asking the gRPC health service over
// the gateway's own connection: it proves the REST side can reach the gRPC
// side, turns 503 while shutting down, and costs what every REST request's
// transport costs (HTTP, the gateway's loopback gRPC hop, the interceptors)
// — which makes it the REST baseline of cmd/keybench.
func healthzHandler(hc healthpb.HealthClient) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		res, err := hc.Check(r.Context(), &healthpb.HealthCheckRequest{})
		st := healthpb.HealthCheckResponse_NOT_SERVING
		if err == nil {
			st = res.GetStatus()
		}
		w.Header().Set("Content-Type", "application/json")
		if st != healthpb.HealthCheckResponse_SERVING {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_, _ = w.Write([]byte(`{"status":"` + st.String() + `"}` + "\n"))
	})
}
