package nagra

import (
	"bytes"
	"encoding/base64"
	"sync"
	"sync/atomic"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	keyserverv1 "github.com/keyserver/keyserver/gen/keyserver/v1"
	"github.com/keyserver/keyserver/issuer"
)

// derivedKey names this front-end's encoding of the issuer's signaling
// sets (issuer.Signaling.Derived).
var derivedKey = issuer.NewDerivedKey()

// sigSet is the API's encoding of one issuer signaling set, built once
// per set: the entries (shared by every response that carries them, never
// modified: gRPC and the gateway only read them), their protobuf encoding
// as the answer's field 4, and their REST JSON, built at first use.
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

// Field number of GetKeyAndSignalizationResponse.drm_signalization.
const fieldDrmSignalization = 4

// setOf returns the API encoding of s, built once per set; a set the
// issuer caches is also indexed by its entries slice for the codecs.
func (a *API) setOf(s *issuer.Signaling) *sigSet {
	return s.Derived(derivedKey, func(s *issuer.Signaling) any {
		if !s.Cached() {
			// Answered once: encodings built for reuse would be wasted.
			return &sigSet{entries: entriesOf(s)}
		}
		set := newSigSet(entriesOf(s))
		a.index.add(set)
		return set
	}).(*sigSet)
}

// entriesOf converts the issuer's entries to the API's messages.
func entriesOf(s *issuer.Signaling) []*keyserverv1.DrmSignalization {
	out := make([]*keyserverv1.DrmSignalization, len(s.Entries))
	for n := range s.Entries {
		e := &s.Entries[n]
		if e.Format == issuer.FormatDASH {
			d := &e.DASH
			out[n] = &keyserverv1.DrmSignalization{Format: &keyserverv1.DrmSignalization_Dash{Dash: &keyserverv1.DashSignalization{
				DrmSystemId:    d.SystemID,
				DrmName:        d.Name,
				ManifestHeader: d.ContentProtection,
				PsshBox:        base64.StdEncoding.EncodeToString(d.PSSH),
			}}}
			continue
		}
		h := &e.HLS
		out[n] = &keyserverv1.DrmSignalization{Format: &keyserverv1.DrmSignalization_Hls{Hls: &keyserverv1.HlsSignalization{
			DrmSystemId:       h.SystemID,
			DrmName:           h.Name,
			KeyUri:            h.URI,
			Method:            h.Method,
			KeyFormat:         h.KeyFormat,
			KeyFormatVersions: h.KeyFormatVersions,
			ExtXKey:           h.Line,
		}}}
	}
	return out
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

// setIndex finds the set of a response's entries slice, for the gRPC
// codec, which sees only the response. It is bounded like the issuer's
// cache (indexSize); when full, an arbitrary entry is dropped: a set
// that is not found is encoded the ordinary way, with the same bytes.
type setIndex struct {
	mu     sync.RWMutex
	byList map[**keyserverv1.DrmSignalization]*sigSet // &entries[0]
}

// indexSize bounds setIndex: twice the issuer's signaling cache, so the
// sets it holds are indexed even as it replaces them.
const indexSize = 8192

func (x *setIndex) add(s *sigSet) {
	if len(s.entries) == 0 {
		return
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.byList == nil {
		x.byList = make(map[**keyserverv1.DrmSignalization]*sigSet)
	}
	if len(x.byList) >= indexSize {
		for k := range x.byList {
			delete(x.byList, k)
			break
		}
	}
	x.byList[&s.entries[0]] = s
}

// setOf returns the indexed set whose entries list is exactly list (the
// same slice), or nil.
func (x *setIndex) setOf(list []*keyserverv1.DrmSignalization) *sigSet {
	if x == nil || len(list) == 0 {
		return nil
	}
	x.mu.RLock()
	s := x.byList[&list[0]]
	x.mu.RUnlock()
	if s == nil || len(s.entries) != len(list) {
		return nil
	}
	return s
}
