// Package httpx holds HTTP helpers the server and the front-ends share:
// writing a whole answer as one transmission (WriteAnswer), which needs
// the request's connection (WithConn, set by the server's ConnContext).
package httpx

import (
	"context"
	"net"
	"net/http"
)

// A REST key answer is ~7.7 KB with four DRMs' signaling. net/http writes
// a response through a 4 KB buffer on the connection, so an answer that
// large leaves in two write calls, and on a keep-alive connection the
// client wakes for the first 4 KB only to wait for the rest. WriteAnswer
// holds the answer in the kernel while net/http writes it (TCP_CORK on
// Linux), then lets it go at once: one transmission and one wake-up of
// the client per answer, for two setsockopt calls (measured in
// BENCHMARKS.md).
//
// Only HTTP/1.x answers are corked: an HTTP/2 connection's frames are
// written by the connection's own goroutine, for every stream at once.

// corkMin is the smallest answer worth corking: one that may not fit,
// with its status line and headers (~200 bytes), in net/http's 4 KB
// connection buffer. A smaller one leaves in one write anyway.
const corkMin = 4096 - 512

// connKey is the request-context key of the connection a REST request
// came on (http.Server.ConnContext, server.go).
type connKey struct{}

// WithConn returns ctx carrying c; the server sets it as its
// http.Server.ConnContext.
func WithConn(ctx context.Context, c net.Conn) context.Context {
	return context.WithValue(ctx, connKey{}, c)
}

// WriteAnswer writes b, a whole REST answer whose headers are set, and
// flushes it: corked, as one transmission, where it can.
func WriteAnswer(w http.ResponseWriter, r *http.Request, b []byte) {
	f, canFlush := w.(http.Flusher)
	var tc *net.TCPConn
	if canFlush && r.ProtoMajor == 1 && len(b) >= corkMin {
		tc = tcpConn(r.Context().Value(connKey{}))
	}
	if tc == nil || setCork(tc, true) != nil {
		_, _ = w.Write(b) // a failed write is the client gone
		return
	}
	_, _ = w.Write(b)
	f.Flush()
	// Uncorking sends what is held. Should it fail, the kernel sends a
	// corked socket's data within 200 ms anyway.
	_ = setCork(tc, false)
}

// tcpConn returns the TCP connection under v, a connection from the
// request context (plain or TLS), or nil.
func tcpConn(v any) *net.TCPConn {
	if c, ok := v.(interface{ NetConn() net.Conn }); ok { // *tls.Conn
		v = c.NetConn()
	}
	c, _ := v.(*net.TCPConn)
	return c
}
