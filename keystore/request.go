package keystore

import (
	"crypto/subtle"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/keyserver/keyserver/drm"
)

// ValidTenant reports whether s is a well-formed tenant id:
// [A-Za-z0-9_-]{1,64}. Backends check it in LookupKeyID (ErrInvalidRequest).
func ValidTenant(s string) bool {
	if len(s) < 1 || len(s) > 64 {
		return false
	}
	return validName(s)
}

// CheckTenant returns an error wrapping ErrInvalidRequest if tenant is not
// [ValidTenant], nil otherwise: what LookupKeyID and other per-tenant calls
// of a backend return for a malformed tenant.
func CheckTenant(tenant string) error {
	if ValidTenant(tenant) {
		return nil
	}
	return fmt.Errorf("%w: tenant must match [A-Za-z0-9_-]{1,64}", ErrInvalidRequest)
}

func validName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// ValidateRequest returns an error wrapping ErrInvalidRequest for a request
// no backend may key (see [ErrInvalidRequest]), nil otherwise. Every
// GetOrCreate checks it before anything else but the context and Close: the
// space key and the cache key rely on its bounds.
func ValidateRequest(req *Request) error {
	s := req.Space
	switch {
	case !ValidTenant(s.Tenant):
		return CheckTenant(s.Tenant)
	case len(s.ContentID) < 1 || len(s.ContentID) > 256 || !utf8.ValidString(s.ContentID):
		return fmt.Errorf("%w: content id must be 1..256 bytes of UTF-8", ErrInvalidRequest)
	case s.Scheme != drm.SchemeCBCS && s.Scheme != drm.SchemeCENC:
		return fmt.Errorf("%w: unknown scheme %v", ErrInvalidRequest, s.Scheme)
	case len(s.Track) > 32 || !validName(s.Track):
		return fmt.Errorf("%w: track must match [A-Za-z0-9_-]{0,32}", ErrInvalidRequest)
	case req.PeriodSeconds < 0:
		return fmt.Errorf("%w: negative period length", ErrInvalidRequest)
	case req.PeriodSeconds > 0 && req.Period == nil:
		return fmt.Errorf("%w: LIVE request without a period function", ErrInvalidRequest)
	case req.Supplied != nil && req.Supplied.KID.IsZero():
		return fmt.Errorf("%w: supplied key id is zero", ErrInvalidRequest)
	}
	return nil
}

// Candidate is the record a creating call would store. Draw it with
// [NewCandidate] once, before the backend's transaction, so that a
// transaction run more than once (a retried batch, an optimistic
// transaction that lost a race) stores the same key.
type Candidate struct {
	Key      drm.ContentKey
	Supplied bool
	Created  time.Time // UTC, at nanosecond precision (as stored)
}

// NewCandidate draws the key of req: the supplied key (with a generated IV
// if none is supplied) or a generated one.
func NewCandidate(req *Request) Candidate {
	c := Candidate{Created: time.Unix(0, time.Now().UnixNano()).UTC()}
	if s := req.Supplied; s != nil {
		if s.GenerateKey {
			c.Key = drm.GenerateContentKey()
		} else {
			c.Supplied = true
			c.Key.Key = s.Key
		}
		c.Key.KID = s.KID
		if s.IV != nil {
			c.Key.IV = *s.IV
		} else {
			c.Key.IV = drm.GenerateIV()
		}
		return c
	}
	c.Key = drm.GenerateContentKey()
	return c
}

// Record returns the record c becomes in req's space: for a LIVE request,
// period n of the pinned length p (p and n are ignored for VOD).
func (c *Candidate) Record(req *Request, p, n int64) Record {
	rec := Record{Space: req.Space, Key: c.Key, Supplied: c.Supplied, Created: c.Created}
	if req.PeriodSeconds > 0 {
		rec.PeriodSeconds, rec.Period = p, n
	}
	return rec
}

// MatchSupplied returns nil if s is an idempotent re-send of the stored
// rec (same key id, same key unless s.GenerateKey, and same IV if s has
// one), ErrConflict otherwise. It compares key material in constant time.
func MatchSupplied(rec *Record, s *Supplied) error {
	if rec.Key.KID != s.KID ||
		!s.GenerateKey && subtle.ConstantTimeCompare(rec.Key.Key[:], s.Key[:]) != 1 ||
		s.IV != nil && subtle.ConstantTimeCompare(rec.Key.IV[:], s.IV[:]) != 1 {
		return ErrConflict
	}
	return nil
}
