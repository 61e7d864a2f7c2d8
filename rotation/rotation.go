// Package rotation is the key-rotation policy: it maps a time to a crypto
// period and decides which times may be keyed. It is pure: no I/O and no
// clock of its own; callers pass "now".
//
// # Periods
//
// LIVE content is keyed per crypto period. Periods have a length of P
// seconds and are aligned to the Unix epoch: period n covers
// [n·P, (n+1)·P). VOD content has a single key and no periods.
//
// # Pre-generation
//
// A packager may ask for the key of a future time to pre-deliver licenses.
// [Policy.Horizon] bounds how far ahead; times before the Unix epoch are
// refused (no period of a live channel starts there).
package rotation

import (
	"errors"
	"fmt"
	"time"
)

// Defaults applied by [Policy.WithDefaults].
const (
	DefaultPeriodSeconds = 3600
	DefaultHorizon       = 7 * 24 * time.Hour
	// MaxPeriodSeconds bounds P to one year: longer "periods" are VOD.
	MaxPeriodSeconds = 366 * 24 * 3600
)

// Errors returned by [Policy.Check].
var (
	ErrBeyondHorizon = errors.New("rotation: time is beyond the pre-generation horizon")
	ErrBeforeEpoch   = errors.New("rotation: time is before the Unix epoch")
)

// Policy is a tenant's rotation policy. The zero value means the defaults.
type Policy struct {
	// PeriodSeconds is the crypto period length P for contents keyed from now
	// on; 0 means DefaultPeriodSeconds. A content keeps the P it was first
	// keyed with.
	PeriodSeconds int64
	// Horizon bounds how far ahead of now a key may be pre-generated; 0
	// means DefaultHorizon.
	Horizon time.Duration
}

// WithDefaults returns p with zero fields replaced by the defaults.
func (p Policy) WithDefaults() Policy {
	if p.PeriodSeconds == 0 {
		p.PeriodSeconds = DefaultPeriodSeconds
	}
	if p.Horizon == 0 {
		p.Horizon = DefaultHorizon
	}
	return p
}

// Validate reports every problem of p at once.
func (p Policy) Validate() error {
	var errs []error
	if p.PeriodSeconds < 0 || p.PeriodSeconds > MaxPeriodSeconds {
		errs = append(errs, fmt.Errorf("rotation: crypto period %ds is outside 1s..%ds", p.PeriodSeconds, MaxPeriodSeconds))
	}
	if p.Horizon < 0 {
		errs = append(errs, fmt.Errorf("rotation: horizon %v is negative", p.Horizon))
	}
	return errors.Join(errs...)
}

// Check reports whether a key may be issued for time t when the clock reads
// now: ErrBeforeEpoch for t before 1970-01-01, ErrBeyondHorizon for t later
// than now plus the horizon. Past times are allowed (catch-up, re-packaging).
func (p Policy) Check(t, now time.Time) error {
	p = p.WithDefaults()
	if t.Unix() < 0 {
		return ErrBeforeEpoch
	}
	if t.After(now.Add(p.Horizon)) {
		return ErrBeyondHorizon
	}
	return nil
}

// Period returns the index of the period of length periodSeconds that
// contains t. It panics if periodSeconds is not positive (a broken
// invariant: stored and configured lengths are validated).
func Period(t time.Time, periodSeconds int64) int64 {
	if periodSeconds <= 0 {
		panic("rotation: non-positive period length")
	}
	s := t.Unix()
	n := s / periodSeconds
	if s%periodSeconds < 0 {
		n-- // floor division for times before the epoch
	}
	return n
}

// Start returns the first instant of period n of length periodSeconds.
func Start(n, periodSeconds int64) time.Time {
	return time.Unix(n*periodSeconds, 0).UTC()
}
