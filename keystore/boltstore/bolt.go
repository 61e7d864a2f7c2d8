package boltstore

import (
	"context"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/keyserver/keyserver/drm"
	"github.com/keyserver/keyserver/keystore"
)

// GetOrCreate implements [keystore.Store.GetOrCreate]. With the cache on,
// it is the cache's: a hit is answered from memory, a miss comes to
// getOrCreate. The returned Record is the caller's.
func (b *Bolt) GetOrCreate(ctx context.Context, req keystore.Request) (keystore.Record, bool, error) {
	if b.cache != nil {
		return b.cache.GetOrCreate(ctx, req)
	}
	return b.getOrCreate(ctx, req)
}

// getOrCreate serves req from the file: a hit takes a read-only
// transaction; only a miss takes a write batch (db.Batch, coalescing
// concurrent creations into one fsync).
func (b *Bolt) getOrCreate(ctx context.Context, req keystore.Request) (keystore.Record, bool, error) {
	if err := ctx.Err(); err != nil {
		return keystore.Record{}, false, err
	}
	if b.closed.Load() {
		return keystore.Record{}, false, keystore.ErrClosed
	}
	if err := keystore.ValidateRequest(&req); err != nil {
		return keystore.Record{}, false, err
	}
	sk := keystore.SpaceKey(req.Space)

	var rec keystore.Record
	err := b.db.View(func(tx *bolt.Tx) error {
		var err error
		rec, _, err = b.resolve(tx, &req, sk, nil)
		return err
	})
	switch {
	case err == nil:
		return rec, false, nil
	case !errors.Is(err, errMiss):
		return keystore.Record{}, false, b.txErr(err)
	}

	if err := ctx.Err(); err != nil {
		return keystore.Record{}, false, err
	}
	if b.readOnly {
		return keystore.Record{}, false, fmt.Errorf("%w: store is read-only", keystore.ErrUnavailable)
	}
	cand := keystore.NewCandidate(&req)
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
		return keystore.Record{}, false, b.txErr(err)
	}
	// Update or Batch returned nil: the transaction is committed and synced.
	return rec, created, nil
}

// resolve finds or, with a non-nil cand, creates the record of req in tx.
// Without cand it returns errMiss where it would write. Errors decided here
// are wrapped in txError so that b.txErr passes them through; the Record
// holds no bbolt memory.
func (b *Bolt) resolve(tx *bolt.Tx, req *keystore.Request, sk []byte, cand *keystore.Candidate) (keystore.Record, bool, error) {
	rec, created, err := b.resolveTx(tx, req, sk, cand)
	if err != nil && !errors.Is(err, errMiss) {
		err = txError{err}
	}
	return rec, created, err
}

func (b *Bolt) resolveTx(tx *bolt.Tx, req *keystore.Request, sk []byte, cand *keystore.Candidate) (keystore.Record, bool, error) {
	tenant := req.Space.Tenant
	tenants := tx.Bucket(bucketTenants)
	if tenants == nil {
		return keystore.Record{}, false, fmt.Errorf("%w: tenants bucket missing", keystore.ErrCorrupt)
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
			if v := sb.Get(keystore.PinKey()); v != nil {
				pin, err := keystore.DecodePin(v)
				if err != nil {
					return keystore.Record{}, false, err
				}
				p, newPin = pin, false
			}
		}
		var err error
		if n, err = req.Period(p); err != nil {
			return keystore.Record{}, false, fmt.Errorf("keystore: period: %w", err)
		}
	}
	pk := keystore.PeriodKey(live, n)

	if sb != nil {
		if v := sb.Get(pk); v != nil {
			rec, err := b.seal.OpenRecord(tenant, sk, pk, v)
			if err != nil {
				return keystore.Record{}, false, err
			}
			if req.Supplied != nil {
				if err := keystore.MatchSupplied(&rec, req.Supplied); err != nil {
					return keystore.Record{}, false, err
				}
			}
			return rec, false, nil
		}
	}
	if req.Supplied != nil && tb != nil {
		if kb := tb.Bucket(bucketKIDs); kb != nil && kb.Get(req.Supplied.KID[:]) != nil {
			return keystore.Record{}, false, keystore.ErrConflict
		}
	}
	if cand == nil {
		return keystore.Record{}, false, errMiss
	}
	return b.create(tenants, req, sk, pk, p, n, newPin, cand)
}

func (b *Bolt) create(tenants *bolt.Bucket, req *keystore.Request, sk, pk []byte, p, n int64, newPin bool, cand *keystore.Candidate) (keystore.Record, bool, error) {
	rec := cand.Record(req, p, n)
	tb, err := tenants.CreateBucketIfNotExists([]byte(req.Space.Tenant))
	if err != nil {
		return keystore.Record{}, false, err
	}
	kb, err := tb.CreateBucketIfNotExists(bucketKIDs)
	if err != nil {
		return keystore.Record{}, false, err
	}
	if kb.Get(rec.Key.KID[:]) != nil {
		// Only a generated key id can get here (supplied ones were checked):
		// a 122-bit collision. Fail rather than break the index.
		return keystore.Record{}, false, errors.New("keystore: generated key id already in use, retry")
	}
	ss, err := tb.CreateBucketIfNotExists(bucketSpaces)
	if err != nil {
		return keystore.Record{}, false, err
	}
	sb, err := ss.CreateBucketIfNotExists(sk)
	if err != nil {
		return keystore.Record{}, false, err
	}
	if newPin {
		if err := sb.Put(keystore.PinKey(), keystore.EncodePin(p)); err != nil {
			return keystore.Record{}, false, err
		}
	}
	if err := sb.Put(pk, b.seal.SealRecord(&rec, sk, pk)); err != nil {
		return keystore.Record{}, false, err
	}
	kid := rec.Key.KID
	if err := kb.Put(kid[:], keystore.EncodeLocation(sk, pk)); err != nil {
		return keystore.Record{}, false, err
	}
	return rec, true, nil
}

// LookupKeyID implements [keystore.Store.LookupKeyID] through the tenant's key-id
// index. The returned Record is the caller's.
func (b *Bolt) LookupKeyID(ctx context.Context, tenant string, kid drm.KeyID) (keystore.Record, error) {
	if err := ctx.Err(); err != nil {
		return keystore.Record{}, err
	}
	if b.closed.Load() {
		return keystore.Record{}, keystore.ErrClosed
	}
	if err := keystore.CheckTenant(tenant); err != nil {
		return keystore.Record{}, err
	}
	var rec keystore.Record
	err := b.db.View(func(tx *bolt.Tx) error {
		tb := tx.Bucket(bucketTenants).Bucket([]byte(tenant))
		if tb == nil {
			return txError{keystore.ErrNotFound}
		}
		kb := tb.Bucket(bucketKIDs)
		if kb == nil {
			return txError{keystore.ErrNotFound}
		}
		loc := kb.Get(kid[:])
		if loc == nil {
			return txError{keystore.ErrNotFound}
		}
		sk, pk, err := keystore.DecodeLocation(loc)
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
			return txError{fmt.Errorf("%w: key-id index points at no record", keystore.ErrCorrupt)}
		}
		if rec, err = b.seal.OpenRecord(tenant, sk, pk, v); err != nil {
			return txError{err}
		}
		if rec.Key.KID != kid {
			return txError{fmt.Errorf("%w: key-id index points at another key", keystore.ErrCorrupt)}
		}
		return nil
	})
	if err != nil {
		return keystore.Record{}, b.txErr(err)
	}
	return rec, nil
}

// Records returns every record of tenant, ordered by space key, then VOD
// before LIVE, then period index. It decrypts everything in one read
// transaction: meant for tests, audits and tooling (for instance to assert
// that a period holds exactly one key), not for the request path. An
// unknown tenant has no records. The slice is the caller's.
func (b *Bolt) Records(ctx context.Context, tenant string) ([]keystore.Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if b.closed.Load() {
		return nil, keystore.ErrClosed
	}
	if err := keystore.CheckTenant(tenant); err != nil {
		return nil, err
	}
	var recs []keystore.Record
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
				if keystore.IsPinKey(pk) {
					return nil
				}
				rec, err := b.seal.OpenRecord(tenant, sk, pk, v)
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
