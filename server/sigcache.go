package server

import (
	"sync"

	"google.golang.org/protobuf/proto"

	"github.com/keyserver/keyserver/drm"
	keyserverv1 "github.com/keyserver/keyserver/gen/keyserver/v1"
)

// sigKey identifies one built drmSignalization entry. Within a tenant a
// key id names exactly one stored key (and IV), so (tenant, key id) stands
// for the key material the signaling depends on, without holding it.
type sigKey struct {
	tenant    string
	kid       drm.KeyID
	contentID string
	scheme    drm.Scheme
	laURL     string
	out       output
}

// sigCache holds built signaling entries: a hit answers with the same
// immutable messages instead of rebuilding pssh boxes, XML and base64 on
// every request. Entries are never modified after insertion (responses
// only reference them; gRPC and the gateway only read them), and a stored
// key never changes, so an entry never goes stale. It holds at most
// sigCacheSize entries; when full, an arbitrary entry is evicted. The zero
// value is ready to use.
type sigCache struct {
	mu      sync.RWMutex
	entries map[sigKey]*keyserverv1.DrmSignalization
	// wire holds each cached entry's protobuf encoding, so the gRPC codec
	// (codec.go) writes a hit's answer without marshalling it again.
	wire map[*keyserverv1.DrmSignalization][]byte
}

// sigCacheSize bounds the cache: entries of about 2,700 keys at six
// entries a key, some 1–2 KB each (tens of MB at most), like the keystore's
// record cache.
const sigCacheSize = 16384

func (c *sigCache) get(k *sigKey) *keyserverv1.DrmSignalization {
	c.mu.RLock()
	e := c.entries[*k]
	c.mu.RUnlock()
	return e
}

func (c *sigCache) put(k *sigKey, e *keyserverv1.DrmSignalization) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = make(map[sigKey]*keyserverv1.DrmSignalization)
		c.wire = make(map[*keyserverv1.DrmSignalization][]byte)
	}
	if _, ok := c.entries[*k]; ok {
		return
	}
	if len(c.entries) >= sigCacheSize {
		for old, oe := range c.entries {
			delete(c.entries, old)
			delete(c.wire, oe)
			break
		}
	}
	c.entries[*k] = e
	if b, err := proto.Marshal(e); err == nil {
		c.wire[e] = b
	}
}

// wireOf returns the protobuf encoding of a cached entry, or nil if e is
// not (or no longer) in the cache. The bytes are shared: read only.
func (c *sigCache) wireOf(e *keyserverv1.DrmSignalization) []byte {
	c.mu.RLock()
	b := c.wire[e]
	c.mu.RUnlock()
	return b
}
