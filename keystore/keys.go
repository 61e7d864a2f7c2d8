package keystore

import (
	"context"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/keyserver/keyserver/drm"
)

// candidate is the record a creating call would store. It is drawn before
// db.Batch so that a batch function run more than once stores the same key.
type candidate struct {
	key      drm.ContentKey
	supplied bool
	created  time.Time
}

func newCandidate(req *Request) candidate {
	c := candidate{created: time.Unix(0, time.Now().UnixNano()).UTC()}
	if s := req.Supplied; s != nil {
		c.supplied = true
		c.key.KID, c.key.Key = s.KID, s.Key
		if s.IV != nil {
			c.key.IV = *s.IV
		} else {
			c.key.IV = drm.GenerateIV()
		}
		return c
	}
	c.key = drm.GenerateContentKey()
	return c
}

// GetOrCreate implements [Store.GetOrCreate]. A hit is served from the
// cache or a read-only transaction; only a miss takes a write batch
// (db.Batch, coalescing concurrent creations into one fsync). The returned
// Record is the caller's.
func (b *Bolt) GetOrCreate(ctx context.Context, req Request) (Record, bool, error) {
	if err := ctx.Err(); err != nil {
		return Record{}, false, err
	}
	if b.closed.Load() {
		return Record{}, false, ErrClosed
	}
	if err := validateRequest(&req); err != nil {
		return Record{}, false, err
	}
	sk := spaceKey(req.Space)
	ck := cacheKey(req.Space.Tenant, sk)

	if rec, ok, err := b.cached(&req, ck); ok || err != nil {
		return rec, false, err
	}

	var rec Record
	err := b.db.View(func(tx *bolt.Tx) error {
		var err error
		rec, _, err = b.resolve(tx, &req, sk, nil)
		return err
	})
	switch {
	case err == nil:
		b.cache.add(ck, append(ck, periodKey(rec.PeriodSeconds > 0, rec.Period)...), rec)
		return rec, false, nil
	case !errors.Is(err, errMiss):
		return Record{}, false, b.txErr(err)
	}

	if err := ctx.Err(); err != nil {
		return Record{}, false, err
	}
	if b.readOnly {
		return Record{}, false, fmt.Errorf("%w: store is read-only", ErrUnavailable)
	}
	cand := newCandidate(&req)
	var created bool
	fn := func(tx *bolt.Tx) error {
		// Runs again if another call of the batch fails: reassign everything.
		var err error
		rec, created, err = b.resolve(tx, &req, sk, &cand)
		return err
	}
	// A lone writer commits at once instead of waiting MaxBatchDelay for a
	// batch that will not fill; writers arriving meanwhile batch up behind it.
	if b.writers.Add(1) == 1 {
		err = b.db.Update(fn)
	} else {
		err = b.db.Batch(fn)
	}
	b.writers.Add(-1)
	if err != nil {
		return Record{}, false, b.txErr(err)
	}
	// Batch returned nil: the transaction is committed and synced.
	b.cache.add(ck, append(ck, periodKey(rec.PeriodSeconds > 0, rec.Period)...), rec)
	return rec, created, nil
}

// cached answers req from the cache; ok is false on a miss.
func (b *Bolt) cached(req *Request, ck []byte) (rec Record, ok bool, err error) {
	if b.cache == nil {
		return Record{}, false, nil
	}
	live := req.PeriodSeconds > 0
	var n int64
	if live {
		p, ok := b.cache.pin(ck)
		if !ok {
			return Record{}, false, nil
		}
		if n, err = req.Period(p); err != nil {
			return Record{}, false, fmt.Errorf("keystore: period: %w", err)
		}
	}
	cr, ok := b.cache.record(append(ck, periodKey(live, n)...))
	if !ok {
		return Record{}, false, nil
	}
	rec = cr.record(req.Space)
	if req.Supplied != nil {
		if err := matchSupplied(&rec, req.Supplied); err != nil {
			return Record{}, false, err
		}
	}
	return rec, true, nil
}

// matchSupplied reports whether a supplied key is an idempotent re-send of
// the stored rec.
func matchSupplied(rec *Record, s *Supplied) error {
	if rec.Key.KID != s.KID ||
		subtle.ConstantTimeCompare(rec.Key.Key[:], s.Key[:]) != 1 ||
		s.IV != nil && subtle.ConstantTimeCompare(rec.Key.IV[:], s.IV[:]) != 1 {
		return ErrConflict
	}
	return nil
}

// resolve finds or, with a non-nil cand, creates the record of req in tx.
// Without cand it returns errMiss where it would write. Errors decided here
// are wrapped in txError so that b.txErr passes them through; the Record
// holds no bbolt memory.
func (b *Bolt) resolve(tx *bolt.Tx, req *Request, sk []byte, cand *candidate) (Record, bool, error) {
	rec, created, err := b.resolveTx(tx, req, sk, cand)
	if err != nil && !errors.Is(err, errMiss) {
		err = txError{err}
	}
	return rec, created, err
}

func (b *Bolt) resolveTx(tx *bolt.Tx, req *Request, sk []byte, cand *candidate) (Record, bool, error) {
	tenant := req.Space.Tenant
	tenants := tx.Bucket(bucketTenants)
	if tenants == nil {
		return Record{}, false, fmt.Errorf("%w: tenants bucket missing", ErrCorrupt)
	}
	tb := tenants.Bucket([]byte(tenant))
	var sb *bolt.Bucket
	if tb != nil {
		if ss := tb.Bucket(bucketSpaces); ss != nil {
			sb = ss.Bucket(sk)
		}
	}

	live := req.PeriodSeconds > 0
	var p, n int64
	newPin := false
	if live {
		p, newPin = req.PeriodSeconds, true
		if sb != nil {
			if v := sb.Get(pinKey); v != nil {
				if len(v) != 8 || int64(binary.BigEndian.Uint64(v)) <= 0 {
					return Record{}, false, fmt.Errorf("%w: bad pinned period length", ErrCorrupt)
				}
				p, newPin = int64(binary.BigEndian.Uint64(v)), false
			}
		}
		var err error
		if n, err = req.Period(p); err != nil {
			return Record{}, false, fmt.Errorf("keystore: period: %w", err)
		}
	}
	pk := periodKey(live, n)

	if sb != nil {
		if v := sb.Get(pk); v != nil {
			rec, err := b.seal.openRecord(tenant, sk, pk, v)
			if err != nil {
				return Record{}, false, err
			}
			if req.Supplied != nil {
				if err := matchSupplied(&rec, req.Supplied); err != nil {
					return Record{}, false, err
				}
			}
			return rec, false, nil
		}
	}
	if req.Supplied != nil && tb != nil {
		if kb := tb.Bucket(bucketKIDs); kb != nil && kb.Get(req.Supplied.KID[:]) != nil {
			return Record{}, false, ErrConflict
		}
	}
	if cand == nil {
		return Record{}, false, errMiss
	}
	return b.create(tenants, req, sk, pk, p, n, newPin, cand)
}

func (b *Bolt) create(tenants *bolt.Bucket, req *Request, sk, pk []byte, p, n int64, newPin bool, cand *candidate) (Record, bool, error) {
	rec := Record{Space: req.Space, Key: cand.key, Supplied: cand.supplied, Created: cand.created}
	if req.PeriodSeconds > 0 {
		rec.PeriodSeconds, rec.Period = p, n
	}
	tb, err := tenants.CreateBucketIfNotExists([]byte(req.Space.Tenant))
	if err != nil {
		return Record{}, false, err
	}
	kb, err := tb.CreateBucketIfNotExists(bucketKIDs)
	if err != nil {
		return Record{}, false, err
	}
	if kb.Get(rec.Key.KID[:]) != nil {
		// Only a generated key id can get here (supplied ones were checked):
		// a 122-bit collision. Fail rather than break the index.
		return Record{}, false, errors.New("keystore: generated key id already in use, retry")
	}
	ss, err := tb.CreateBucketIfNotExists(bucketSpaces)
	if err != nil {
		return Record{}, false, err
	}
	sb, err := ss.CreateBucketIfNotExists(sk)
	if err != nil {
		return Record{}, false, err
	}
	if newPin {
		if err := sb.Put(pinKey, binary.BigEndian.AppendUint64(nil, uint64(p))); err != nil {
			return Record{}, false, err
		}
	}
	if err := sb.Put(pk, b.seal.sealRecord(&rec, sk, pk)); err != nil {
		return Record{}, false, err
	}
	kid := rec.Key.KID
	if err := kb.Put(kid[:], encodeLocation(sk, pk)); err != nil {
		return Record{}, false, err
	}
	return rec, true, nil
}

// LookupKeyID implements [Store.LookupKeyID] through the tenant's key-id
// index. The returned Record is the caller's.
func (b *Bolt) LookupKeyID(ctx context.Context, tenant string, kid drm.KeyID) (Record, error) {
	if err := ctx.Err(); err != nil {
		return Record{}, err
	}
	if b.closed.Load() {
		return Record{}, ErrClosed
	}
	if !validTenant(tenant) {
		return Record{}, fmt.Errorf("%w: tenant must match [A-Za-z0-9_-]{1,64}", ErrInvalidRequest)
	}
	var rec Record
	err := b.db.View(func(tx *bolt.Tx) error {
		tb := tx.Bucket(bucketTenants).Bucket([]byte(tenant))
		if tb == nil {
			return txError{ErrNotFound}
		}
		kb := tb.Bucket(bucketKIDs)
		if kb == nil {
			return txError{ErrNotFound}
		}
		loc := kb.Get(kid[:])
		if loc == nil {
			return txError{ErrNotFound}
		}
		sk, pk, err := decodeLocation(loc)
		if err != nil {
			return txError{err}
		}
		var v []byte
		if ss := tb.Bucket(bucketSpaces); ss != nil {
			if sb := ss.Bucket(sk); sb != nil {
				v = sb.Get(pk)
			}
		}
		if v == nil {
			return txError{fmt.Errorf("%w: key-id index points at no record", ErrCorrupt)}
		}
		if rec, err = b.seal.openRecord(tenant, sk, pk, v); err != nil {
			return txError{err}
		}
		if rec.Key.KID != kid {
			return txError{fmt.Errorf("%w: key-id index points at another key", ErrCorrupt)}
		}
		return nil
	})
	if err != nil {
		return Record{}, b.txErr(err)
	}
	return rec, nil
}

// Records returns every record of tenant, ordered by space key, then VOD
// before LIVE, then period index. It decrypts everything in one read
// transaction: meant for tests, audits and tooling (for instance to assert
// that a period holds exactly one key), not for the request path. An
// unknown tenant has no records. The slice is the caller's.
func (b *Bolt) Records(ctx context.Context, tenant string) ([]Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if b.closed.Load() {
		return nil, ErrClosed
	}
	if !validTenant(tenant) {
		return nil, fmt.Errorf("%w: tenant must match [A-Za-z0-9_-]{1,64}", ErrInvalidRequest)
	}
	var recs []Record
	err := b.db.View(func(tx *bolt.Tx) error {
		tb := tx.Bucket(bucketTenants).Bucket([]byte(tenant))
		if tb == nil {
			return nil
		}
		ss := tb.Bucket(bucketSpaces)
		if ss == nil {
			return nil
		}
		return ss.ForEachBucket(func(sk []byte) error {
			if err := ctx.Err(); err != nil {
				return txError{err}
			}
			return ss.Bucket(sk).ForEach(func(pk, v []byte) error {
				if pk[0] == tagPin {
					return nil
				}
				rec, err := b.seal.openRecord(tenant, sk, pk, v)
				if err != nil {
					return txError{err}
				}
				recs = append(recs, rec)
				return nil
			})
		})
	})
	if err != nil {
		return nil, b.txErr(err)
	}
	return recs, nil
}
