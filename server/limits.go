package server

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyserver/keyserver/access"
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
	// MaxBodyBytes bounds a REST request body of a front-end that sets no
	// limit of its own (Mount.MaxBody); 0 means 64 KiB. A real Nagra
	// request is well under 2 KiB.
	MaxBodyBytes int64
	// MaxMessageBytes bounds a received gRPC message; 0 means 64 KiB.
	MaxMessageBytes int
	// MaxInFlight bounds concurrent requests to the front-ends, over both
	// listeners (health checks are not counted); 0 means 2048.
	MaxInFlight int
	// RequestTimeout is the per-request deadline; 0 means 10 s.
	RequestTimeout time.Duration
	// ReadHeaderTimeout bounds reading a REST request's headers; 0 means
	// 10 s.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds reading a whole REST request, body included
	// (slow senders); 0 means 30 s.
	ReadTimeout time.Duration
	// IdleTimeout closes idle keep-alive REST connections, and gRPC
	// connections without a stream; 0 means 120 s.
	IdleTimeout time.Duration
	// MaxStreams bounds the concurrent streams of one gRPC connection; 0
	// means 100. (The HTTP/2 handshake of a gRPC connection must end
	// within ReadHeaderTimeout.)
	MaxStreams int
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
	DefaultMaxStreams        = 100
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
	if l.MaxStreams == 0 {
		l.MaxStreams = DefaultMaxStreams
	}
	return l
}

// Validate reports negative limits.
func (l Limits) Validate() error {
	if l.MaxBodyBytes < 0 || l.MaxMessageBytes < 0 || l.MaxInFlight < 0 || l.RequestTimeout < 0 ||
		l.ReadHeaderTimeout < 0 || l.ReadTimeout < 0 || l.IdleTimeout < 0 || l.MaxStreams < 0 {
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

// acquire takes an in-flight slot; false when all are taken.
func (l *limiter) acquire() bool {
	select {
	case l.slots <- struct{}{}:
		return true
	default:
		return false
	}
}

func (l *limiter) release() { <-l.slots }

// busy is the refusal of a request beyond MaxInFlight.
func (l *limiter) busy() access.Refusal {
	return access.Refusal{Kind: access.RefusedBusy, Msg: "server busy: " + strconv.Itoa(cap(l.slots)) + " requests in flight, retry later"}
}

// streamSlot is the in-flight slot of a gRPC stream, taken when its
// headers arrive (Server.tap), with the stream's request deadline.
type streamSlot struct {
	stop   func() bool        // unregisters the release at the stream's end
	cancel context.CancelFunc // ends the deadline context; nil if none
	l      *limiter
}

type streamSlotKey struct{}

// streamContext returns a gRPC stream's context (ctx, which grpc-go
// cancels when the stream ends, however it ends) under the request
// deadline, or the client's if shorter. The slot is released when the
// handler returns (slotOf(…).end, the usual path, which costs no
// goroutine), or else when the stream ends: a stream that never delivers
// its message holds its slot until the deadline ends it.
func (l *limiter) streamContext(ctx context.Context) context.Context {
	s := &streamSlot{l: l}
	d := time.Now().Add(l.timeout)
	stream := ctx
	if pd, ok := ctx.Deadline(); !ok || pd.After(d) {
		ctx, s.cancel = context.WithDeadline(ctx, d)
	}
	// Registered on the stream's own context, which holds the deadline
	// context's registration too: one children map, not two.
	s.stop = context.AfterFunc(stream, s.release)
	return context.WithValue(ctx, streamSlotKey{}, s)
}

func (s *streamSlot) release() {
	if s.cancel != nil {
		s.cancel()
	}
	s.l.release()
}

// end releases the slot when the handler returns, unless the stream's end
// did already.
func (s *streamSlot) end() {
	if s.stop() {
		s.release()
	}
}

// slotOf returns the stream slot in ctx, or nil.
func slotOf(ctx context.Context) *streamSlot {
	s, _ := ctx.Value(streamSlotKey{}).(*streamSlot)
	return s
}

// withDeadline returns ctx under the request deadline (or the client's,
// if shorter) and the function that ends it.
func (l *limiter) withDeadline(ctx context.Context) (context.Context, func()) {
	d := time.Now().Add(l.timeout)
	if pd, ok := ctx.Deadline(); ok && !pd.After(d) {
		return ctx, func() {} // the client's deadline is the shorter
	}
	dc := &deadlineCtx{Context: ctx, deadline: d}
	return dc, dc.end
}

// deadlineCtx is its parent with a deadline, as context.WithDeadline makes
// it, except that the timer is set only when something waits on Done. The
// keystore checks Err at its steps and waits on nothing, so a request
// served from its cache never sets one. context.WithTimeout set a timer
// and registered the child with its parent on every key request, a
// measurable part of a REST hit's CPU (BENCHMARKS.md).
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
