package boltstore

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyserver/keyserver/drm"
	"github.com/keyserver/keyserver/keystore"
)

// DefaultRetryInterval is how often a read-only Fallback tries to become
// writable again when RetryInterval is zero.
const DefaultRetryInterval = 2 * time.Second

// Fallback is a Store over a Bolt file that keeps serving when the file
// cannot be written: if the file exists but cannot be opened for writing
// (a read-only filesystem, no permission: ErrNotWritable), OpenFallback
// opens it read-only instead. Existing keys are then served, creations fail
// with ErrUnavailable, and a creation first tries to reopen the file
// read-write, at most once per retry interval, so the store recovers by
// itself when the fault clears. Faults that happen while the file is open
// for writing (disk full, I/O errors) need no reopening: each failed write
// is ErrUnavailable and the next one is tried again.
//
// Fallback is safe for concurrent use. Reopening waits for the calls in
// flight and holds new ones for its duration (one or two Opens).
type Fallback struct {
	path  string
	opts  Options
	retry time.Duration

	mu       sync.RWMutex // guards b against the swap in reopen
	b        *Bolt
	readOnly atomic.Bool
	down     atomic.Bool  // a reopen failed both ways: b is closed until the next one works
	closed   atomic.Bool  // Close was called
	lastTry  atomic.Int64 // UnixNano of the last reopen attempt
}

var (
	_ keystore.Store         = (*Fallback)(nil)
	_ keystore.StateReporter = (*Fallback)(nil)
)

// OpenFallback opens path like Open; when that fails with ErrNotWritable
// and the file exists, it opens it read-only. retry is the interval
// between attempts to become writable again; 0 means
// DefaultRetryInterval. Errors are those of Open.
func OpenFallback(path string, opts *Options, retry time.Duration) (*Fallback, error) {
	if retry <= 0 {
		retry = DefaultRetryInterval
	}
	f := &Fallback{path: path, retry: retry}
	if opts != nil {
		f.opts = *opts
	}
	f.opts.ReadOnly = false
	b, err := Open(path, &f.opts)
	if errors.Is(err, keystore.ErrNotWritable) {
		ro := f.opts
		ro.ReadOnly = true
		if b, rerr := Open(path, &ro); rerr == nil {
			f.b = b
			f.readOnly.Store(true)
			f.lastTry.Store(time.Now().UnixNano())
			return f, nil
		}
	}
	if err != nil {
		return nil, err
	}
	f.b = b
	return f, nil
}

// ReadOnly reports whether the store is currently serving read-only.
func (f *Fallback) ReadOnly() bool { return f.readOnly.Load() }

// State implements [keystore.StateReporter]: ReadOnly while serving
// read-only, Unreachable when the file could be opened neither way or
// after Close, else Writable. While read-only it first tries to reopen the
// file read-write when a retry is due (at most once per retry interval,
// shared with GetOrCreate), so that readiness probes alone bring the store
// back when no creation arrives.
func (f *Fallback) State() keystore.State {
	if f.closed.Load() {
		return keystore.Unreachable
	}
	if f.readOnly.Load() && f.due() {
		f.reopen()
	}
	switch {
	case f.down.Load():
		return keystore.Unreachable
	case f.readOnly.Load():
		return keystore.ReadOnly
	}
	return keystore.Writable
}

// GetOrCreate implements [keystore.Store].
func (f *Fallback) GetOrCreate(ctx context.Context, req keystore.Request) (keystore.Record, bool, error) {
	f.mu.RLock()
	rec, created, err := f.b.GetOrCreate(ctx, req)
	f.mu.RUnlock()
	// ErrClosed too: a failed reopen leaves a closed store behind.
	retryable := errors.Is(err, keystore.ErrUnavailable) || errors.Is(err, keystore.ErrClosed) && !f.closed.Load()
	if err == nil || !retryable || !f.readOnly.Load() || !f.due() {
		return rec, created, err
	}
	if !f.reopen() {
		return rec, created, err
	}
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.b.GetOrCreate(ctx, req)
}

// LookupKeyID implements [keystore.Store].
func (f *Fallback) LookupKeyID(ctx context.Context, tenant string, kid drm.KeyID) (keystore.Record, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.b.LookupKeyID(ctx, tenant, kid)
}

// Close implements [keystore.Store].
func (f *Fallback) Close() error {
	f.closed.Store(true)
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.b.Close()
}

// due claims the next reopen attempt if the retry interval has passed.
func (f *Fallback) due() bool {
	last := f.lastTry.Load()
	now := time.Now().UnixNano()
	return now-last >= int64(f.retry) && f.lastTry.CompareAndSwap(last, now)
}

// reopen tries to replace the read-only Bolt by a writable one; it reports
// whether the store is writable now. If the writable open fails, the
// read-only store is reopened (the file lock allows only one of them).
func (f *Fallback) reopen() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed.Load() {
		return false
	}
	if !f.readOnly.Load() {
		return true
	}
	if err := f.b.Close(); err != nil {
		return false
	}
	if b, err := Open(f.path, &f.opts); err == nil {
		f.b = b
		f.readOnly.Store(false)
		f.down.Store(false)
		return true
	}
	ro := f.opts
	ro.ReadOnly = true
	b, err := Open(f.path, &ro)
	if err != nil {
		// Neither works any more: keep a closed store, whose calls fail
		// with ErrClosed (503), and try again at the next interval.
		f.down.Store(true)
		return false
	}
	f.b = b
	f.down.Store(false)
	return false
}
