package keystore

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyserver/keyserver/drm"
)

// Cached is a [Store] decorator that answers repeated GetOrCreate calls
// from memory: a VOD request by its space, a LIVE request by its space's
// pinned period length P (learnt from the PeriodSeconds of the LIVE
// records the inner store returned) and the period req.Period(P) selects.
// LookupKeyID is cached too, by tenant and key id, once found. Everything
// else (misses, Close) goes to the inner store.
//
// It only holds records the inner store returned without error, which the
// Store contract makes durable, and since records and pins never change
// once stored, an entry can never become stale: a hit returns what the
// inner store would. A hit still validates the request, honours the
// context and Close, calls req.Period (its error wrapped as the inner
// store wraps it) and checks a supplied key against the cached record
// ([MatchSupplied]: ErrConflict). The cache is bounded: when full, an
// arbitrary entry is evicted.
//
// Cached is safe for concurrent use if the inner store is.
type Cached struct {
	inner  Store
	cache  *cache // nil: caching off
	closed atomic.Bool
}

var _ Store = (*Cached)(nil)

// NewCached returns inner behind a cache of at most size records (and as
// many pinned period lengths). A size <= 0 caches nothing: every call goes
// to inner. Closing the Cached closes inner.
func NewCached(inner Store, size int) *Cached {
	return &Cached{inner: inner, cache: newCache(size)}
}

// cacheKeyBuf is the size of the hit path's key buffer on the stack: every
// key short enough to be held inline fits, with its period key.
const cacheKeyBuf = shortKeyBytes + 9

// GetOrCreate implements [Store.GetOrCreate].
func (c *Cached) GetOrCreate(ctx context.Context, req Request) (Record, bool, error) {
	if err := ctx.Err(); err != nil {
		return Record{}, false, err
	}
	if c.closed.Load() {
		return Record{}, false, ErrClosed
	}
	if c.cache == nil {
		return c.inner.GetOrCreate(ctx, req)
	}
	if err := ValidateRequest(&req); err != nil {
		return Record{}, false, err
	}
	var buf [cacheKeyBuf]byte
	ck := appendCacheKey(buf[:0], &req.Space)
	if rec, ok, err := c.cache.lookup(&req, ck); ok || err != nil {
		return rec, false, err
	}
	rec, created, err := c.inner.GetOrCreate(ctx, req)
	if err != nil {
		return Record{}, false, err
	}
	// Only a record of the requested space and kind is cached under its key.
	if rec.Space == req.Space && (rec.PeriodSeconds > 0) == (req.PeriodSeconds > 0) {
		c.cache.add(ck, rec)
	}
	if req.Supplied != nil {
		// Key ids packagers chose are the ones looked up again (CPIX).
		c.cache.addKID(rec)
	}
	return rec, created, nil
}

// LookupKeyID implements [Store.LookupKeyID]: a key id found once (by a
// lookup, or in a record GetOrCreate returned) is answered from the cache
// from then on; ErrNotFound is never cached (the key id may be bound
// later).
func (c *Cached) LookupKeyID(ctx context.Context, tenant string, kid drm.KeyID) (Record, error) {
	if err := ctx.Err(); err != nil {
		return Record{}, err
	}
	if c.closed.Load() {
		return Record{}, ErrClosed
	}
	if c.cache == nil {
		return c.inner.LookupKeyID(ctx, tenant, kid)
	}
	if rec, ok := c.cache.kid(tenant, kid); ok {
		return rec, nil
	}
	rec, err := c.inner.LookupKeyID(ctx, tenant, kid)
	if err != nil {
		return Record{}, err
	}
	c.cache.addKID(rec)
	return rec, nil
}

// Close closes the inner store; later GetOrCreate calls return ErrClosed
// without consulting the cache. A second Close returns nil.
func (c *Cached) Close() error {
	if c.closed.Swap(true) {
		return nil
	}
	return c.inner.Close()
}

// State implements [StateReporter]: the inner store's state (Unreachable
// once closed).
func (c *Cached) State() State {
	if c.closed.Load() {
		return Unreachable
	}
	return StateOf(c.inner)
}

// cache holds records and pins returned by the inner store. A nil *cache
// caches nothing.
type cache struct {
	mu   sync.RWMutex
	max  int
	recs keyedMap[cachedRecord] // cacheKey(space) ‖ period key → record
	pins keyedMap[int64]        // cacheKey(space) → pinned P
	kids map[kidKey]Record      // the records of key ids looked up, at most max
}

// kidKey names a key id in a tenant.
type kidKey struct {
	tenant string
	kid    drm.KeyID
}

// kid returns the cached record of a tenant's key id.
func (c *cache) kid(tenant string, kid drm.KeyID) (Record, bool) {
	c.mu.RLock()
	rec, ok := c.kids[kidKey{tenant, kid}]
	c.mu.RUnlock()
	return rec, ok
}

// addKID caches rec by its key id; when full, an arbitrary entry goes.
func (c *cache) addKID(rec Record) {
	k := kidKey{rec.Space.Tenant, rec.Key.KID}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.kids[k]; ok {
		return
	}
	if len(c.kids) >= c.max {
		for old := range c.kids {
			delete(c.kids, old)
			break
		}
	}
	c.kids[k] = rec
}

func newCache(max int) *cache {
	if max <= 0 {
		return nil
	}
	return &cache{max: max, recs: newKeyedMap[cachedRecord](), pins: newKeyedMap[int64](), kids: map[kidKey]Record{}}
}

// shortKeyBytes is the longest cache key held inline: a tenant, a
// content id and a track of usual lengths fit (a 7-byte tenant and a
// UUID content id make a 57-byte key); longer keys are held as strings.
const shortKeyBytes = 63

// shortKey is a cache key held inline, without pointers, so that a map of
// them (with pointer-free values) is never scanned by the garbage
// collector. With string keys, a full cache's maps had two string
// headers per entry to scan and tens of thousands of key strings to mark,
// which lengthened the collections during paced hits after a create storm
// (measured in BENCHMARKS.md, "Record cache keys").
type shortKey struct {
	n uint8
	b [shortKeyBytes]byte
}

// keyedMap is a map by cache key: short keys inline, longer ones (content
// ids can be 256 bytes) as strings.
type keyedMap[V any] struct {
	short map[shortKey]V
	long  map[string]V
}

func newKeyedMap[V any]() keyedMap[V] {
	return keyedMap[V]{short: make(map[shortKey]V), long: make(map[string]V)}
}

func (m *keyedMap[V]) len() int { return len(m.short) + len(m.long) }

// shortKeyOf returns k as a shortKey, or false if it is too long.
func shortKeyOf(k []byte) (shortKey, bool) {
	var sk shortKey
	if len(k) > shortKeyBytes {
		return sk, false
	}
	sk.n = uint8(len(k))
	copy(sk.b[:], k)
	return sk, true
}

func (m *keyedMap[V]) get(k []byte) (V, bool) {
	if sk, short := shortKeyOf(k); short {
		v, ok := m.short[sk]
		return v, ok
	}
	v, ok := m.long[string(k)]
	return v, ok
}

// add stores v under k unless k is present; when the map holds max
// entries, it first evicts an arbitrary one.
func (m *keyedMap[V]) add(k []byte, v V, max int) {
	sk, short := shortKeyOf(k)
	if short {
		if _, ok := m.short[sk]; ok {
			return
		}
	} else if _, ok := m.long[string(k)]; ok {
		return
	}
	if m.len() >= max {
		m.evictOne()
	}
	if short {
		m.short[sk] = v
	} else {
		m.long[string(k)] = v
	}
}

func (m *keyedMap[V]) evictOne() {
	for k := range m.long {
		delete(m.long, k)
		return
	}
	for k := range m.short {
		delete(m.short, k)
		return
	}
}

// cachedRecord is a Record without its Space, which the cache key holds
// (SpaceKey is injective, and the caller's request has that space). It
// holds no pointers, so the garbage collector does not scan the cache's
// values: after a crypto-period storm fills the cache, a Record's three
// strings per entry made every collection mark tens of thousands more
// objects.
type cachedRecord struct {
	periodSeconds int64
	period        int64
	created       int64 // Unix nanoseconds (UTC), as stored
	key           drm.ContentKey
	supplied      bool
}

func compactRecord(r *Record) cachedRecord {
	return cachedRecord{periodSeconds: r.PeriodSeconds, period: r.Period, created: r.Created.UnixNano(), key: r.Key, supplied: r.Supplied}
}

// record returns the Record of c in space s.
func (c *cachedRecord) record(s Space) Record {
	return Record{Space: s, PeriodSeconds: c.periodSeconds, Period: c.period, Key: c.key, Supplied: c.supplied,
		Created: time.Unix(0, c.created).UTC()}
}

// appendCacheKey appends uint8 len(tenant) ‖ tenant ‖ space key to b.
func appendCacheKey(b []byte, s *Space) []byte {
	b = append(b, byte(len(s.Tenant)))
	b = append(b, s.Tenant...)
	return appendSpaceKey(b, *s)
}

// lookup answers req from the cache; ok is false on a miss. ck is req's
// cache key; lookup appends the period key to it (in its spare capacity).
func (c *cache) lookup(req *Request, ck []byte) (rec Record, ok bool, err error) {
	live := req.PeriodSeconds > 0
	var n int64
	if live {
		c.mu.RLock()
		p, ok := c.pins.get(ck)
		c.mu.RUnlock()
		if !ok {
			return Record{}, false, nil
		}
		if n, err = req.Period(p); err != nil {
			return Record{}, false, fmt.Errorf("keystore: period: %w", err)
		}
	}
	c.mu.RLock()
	cr, ok := c.recs.get(appendPeriodKey(ck, live, n))
	c.mu.RUnlock()
	if !ok {
		return Record{}, false, nil
	}
	rec = cr.record(req.Space)
	if req.Supplied != nil {
		if err := MatchSupplied(&rec, req.Supplied); err != nil {
			return Record{}, false, err
		}
	}
	return rec, true, nil
}

// add stores rec under ck ‖ its period key and, for a LIVE record, the
// space's pin under ck. Only call it with durable data.
func (c *cache) add(ck []byte, rec Record) {
	k := appendPeriodKey(ck, rec.PeriodSeconds > 0, rec.Period)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.recs.add(k, compactRecord(&rec), c.max)
	if rec.PeriodSeconds > 0 {
		c.pins.add(ck, rec.PeriodSeconds, c.max)
	}
}
