package issuer

import (
	"fmt"
	"hash/maphash"
	"sync"
	"sync/atomic"

	"github.com/keyserver/keyserver/drm"
	"github.com/keyserver/keyserver/keystore"
	"github.com/keyserver/keyserver/signaling"
)

// Format is a streaming format a DRM is signaled in.
type Format uint8

const (
	FormatDASH Format = iota + 1
	FormatHLS
)

// Output is one signaling entry wanted: a DRM in a format.
type Output struct {
	System drm.System
	Format Format
}

// Entry is one built signaling entry: DASH is set for FormatDASH, HLS for
// FormatHLS. Display names are the tenant's (Tenant.DRMNames).
type Entry struct {
	Output
	DASH signaling.DASH
	HLS  signaling.HLS
}

// Signaling is the built signaling of one key for a list of outputs. It is
// immutable once returned and shared by every answer carrying it.
type Signaling struct {
	Entries []Entry
	cached  bool
	derived [maxDerived]atomic.Pointer[derivedValue]
}

type derivedValue struct{ v any }

// maxDerived is how many front-ends may attach derived encodings.
const maxDerived = 4

// DerivedKey names one front-end's encoding of signaling sets; make one
// per front-end with NewDerivedKey, at package initialization.
type DerivedKey struct{ i int }

var derivedKeys atomic.Int32

// NewDerivedKey returns a new key; it panics after maxDerived keys (a
// programming error, found at start).
func NewDerivedKey() DerivedKey {
	n := int(derivedKeys.Add(1)) - 1
	if n >= maxDerived {
		panic("issuer: too many derived keys")
	}
	return DerivedKey{i: n}
}

// Derived returns what a front-end derived from s under k (its protocol's
// encoding of the entries), building it with build the first time.
// Concurrent first calls may each build; one result is kept and returned
// to all later callers. Cached sets keep their derived values as long as
// they are cached: a hit then reuses the front-end's encoding too.
func (s *Signaling) Derived(k DerivedKey, build func(*Signaling) any) any {
	if d := s.derived[k.i].Load(); d != nil {
		return d.v
	}
	d := &derivedValue{v: build(s)}
	if s.derived[k.i].CompareAndSwap(nil, d) {
		return d.v
	}
	return s.derived[k.i].Load().v
}

// Cached reports whether s is held by the issuer's cache (so later answers
// for the same key and outputs get the same s).
func (s *Signaling) Cached() bool { return s.cached }

// maxOutputs is the most entries a cacheable set has: every DRM in both
// formats (the Nagra API asks for at most 6, a CPIX document for one
// entry per DRM system and format it names).
const maxOutputs = 10

// sigKey identifies the signaling of one answer: the key, the inputs the
// signaling depends on, and the outputs in order. Within a tenant a key id
// names exactly one stored key (and IV), so (tenant, key id) stands for
// the key material without holding it; the tenant also fixes the
// configured DRM names.
type sigKey struct {
	tenant    string
	kid       drm.KeyID
	contentID string
	scheme    drm.Scheme
	laURL     string
	n         int
	outs      [maxOutputs]Output
}

// signaling returns the signaling of rec for outs: the cached set, or a
// new one (cached when asked for the second time).
func (i *Issuer) signaling(rec *keystore.Record, outs []Output, set *Settings) (*Signaling, error) {
	k := sigKey{tenant: rec.Space.Tenant, kid: rec.Key.KID, contentID: rec.Space.ContentID, scheme: rec.Space.Scheme, laURL: set.PlayReadyURL}
	cacheable := len(outs) <= maxOutputs
	if cacheable {
		k.n = copy(k.outs[:], outs)
		if s := i.sigs.get(&k); s != nil {
			return s, nil
		}
	}
	p := signaling.Params{
		KID:            rec.Key.KID,
		Key:            rec.Key.Key,
		IV:             rec.Key.IV,
		ContentID:      rec.Space.ContentID,
		Scheme:         rec.Space.Scheme,
		PlayReadyLAURL: set.PlayReadyURL,
	}
	s := &Signaling{Entries: make([]Entry, len(outs))}
	for n, o := range outs {
		e := &s.Entries[n]
		e.Output = o
		name := set.DRMName(o.System)
		var err error
		if o.Format == FormatDASH {
			if e.DASH, err = signaling.NewDASH(o.System, p); err == nil && name != "" {
				e.DASH.Name = name
			}
		} else {
			if e.HLS, err = signaling.NewHLS(o.System, p); err == nil && name != "" {
				e.HLS.Name = name
			}
		}
		if err != nil {
			return nil, fmt.Errorf("signaling %s: %w", o.System, err)
		}
	}
	if cacheable && i.sigs.admit(&k) {
		return i.sigs.put(&k, s), nil
	}
	return s, nil
}

// sigCache holds built signaling: a hit answers with the same immutable
// set instead of rebuilding pssh boxes, XML and base64. A stored key never
// changes, so a set never goes stale. It holds at most sigCacheSize sets;
// when full, an arbitrary one is evicted. The zero value is ready to use.
type sigCache struct {
	mu   sync.RWMutex
	seen map[uint64]struct{} // keys asked for once (admit)
	sets map[sigKey]*Signaling
}

// seenSeed seeds the hash admit remembers keys by, random per process.
var seenSeed = maphash.MakeSeed()

// sigCacheSize bounds the cache: 4,096 live channels' current keys. A
// set with its front-ends' encodings is some kilobytes (BENCHMARKS.md).
const sigCacheSize = 4096

// admit reports whether the set of k, just built, is worth caching: only
// when k is asked for the second time (among the last sigCacheSize keys
// asked for once). Answers asked for once, such as each new key of a
// crypto-period storm or a VOD job, are then neither kept (their memory
// would lengthen every garbage collection) nor allowed to push out the
// sets of the live channels asked for again and again. A hash collision
// only caches a set early.
func (c *sigCache) admit(k *sigKey) bool {
	h := maphash.Comparable(seenSeed, *k)
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.seen[h]; ok {
		delete(c.seen, h)
		return true
	}
	if c.seen == nil {
		c.seen = make(map[uint64]struct{})
	}
	if len(c.seen) >= sigCacheSize {
		clear(c.seen)
	}
	c.seen[h] = struct{}{}
	return false
}

func (c *sigCache) get(k *sigKey) *Signaling {
	c.mu.RLock()
	s := c.sets[*k]
	c.mu.RUnlock()
	return s
}

// put stores s under k and returns it, or the set already stored there.
func (c *sigCache) put(k *sigKey, s *Signaling) *Signaling {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sets == nil {
		c.sets = make(map[sigKey]*Signaling)
	}
	if old, ok := c.sets[*k]; ok {
		return old
	}
	if len(c.sets) >= sigCacheSize {
		for oldKey := range c.sets {
			delete(c.sets, oldKey)
			break
		}
	}
	s.cached = true
	c.sets[*k] = s
	return s
}
