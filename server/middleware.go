package server

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"

	keyserverv1 "github.com/keyserver/keyserver/gen/keyserver/v1"
)

// maxCorrelationIDBytes bounds x-correlation-id (api.md).
const maxCorrelationIDBytes = 68

type ctxKey int

const correlationKey ctxKey = iota

// correlationID returns the request's correlation id, or "".
func correlationID(ctx context.Context) string {
	id, _ := ctx.Value(correlationKey).(string)
	return id
}

// httpMiddleware gives every REST request a correlation id (the client's,
// if valid, else a new UUID), echoes it, and forwards it to gRPC.
func (s *Server) httpMiddleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(headerCorrelationID)
		if len(id) > maxCorrelationIDBytes {
			writeJSONError(w, http.StatusBadRequest, keyserverv1.Status_INVALID_REQUEST,
				"x-correlation-id: is longer than 68 bytes")
			return
		}
		if id == "" {
			id = uuid.NewString()
			r.Header.Set(headerCorrelationID, id)
		}
		w.Header().Set("X-Correlation-Id", id)
		if r.URL.Path != "/healthz" && !s.restTokenOK(w, r, id) {
			return
		}
		next.ServeHTTP(w, r)
	})
}

// restTokenOK checks a REST request's token before the gateway reads its
// body (the gRPC interceptor checks it again, with the tenant). A refusal
// is answered and logged here.
func (s *Server) restTokenOK(w http.ResponseWriter, r *http.Request, id string) bool {
	start := time.Now()
	_, _, err := s.auth.authenticate(r.Header.Values(headerAuthorization))
	if err == nil {
		return true
	}
	st, _ := toStatus(err)
	// Logged before answering, like the gRPC interceptor does.
	s.log.LogAttrs(r.Context(), slog.LevelInfo, "request",
		slog.String("method", r.Method+" "+clip(r.URL.Path)),
		slog.String("correlation_id", id),
		slog.String("code", st.Code().String()),
		slog.String("status", reasonOf(st).String()),
		slog.Duration("duration", time.Since(start)))
	writeError(r.Context(), nil, nil, w, r, st.Err())
	return false
}

// unaryInterceptor runs around every RPC: correlation id, error
// translation and the one log line per request.
func (s *Server) unaryInterceptor(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	start := time.Now()
	var id string
	if v := metadata.ValueFromIncomingContext(ctx, headerCorrelationID); len(v) > 0 {
		id = v[0]
	}
	if len(id) > maxCorrelationIDBytes {
		return nil, newStatus(keyserverv1.Status_INVALID_REQUEST, headerCorrelationID, "x-correlation-id: is longer than 68 bytes").Err()
	}
	if id == "" {
		id = uuid.NewString()
	}
	if _, rest := grpc.ServerTransportStreamFromContext(ctx).(*runtime.ServerTransportStream); !rest {
		// gRPC answers carry the id as a header. A REST call's id is
		// already echoed by httpMiddleware, and the gateway forwards no
		// gRPC header: setting it there only cost three map copies.
		_ = grpc.SetHeader(ctx, metadata.MD{headerCorrelationID: {id}}) // the key is lower case
	}
	ctx = context.WithValue(ctx, correlationKey, id)

	resp, err := handler(ctx, req)
	code := codes.OK
	reason := keyserverv1.Status_OK
	if err != nil {
		st, internal := toStatus(err)
		if internal {
			logInternal(ctx, s.log, info.FullMethod, err)
		}
		code, reason, err = st.Code(), reasonOf(st), st.Err()
	}
	attrs := make([]slog.Attr, 0, 7) // room for tenant and content_id: one allocation
	attrs = append(attrs,
		slog.String("method", info.FullMethod),
		slog.String("correlation_id", id),
		slog.String("code", code.String()),
		slog.String("status", reason.String()),
		slog.Duration("duration", time.Since(start)),
	)
	if r, ok := req.(*keyserverv1.GetKeyAndSignalizationRequest); ok {
		tenant := r.GetTenantId()
		if tenant == "" {
			tenant = s.cfg.DefaultTenant
		}
		attrs = append(attrs, slog.String("tenant", clip(tenant)), slog.String("content_id", clip(r.GetDrmContent().GetDrmContentId())))
	}
	s.log.LogAttrs(ctx, slog.LevelInfo, "request", attrs...)
	return resp, err
}
