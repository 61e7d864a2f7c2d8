package server

import (
	"bytes"
	"hash/maphash"
	"sync"
	"sync/atomic"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/keyserver/keyserver/drm"
	keyserverv1 "github.com/keyserver/keyserver/gen/keyserver/v1"
)

// maxOutputs is the most drmSignalization entries one answer has: PR
// (DASH only), FPS (HLS only), PRM and WV (both), each at most once.
const maxOutputs = 6

// sigSetKey identifies the signaling entries of one answer: the key, the
// inputs the signaling depends on, and the (DRM, format) outputs in
// order. Within a tenant a key id names exactly one stored key (and IV),
// so (tenant, key id) stands for the key material without holding it;
// the tenant also fixes the configured DRM names.
type sigSetKey struct {
	tenant    string
	kid       drm.KeyID
	contentID string
	scheme    drm.Scheme
	laURL     string
	n         int
	outs      [maxOutputs]output
}

// setOutputs records outs in k; false if there are more than maxOutputs
// (then the answer is built without the cache).
func (k *sigSetKey) setOutputs(outs []output) bool {
	if len(outs) > maxOutputs {
		return false
	}
	k.n = copy(k.outs[:], outs)
	return true
}

// sigSet is one answer's signaling, built once: the entries (shared by
// every response that carries them, never modified: gRPC and the gateway
// only read them), their protobuf encoding as the answer's field 4, and
// their REST JSON, built at first use.
type sigSet struct {
	entries []*keyserverv1.DrmSignalization // cap == len: appending copies
	// wire is each entry's tag, length and encoding, as proto.Marshal
	// writes the response's drm_signalization field; nil if an entry did
	// not marshal (the codecs then take the ordinary path).
	wire []byte
	json atomic.Pointer[jsonFragment]
	// answer is the first REST answer carrying these entries
	// (responsejson.go). It holds that answer's contentKey, key value
	// included, in memory for as long as the set is cached, as the
	// keystore's record cache holds the key itself.
	answer atomic.Pointer[jsonAnswer]
}

// jsonFragment is the entries' REST JSON (the members of the
// drmSignalization array) or the error writing them gave.
type jsonFragment struct {
	b   []byte
	err error
}

func newSigSet(entries []*keyserverv1.DrmSignalization) *sigSet {
	s := &sigSet{entries: entries[:len(entries):len(entries)]}
	size := 0
	for _, e := range entries {
		size += protowire.SizeTag(fieldDrmSignalization) + protowire.SizeBytes(proto.Size(e))
	}
	wire := make([]byte, 0, size)
	for _, e := range entries {
		wire = protowire.AppendTag(wire, fieldDrmSignalization, protowire.BytesType)
		wire = protowire.AppendVarint(wire, uint64(proto.Size(e)))
		var err error
		if wire, err = (proto.MarshalOptions{UseCachedSize: true}).MarshalAppend(wire, e); err != nil {
			return s
		}
	}
	s.wire = wire
	return s
}

// jsonOf returns the REST JSON of the entries (responsejson.go): the
// members of the drmSignalization array.
func (s *sigSet) jsonOf() ([]byte, error) {
	if f := s.json.Load(); f != nil {
		return f.b, f.err
	}
	b, err := appendEntriesJSON(make([]byte, 0, len(s.wire)*5/4), s.entries)
	f := &jsonFragment{b: bytes.Clone(b), err: err} // exact size: the build buffer had slack
	s.json.Store(f)                                 // a concurrent first use stores equal bytes
	return f.b, f.err
}

// sigCache holds built signaling: a hit answers with the same immutable
// entries instead of rebuilding pssh boxes, XML and base64, and the gRPC
// codec and the REST JSON writer find the entries' encodings from the
// response (by its entries slice). A stored
// key never changes, so a set never goes stale. It holds at most
// sigCacheSize sets; when full, an arbitrary one is evicted. The zero
// value is ready to use.
type sigCache struct {
	mu     sync.RWMutex
	seen   map[uint64]struct{} // keys asked for once (admit)
	sets   map[sigSetKey]*sigSet
	byList map[**keyserverv1.DrmSignalization]*sigSet // &entries[0]
}

// seenSeed seeds the hash admit remembers keys by, random per process.
var seenSeed = maphash.MakeSeed()

// sigCacheSize bounds the cache: a set is some 4 KB of messages, 4 KB of
// encoding and, once REST served it, 5 KB of JSON (its first whole
// answer, whose entries' part is the set's JSON), so at most ~55 MB;
// 4,096 live channels' current keys.
const sigCacheSize = 4096

// Field number of GetKeyAndSignalizationResponse.drm_signalization.
const fieldDrmSignalization = 4

// admit reports whether the set of k, just built, is worth caching: only
// when k is asked for the second time (among the last sigCacheSize keys
// asked for once). Answers asked for once, such as each new key of a
// crypto-period storm or a VOD job, are then neither kept (their memory
// would lengthen every garbage collection) nor allowed to push out the
// sets of the live channels asked for again and again. A hash collision
// only caches a set early.
func (c *sigCache) admit(k *sigSetKey) bool {
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

func (c *sigCache) get(k *sigSetKey) *sigSet {
	c.mu.RLock()
	s := c.sets[*k]
	c.mu.RUnlock()
	return s
}

// put stores s under k and returns it, or the set already stored there.
func (c *sigCache) put(k *sigSetKey, s *sigSet) *sigSet {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sets == nil {
		c.sets = make(map[sigSetKey]*sigSet)
		c.byList = make(map[**keyserverv1.DrmSignalization]*sigSet)
	}
	if old, ok := c.sets[*k]; ok {
		return old
	}
	if len(c.sets) >= sigCacheSize {
		for oldKey, old := range c.sets {
			delete(c.sets, oldKey)
			if len(old.entries) > 0 {
				delete(c.byList, &old.entries[0])
			}
			break
		}
	}
	c.sets[*k] = s
	if len(s.entries) > 0 {
		c.byList[&s.entries[0]] = s
	}
	return s
}

// setOf returns the cached set whose entries list is exactly list (the
// same slice), or nil.
func (c *sigCache) setOf(list []*keyserverv1.DrmSignalization) *sigSet {
	if c == nil || len(list) == 0 {
		return nil
	}
	c.mu.RLock()
	s := c.byList[&list[0]]
	c.mu.RUnlock()
	if s == nil || len(s.entries) != len(list) {
		return nil
	}
	return s
}
