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
	"google.golang.org/grpc/tap"

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
		if len(r.TransferEncoding) > 0 {
			// A chunked request may have come with a Content-Length as
			// well, which net/http removes before we can see it; RFC 9112
			// §6.3 then requires closing the connection after the answer.
			// Packagers send Content-Length: close after every chunked
			// request rather than guess.
			w.Header().Set("Connection", "close")
		}
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

// unaryBounded runs handler, or refuses the request. A front-end's
// stream already holds its in-flight slot and deadline (tap).
func (s *Server) unaryBounded(ctx context.Context, req any, svc *GRPCService, note *access.Note, badID bool, handler grpc.UnaryHandler) (any, error) {
	if svc == nil { // health, reflection
		if badID {
			return nil, status.Error(codes.InvalidArgument, "x-correlation-id: is longer than 68 bytes")
		}
		return handler(ctx, req)
	}
	note.FrontEnd = svc.Name
	if slot := slotOf(ctx); slot != nil {
		defer slot.end()
	}
	if badID {
		err := svc.Refuse(access.Refusal{Kind: access.RefusedCorrelationID, Msg: "x-correlation-id: is longer than 68 bytes"})
		note.Status = reasonOf(err)
		return nil, err
	}
	return handler(ctx, req)
}

// tap runs when a stream's headers arrive, before its message: a
// front-end's stream takes an in-flight slot (released when the stream
// ends, however it ends) and gets the request deadline, so a client that
// never finishes sending holds neither memory nor a slot for long. A
// refusal is answered at once and logged.
func (s *Server) tap(ctx context.Context, info *tap.Info) (context.Context, error) {
	svc := s.grpcService(info.FullMethodName)
	if svc == nil {
		return ctx, nil
	}
	if !s.limit.acquire() {
		err := svc.Refuse(s.limit.busy())
		s.logRefusedStream(ctx, info.FullMethodName, svc.Name, err)
		return nil, err
	}
	return s.limit.streamContext(ctx), nil
}

// logRefusedStream logs a stream the tap refused.
func (s *Server) logRefusedStream(ctx context.Context, method, frontEnd string, err error) {
	note := &access.Note{Method: method, FrontEnd: frontEnd, CorrelationID: incomingCorrelationID(ctx), Status: reasonOf(err)}
	s.logRequest(ctx, note, time.Now(), slog.String("code", status.Code(err).String()))
}

func incomingCorrelationID(ctx context.Context) string {
	if v := metadata.ValueFromIncomingContext(ctx, access.HeaderCorrelationID); len(v) > 0 && len(v[0]) <= access.MaxCorrelationIDBytes {
		return v[0]
	}
	return ""
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
