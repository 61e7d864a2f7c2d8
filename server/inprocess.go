package server

import (
	"context"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"

	keyserverv1 "github.com/keyserver/keyserver/gen/keyserver/v1"
)

// interceptors returns the interceptors that run around every request, in
// this order, whichever listener it came in on: unaryInterceptor
// (correlation id, error translation, the log line) wraps limitInterceptor
// (in-flight bound, deadline, limits.go) and authInterceptor, which
// rejects before any other work. New builds the list once (s.ics): the
// gRPC server chains it (grpc.ChainUnaryInterceptor), and REST requests
// call the services in process through intercept, so the same list runs
// for both and neither can drift from the other.
func (s *Server) interceptors() []grpc.UnaryServerInterceptor {
	return []grpc.UnaryServerInterceptor{s.unaryInterceptor, s.limitInterceptor, s.authInterceptor}
}

// intercept runs handler behind s.ics, as the gRPC server does for a
// request to info.FullMethod.
func (s *Server) intercept(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	return chainFrom(s.ics, 0, info, handler)(ctx, req)
}

func chainFrom(ics []grpc.UnaryServerInterceptor, i int, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) grpc.UnaryHandler {
	if i == len(ics) {
		return handler
	}
	return func(ctx context.Context, req any) (any, error) {
		return ics[i](ctx, req, info, chainFrom(ics, i+1, info, handler))
	}
}

// restKeyService is the KeyService REST requests call in process, from
// keyRoute or the generated gateway handler (restkey.go): each call goes
// through the interceptors exactly as a gRPC call to the same method does.
// The caller has already put the request's x-correlation-id and
// nv-authorizations headers into the incoming metadata, and a
// runtime.ServerTransportStream into ctx (which marks the call as REST).
type restKeyService struct {
	keyserverv1.UnimplementedKeyServiceServer
	s  *Server
	ks keyserverv1.KeyServiceServer
}

var infoGetKey = &grpc.UnaryServerInfo{FullMethod: keyserverv1.KeyService_GetKeyAndSignalization_FullMethodName}

func (r *restKeyService) GetKeyAndSignalization(ctx context.Context, req *keyserverv1.GetKeyAndSignalizationRequest) (*keyserverv1.GetKeyAndSignalizationResponse, error) {
	resp, err := r.s.intercept(ctx, req, infoGetKey, func(ctx context.Context, req any) (any, error) {
		return r.ks.GetKeyAndSignalization(ctx, req.(*keyserverv1.GetKeyAndSignalizationRequest))
	})
	if err != nil {
		return nil, err
	}
	return resp.(*keyserverv1.GetKeyAndSignalizationResponse), nil
}

var infoHealthCheck = &grpc.UnaryServerInfo{FullMethod: healthpb.Health_Check_FullMethodName}

// checkHealth asks the health service for the server's status as a gRPC
// health check does, through the interceptors, with the request's
// correlation id (GET /healthz).
func (s *Server) checkHealth(ctx context.Context, correlationID string) healthpb.HealthCheckResponse_ServingStatus {
	ctx = restCallContext(ctx, metadata.MD{headerCorrelationID: {correlationID}})
	resp, err := s.intercept(ctx, &healthpb.HealthCheckRequest{}, infoHealthCheck, func(ctx context.Context, req any) (any, error) {
		return s.health.Check(ctx, req.(*healthpb.HealthCheckRequest))
	})
	if err != nil {
		return healthpb.HealthCheckResponse_NOT_SERVING
	}
	return resp.(*healthpb.HealthCheckResponse).GetStatus()
}

// restCallContext is ctx for a REST request's in-process call: md as the
// incoming metadata, and a runtime.ServerTransportStream, which takes any
// gRPC header set and marks the call as REST for unaryInterceptor.
func restCallContext(ctx context.Context, md metadata.MD) context.Context {
	ctx = metadata.NewIncomingContext(ctx, md)
	return grpc.NewContextWithServerTransportStream(ctx, new(runtime.ServerTransportStream))
}
