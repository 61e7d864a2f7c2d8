package issuer

import (
	"context"

	"github.com/keyserver/keyserver/drm"
	"github.com/keyserver/keyserver/keystore"
)

// Observer is told what the issuer handed out: metrics and the audit log
// plug in here. Observe runs on the request's goroutine after the key is
// durable, so it must be quick and must not block; it must not keep ctx.
// An Event never holds key or IV bytes.
type Observer interface {
	Observe(ctx context.Context, e Event)
}

// ObserverFunc adapts a function to Observer.
type ObserverFunc func(ctx context.Context, e Event)

// Observe calls f.
func (f ObserverFunc) Observe(ctx context.Context, e Event) { f(ctx, e) }

// Kind is what happened to a key.
type Kind uint8

const (
	// KindIssued: a get-or-create answered (Event.Created tells which).
	KindIssued Kind = iota + 1
	// KindLookedUp: a key was found by its key id.
	KindLookedUp
)

func (k Kind) String() string {
	switch k {
	case KindIssued:
		return "issued"
	case KindLookedUp:
		return "looked-up"
	}
	return "unknown"
}

// Event describes one key handed out, by identity only.
type Event struct {
	Kind          Kind
	Tenant        string
	ContentID     string
	Scheme        drm.Scheme
	Track         string
	KeyID         drm.KeyID
	PeriodSeconds int64 // 0: VOD
	Period        int64
	Created       bool // this request stored the key
	Supplied      bool // the key was supplied by the client
	Origin        Origin
}

func eventOf(k Kind, rec *keystore.Record, created bool, o Origin) Event {
	return Event{
		Kind: k, Tenant: rec.Space.Tenant, ContentID: rec.Space.ContentID, Scheme: rec.Space.Scheme,
		Track: rec.Space.Track, KeyID: rec.Key.KID, PeriodSeconds: rec.PeriodSeconds, Period: rec.Period,
		Created: created, Supplied: rec.Supplied, Origin: o,
	}
}
