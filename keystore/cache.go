package keystore

import (
	"sync"
	"time"

	"github.com/keyserver/keyserver/drm"
)

// cache holds records and pins read from or committed to the file. It only
// ever holds durable data, and since records and pins are never changed
// once written, an entry can never become stale. It is bounded: when full,
// an arbitrary entry is evicted. A nil *cache caches nothing.
type cache struct {
	mu   sync.RWMutex
	max  int
	recs keyedMap[cachedRecord] // cacheKey(tenant, sk) ‖ pk → record
	pins keyedMap[int64]        // cacheKey(tenant, sk) → pinned P
}

func newCache(max int) *cache {
	if max <= 0 {
		return nil
	}
	return &cache{max: max, recs: newKeyedMap[cachedRecord](), pins: newKeyedMap[int64]()}
}

// shortKeyBytes is the longest cache key held inline: a tenant, a
// content id and a track of usual lengths fit (a 7-byte tenant and a
// UUID content id make a 57-byte key); longer keys are held as strings.
const shortKeyBytes = 63

// shortKey is a cache key held inline, without pointers, so that a map of
// them (with pointer-free values) is never scanned by the garbage
// collector. With string keys, a full cache's maps had two string
// headers per entry to scan and tens of thousands of key strings to mark:
// the collections during paced hits after a create storm marked for
// 4–17 ms (typically ~10), with inline keys 3–11 ms (typically 5–6).
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
// (spaceKey is injective, and the caller's request has that space). It
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

// cacheKey returns uint8 len(tenant) ‖ tenant ‖ sk with room for a period key.
func cacheKey(tenant string, sk []byte) []byte {
	b := make([]byte, 0, 1+len(tenant)+len(sk)+9)
	b = append(b, byte(len(tenant)))
	b = append(b, tenant...)
	return append(b, sk...)
}

func (c *cache) record(k []byte) (cachedRecord, bool) {
	if c == nil {
		return cachedRecord{}, false
	}
	c.mu.RLock()
	r, ok := c.recs.get(k)
	c.mu.RUnlock()
	return r, ok
}

func (c *cache) pin(k []byte) (int64, bool) {
	if c == nil {
		return 0, false
	}
	c.mu.RLock()
	p, ok := c.pins.get(k)
	c.mu.RUnlock()
	return p, ok
}

// add stores rec under k and, for LIVE records, the space's pin under sk.
// Only call it with committed data.
func (c *cache) add(spaceKey, k []byte, rec Record) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.recs.add(k, compactRecord(&rec), c.max)
	if rec.PeriodSeconds > 0 {
		c.pins.add(spaceKey, rec.PeriodSeconds, c.max)
	}
}
