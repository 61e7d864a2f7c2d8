package server

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"

	keyserverv1 "github.com/keyserver/keyserver/gen/keyserver/v1"
)

// Limits bound what one request, and all requests together, may take. The
// zero value of each field means its default.
//
// Decisions where api.md is silent:
//   - A REST body over MaxBodyBytes is INVALID_REQUEST with HTTP 413
//     (Request Entity Too Large), the HTTP way to say it; it is refused
//     from its Content-Length before anything is read, or when reading
//     passes the limit. Over gRPC, a message over MaxMessageBytes is
//     refused by the gRPC library with ResourceExhausted before our code
//     runs.
//   - Beyond MaxInFlight concurrent key requests, a request is refused at
//     once, without queueing: UNAVALAIBLE_SERVICE, gRPC Unavailable, HTTP
//     503. Clients retry; a queue would only turn overload into timeouts.
//     Health checks are not counted.
//   - Every key request runs under a deadline of RequestTimeout (or the
//     client's, if shorter); past it the client gets DeadlineExceeded
//     (UNAVALAIBLE_SERVICE, HTTP 504) and nothing is stored unless the
//     write already committed (then the key is durable and the next
//     request returns it).
type Limits struct {
	// MaxBodyBytes bounds a REST request body; 0 means 64 KiB. A real
	// request is well under 2 KiB.
	MaxBodyBytes int64
	// MaxMessageBytes bounds a received gRPC message; 0 means 64 KiB.
	MaxMessageBytes int
	// MaxInFlight bounds concurrent key requests over both transports
	// (REST requests are counted once, at the gRPC service); 0 means 2048.
	MaxInFlight int
	// RequestTimeout is the per-request deadline; 0 means 10 s.
	RequestTimeout time.Duration
	// ReadHeaderTimeout bounds reading a REST request's headers; 0 means
	// 10 s.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds reading a whole REST request, body included
	// (slow senders); 0 means 30 s.
	ReadTimeout time.Duration
	// IdleTimeout closes idle keep-alive REST connections; 0 means 120 s.
	IdleTimeout time.Duration
}

// Default limits.
const (
	DefaultMaxBodyBytes      = 64 << 10
	DefaultMaxMessageBytes   = 64 << 10
	DefaultMaxInFlight       = 2048
	DefaultRequestTimeout    = 10 * time.Second
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultReadTimeout       = 30 * time.Second
	DefaultIdleTimeout       = 120 * time.Second
)

// withDefaults returns l with zero fields set to their defaults.
func (l Limits) withDefaults() Limits {
	if l.MaxBodyBytes == 0 {
		l.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if l.MaxMessageBytes == 0 {
		l.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if l.MaxInFlight == 0 {
		l.MaxInFlight = DefaultMaxInFlight
	}
	if l.RequestTimeout == 0 {
		l.RequestTimeout = DefaultRequestTimeout
	}
	if l.ReadHeaderTimeout == 0 {
		l.ReadHeaderTimeout = DefaultReadHeaderTimeout
	}
	if l.ReadTimeout == 0 {
		l.ReadTimeout = DefaultReadTimeout
	}
	if l.IdleTimeout == 0 {
		l.IdleTimeout = DefaultIdleTimeout
	}
	return l
}

func (l Limits) validate() error {
	if l.MaxBodyBytes < 0 || l.MaxMessageBytes < 0 || l.MaxInFlight < 0 || l.RequestTimeout < 0 ||
		l.ReadHeaderTimeout < 0 || l.ReadTimeout < 0 || l.IdleTimeout < 0 {
		return errors.New("server: config: limits must not be negative")
	}
	return nil
}

// limiter counts key requests in flight.
type limiter struct {
	slots   chan struct{}
	timeout time.Duration
}

func newLimiter(l Limits) *limiter {
	return &limiter{slots: make(chan struct{}, l.MaxInFlight), timeout: l.RequestTimeout}
}

// keyServicePrefix selects the methods the limiter counts.
var keyServicePrefix = "/" + keyserverv1.KeyService_ServiceDesc.ServiceName + "/"

// limitInterceptor refuses a key request at once when MaxInFlight are
// already running, and puts the others under the request deadline. It
// runs inside unaryInterceptor, which translates and logs the refusal.
func (s *Server) limitInterceptor(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if !strings.HasPrefix(info.FullMethod, keyServicePrefix) {
		return handler(ctx, req)
	}
	select {
	case s.limit.slots <- struct{}{}:
	default:
		return nil, reject(keyserverv1.Status_UNAVALAIBLE_SERVICE, "",
			"server busy: %d requests in flight, retry later", cap(s.limit.slots))
	}
	defer func() { <-s.limit.slots }()
	d := time.Now().Add(s.limit.timeout)
	if pd, ok := ctx.Deadline(); ok && !pd.After(d) {
		return handler(ctx, req) // the client's deadline is the shorter
	}
	dc := &deadlineCtx{Context: ctx, deadline: d}
	defer dc.end()
	return handler(dc, req)
}

// deadlineCtx is its parent with a deadline, as context.WithDeadline makes
// it, except that the timer is set only when something waits on Done. The
// keystore checks Err at its steps and waits on nothing, so a request
// served from its cache never sets one. context.WithTimeout set a timer
// and registered the child with its parent on every key request: 1.3 µs
// of the ~26 µs of server CPU of a REST hit (BENCHMARKS.md).
type deadlineCtx struct {
	context.Context // the parent
	deadline        time.Time
	ended           atomic.Bool // end was called: as after a CancelFunc

	mu     sync.Mutex
	armed  context.Context // context.WithDeadline(parent, deadline), once Done is called
	cancel context.CancelFunc
}

func (c *deadlineCtx) Deadline() (time.Time, bool) { return c.deadline, true }

func (c *deadlineCtx) Done() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.armed == nil {
		c.armed, c.cancel = context.WithDeadline(c.Context, c.deadline)
		if c.ended.Load() {
			c.cancel()
		}
	}
	return c.armed.Done()
}

// Err is the parent's error, else Canceled after end, else
// DeadlineExceeded once the deadline has passed.
func (c *deadlineCtx) Err() error {
	if err := c.Context.Err(); err != nil {
		return err
	}
	if c.ended.Load() {
		return context.Canceled
	}
	if !time.Now().Before(c.deadline) {
		return context.DeadlineExceeded
	}
	return nil
}

// end releases the timer, if set; Done is closed from then on, and Err is
// not nil. It is the CancelFunc of the request's context.
func (c *deadlineCtx) end() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ended.Store(true)
	if c.cancel != nil {
		c.cancel()
	}
}

// bodyTooLarge starts the message of a body over the limit; writeError
// answers it with HTTP 413.
const bodyTooLarge = "request body exceeds "

// limitBody refuses a REST body announced larger than the limit, and
// stops reading one that turns out larger (the gateway decoder then
// reports it).
func (s *Server) limitBody(next http.Handler) http.Handler {
	max := s.cfg.Limits.MaxBodyBytes
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > max {
			writeJSONError(w, http.StatusRequestEntityTooLarge, keyserverv1.Status_INVALID_REQUEST,
				bodyTooLarge+strconv.FormatInt(max, 10)+" bytes")
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, max)
		next.ServeHTTP(w, r)
	})
}
