package keystore

import "sync"

// cache holds records and pins read from or committed to the file. It only
// ever holds durable data, and since records and pins are never changed
// once written, an entry can never become stale. It is bounded: when full,
// an arbitrary entry is evicted. A nil *cache caches nothing.
type cache struct {
	mu   sync.RWMutex
	max  int
	recs map[string]Record // cacheKey(tenant, sk) ‖ pk → record
	pins map[string]int64  // cacheKey(tenant, sk) → pinned P
}

func newCache(max int) *cache {
	if max <= 0 {
		return nil
	}
	return &cache{max: max, recs: make(map[string]Record), pins: make(map[string]int64)}
}

// cacheKey returns uint8 len(tenant) ‖ tenant ‖ sk with room for a period key.
func cacheKey(tenant string, sk []byte) []byte {
	b := make([]byte, 0, 1+len(tenant)+len(sk)+9)
	b = append(b, byte(len(tenant)))
	b = append(b, tenant...)
	return append(b, sk...)
}

func (c *cache) record(k []byte) (Record, bool) {
	if c == nil {
		return Record{}, false
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
		c.recs[string(k)] = rec
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
