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
	recs map[string]cachedRecord // cacheKey(tenant, sk) ‖ pk → record
	pins map[string]int64        // cacheKey(tenant, sk) → pinned P
}

func newCache(max int) *cache {
	if max <= 0 {
		return nil
	}
	return &cache{max: max, recs: make(map[string]cachedRecord), pins: make(map[string]int64)}
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
	r, ok := c.recs[string(k)]
	c.mu.RUnlock()
	return r, ok
}

func (c *cache) pin(k []byte) (int64, bool) {
	if c == nil {
		return 0, false
	}
	c.mu.RLock()
	p, ok := c.pins[string(k)]
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
	if _, ok := c.recs[string(k)]; !ok {
		if len(c.recs) >= c.max {
			for old := range c.recs {
				delete(c.recs, old)
				break
			}
		}
		c.recs[string(k)] = compactRecord(&rec)
	}
	if rec.PeriodSeconds > 0 {
		if _, ok := c.pins[string(spaceKey)]; !ok {
			if len(c.pins) >= c.max {
				for old := range c.pins {
					delete(c.pins, old)
					break
				}
			}
			c.pins[string(spaceKey)] = rec.PeriodSeconds
		}
	}
}
