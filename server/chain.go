package server

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/keyserver/keyserver/access"
)

// The generic chain every request goes through, whichever front-end:
//
//   - correlation id: the client's x-correlation-id if it is at most 68
//     bytes, else a new UUID; echoed on the answer; an over-long one is
//     refused by the front-end (access.RefusedCorrelationID);
//   - for front-end routes: the body bound (access.RefusedTooLarge), the
//     in-flight bound (access.RefusedBusy), the request deadline;
//   - one access-log line per request, written when it ends, refusals
//     included, from the request's access.Note.
//
// Refusals are rendered by the front-end (Mount.Refuse,
// GRPCService.Refuse), in its own protocol.

// logHTTP is the outermost HTTP layer: the correlation id, the note and
// the log line.
func (s *Server) logHTTP(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		note := &access.Note{CorrelationID: r.Header.Get(access.HeaderCorrelationID)}
		badID := len(note.CorrelationID) > access.MaxCorrelationIDBytes
		if badID || note.CorrelationID == "" {
			note.CorrelationID = uuid.NewString()
		}
		w.Header().Set("X-Correlation-Id", note.CorrelationID)
		ctx := access.WithNote(r.Context(), note)
		if badID {
			ctx = context.WithValue(ctx, badCorrelationKey{}, true)
		}
		next.ServeHTTP(w, r.WithContext(ctx))
		s.logRequest(ctx, note, start, slog.Int("http_status", httpStatus(note)))
	})
}

type badCorrelationKey struct{}

func httpStatus(n *access.Note) int {
	if n.HTTPCode == 0 {
		return http.StatusOK
	}
	return n.HTTPCode
}

// logRequest writes the request's line.
func (s *Server) logRequest(ctx context.Context, n *access.Note, start time.Time, code slog.Attr) {
	if !s.log.Enabled(ctx, slog.LevelInfo) {
		return
	}
	attrs := make([]slog.Attr, 0, 8+len(n.Attrs))
	attrs = append(attrs,
		slog.String("method", n.Method),
		slog.String("correlation_id", n.CorrelationID),
		code,
		slog.String("status", n.Status),
		slog.Duration("duration", time.Since(start)),
	)
	if n.FrontEnd != "" {
		attrs = append(attrs, slog.String("front_end", n.FrontEnd))
	}
	if n.Tenant != "" {
		attrs = append(attrs, slog.String("tenant", n.Tenant))
	}
	if n.ContentID != "" {
		attrs = append(attrs, slog.String("content_id", n.ContentID))
	}
	attrs = append(attrs, n.Attrs...)
	s.log.LogAttrs(ctx, slog.LevelInfo, "request", attrs...)
}

// mount wraps a front-end's handler in the chain's bounds.
func (s *Server) mount(m *Mount) http.Handler {
	maxBody := m.MaxBody
	if maxBody == 0 {
		maxBody = s.cfg.Limits.MaxBodyBytes
	}
	tooLarge := access.Refusal{Kind: access.RefusedTooLarge, Msg: "request body exceeds " + strconv.FormatInt(maxBody, 10) + " bytes"}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		note := access.FromContext(r.Context())
		note.FrontEnd = m.Name
		note.Method = r.Method + " " + r.Pattern
		if bad, _ := r.Context().Value(badCorrelationKey{}).(bool); bad {
			note.Status = "REFUSED"
			m.Refuse(w, r, access.Refusal{Kind: access.RefusedCorrelationID, Msg: "x-correlation-id: is longer than 68 bytes"})
			return
		}
		if r.ContentLength > maxBody {
			m.Refuse(w, r, tooLarge)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		if !s.limit.acquire() {
			m.Refuse(w, r, s.limit.busy())
			return
		}
		defer s.limit.release()
		ctx, end := s.limit.withDeadline(r.Context())
		defer end()
		m.Handler.ServeHTTP(w, r.WithContext(ctx))
	})
}

// notFound answers a path no front-end serves.
func notFound(w http.ResponseWriter, r *http.Request) {
	note := access.FromContext(r.Context())
	note.Method, note.Status, note.HTTPCode = r.Method+" "+access.Clip(r.URL.Path), "NOT_FOUND", http.StatusNotFound
	writePlainJSON(w, http.StatusNotFound, "NOT_FOUND", "no such route")
}

// methodNotAllowed answers a known path with a method it does not serve.
func methodNotAllowed(allow string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		note := access.FromContext(r.Context())
		note.Method, note.Status, note.HTTPCode = r.Method+" "+access.Clip(r.URL.Path), "METHOD_NOT_ALLOWED", http.StatusMethodNotAllowed
		w.Header().Set("Allow", allow)
		writePlainJSON(w, http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED", "method "+access.Clip(r.Method)+" is not allowed here; allowed: "+allow)
	}
}

func writePlainJSON(w http.ResponseWriter, code int, st, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write([]byte(`{"status":` + strconv.Quote(st) + `,"errorMessage":` + strconv.Quote(msg) + "}\n"))
}

// unary is the chain of the gRPC listener: correlation id, the in-flight
// bound and deadline for front-end methods, and the log line.
func (s *Server) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	start := time.Now()
	svc := s.grpcService(info.FullMethod)
	note := &access.Note{Method: info.FullMethod}
	if v := metadata.ValueFromIncomingContext(ctx, access.HeaderCorrelationID); len(v) > 0 {
		note.CorrelationID = v[0]
	}
	badID := len(note.CorrelationID) > access.MaxCorrelationIDBytes
	if badID || note.CorrelationID == "" {
		note.CorrelationID = uuid.NewString()
	}
	_ = grpc.SetHeader(ctx, metadata.MD{access.HeaderCorrelationID: {note.CorrelationID}}) // the key is lower case
	ctx = access.WithNote(ctx, note)
	resp, err := s.unaryBounded(ctx, req, svc, note, badID, handler)
	code := status.Code(err)
	if note.Status == "" {
		note.Status = code.String()
	}
	s.logRequest(ctx, note, start, slog.String("code", code.String()))
	return resp, err
}

func (s *Server) unaryBounded(ctx context.Context, req any, svc *GRPCService, note *access.Note, badID bool, handler grpc.UnaryHandler) (any, error) {
	if svc == nil { // health, reflection
		if badID {
			return nil, status.Error(codes.InvalidArgument, "x-correlation-id: is longer than 68 bytes")
		}
		return handler(ctx, req)
	}
	note.FrontEnd = svc.Name
	refuse := func(r access.Refusal) (any, error) {
		err := svc.Refuse(r)
		note.Status = reasonOf(err)
		return nil, err
	}
	if badID {
		return refuse(access.Refusal{Kind: access.RefusedCorrelationID, Msg: "x-correlation-id: is longer than 68 bytes"})
	}
	if !s.limit.acquire() {
		return refuse(s.limit.busy())
	}
	defer s.limit.release()
	ctx, end := s.limit.withDeadline(ctx)
	defer end()
	return handler(ctx, req)
}

// reasonOf is the ErrorInfo reason of a front-end's status error, or its
// code.
func reasonOf(err error) string {
	st := status.Convert(err)
	for _, d := range st.Details() {
		if r, ok := d.(interface{ GetReason() string }); ok && r.GetReason() != "" {
			return r.GetReason()
		}
	}
	return st.Code().String()
}

// grpcService returns the front-end serving method, or nil.
func (s *Server) grpcService(method string) *GRPCService {
	for i := range s.cfg.GRPC {
		g := &s.cfg.GRPC[i]
		if len(method) > len(g.ServiceName)+2 && method[0] == '/' && strings.HasPrefix(method[1:], g.ServiceName) && method[1+len(g.ServiceName)] == '/' {
			return g
		}
	}
	return nil
}
