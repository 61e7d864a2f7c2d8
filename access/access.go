// Package access holds what the server's generic request chain and the
// front-ends share about one request: its correlation id, the note its
// access-log line is written from, and the refusals the chain makes before
// a front-end runs (which each front-end renders in its own protocol). It
// imports no transport.
//
// The chain (package server) creates a Note per request, puts it in the
// request's context and writes one log line from it when the request
// ends, refusals included; a front-end fills in what only it knows
// (tenant, content id, protocol status, credential) through [FromContext].
package access

import (
	"context"
	"log/slog"
	"unicode/utf8"
)

// Header names shared by every HTTP front-end (and gRPC metadata keys).
const (
	HeaderCorrelationID = "x-correlation-id"
	// MaxCorrelationIDBytes bounds a client's x-correlation-id (api.md).
	MaxCorrelationIDBytes = 68
)

// Note is what one request's access-log line says. The chain sets
// CorrelationID, FrontEnd and Method; front-ends set the rest. Nothing in
// it may hold key material or tokens.
type Note struct {
	CorrelationID string
	FrontEnd      string // "nagra", "widevine", "health", …
	Method        string // RPC full method or "METHOD /route"
	Tenant        string
	ContentID     string
	// Status is the protocol status of the answer (API status, Widevine
	// status…); the chain fills it for its own refusals.
	Status string
	// HTTPCode is the HTTP status written (HTTP front-ends set it when
	// it is not 200); 0 means 200 for HTTP, unused for gRPC.
	HTTPCode int
	// Attrs are extra attributes of the line (e.g. signer, periods).
	Attrs []slog.Attr
}

type noteKey struct{}

// WithNote returns ctx carrying n.
func WithNote(ctx context.Context, n *Note) context.Context {
	return context.WithValue(ctx, noteKey{}, n)
}

// FromContext returns the request's note, or a fresh one nobody logs when
// ctx has none (a front-end called outside the chain, as in unit tests).
func FromContext(ctx context.Context) *Note {
	if n, ok := ctx.Value(noteKey{}).(*Note); ok {
		return n
	}
	return &Note{}
}

// CorrelationID returns the request's correlation id, or "".
func CorrelationID(ctx context.Context) string {
	if n, ok := ctx.Value(noteKey{}).(*Note); ok {
		return n.CorrelationID
	}
	return ""
}

// RefusalKind is why the chain refused a request before its front-end ran.
type RefusalKind uint8

const (
	// RefusedCorrelationID: the client's x-correlation-id is too long.
	RefusedCorrelationID RefusalKind = iota + 1
	// RefusedTooLarge: the body exceeds the front-end's limit.
	RefusedTooLarge
	// RefusedBusy: the in-flight bound is reached.
	RefusedBusy
)

// Refusal is a refusal by the chain, with a message for the client.
type Refusal struct {
	Kind RefusalKind
	Msg  string
}

// Clip shortens client text echoed in a message or log line to 64 bytes
// (on a rune boundary, with an ellipsis).
func Clip(s string) string {
	const max = 64
	if len(s) <= max {
		return s
	}
	for i := max; i > 0; i-- {
		if utf8.RuneStart(s[i]) {
			return s[:i] + "…"
		}
	}
	return ""
}
