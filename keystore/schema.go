package keystore

// On-disk layout of a [Bolt] file, format version 1.
//
//	"keystore.meta"                        bucket
//	    "version" → uint32 BE (1)
//	    "canary"  → nonce(12) ‖ AES-GCM(master, "keystore canary", ad="keystore/canary/v1")
//	"tenants"                              bucket
//	    <tenant id bytes>                  bucket, one per tenant
//	        "spaces"                       bucket
//	            <space key>                bucket, one per key space
//	                0x00                   → pinned period length P, int64 BE (LIVE only; written once)
//	                0x01                   → VOD record value
//	                0x02 ‖ uint64 BE(n^1<<63) → LIVE record value of period n (sign-flipped so keys sort by n)
//	        "kids"                         bucket, the tenant's key-id index
//	            <key id, 16 bytes>         → uint16 BE len(space key) ‖ space key ‖ period key
//
// Space key: uint16 BE len(content id) ‖ content id ‖ scheme (1 byte) ‖
// uint8 len(track) ‖ track. The tenant is the enclosing bucket's name.
//
// Record value (94 bytes):
//
//	[0]      value version (1)
//	[1]      flags: bit 0 = supplied by the packager
//	[2:10]   created, Unix nanoseconds, int64 BE
//	[10:18]  period length P, int64 BE (0 for VOD)
//	[18:34]  key id (not secret; also the index key)
//	[34:46]  GCM nonce, random
//	[46:94]  AES-256-GCM(master key, key ‖ IV) with its 16-byte tag
//
// The additional data of a record is "keystore/record/v1" ‖ uint8 len(tenant)
// ‖ tenant ‖ space key ‖ period key ‖ value[0:34]: the full identity (tenant,
// content id, scheme, track, VOD/LIVE, period index) and the clear header
// (flags, created, P, key id). A sealed value copied to another record, or
// a header edited in place, fails to open ([ErrCorrupt]).
//
// Records are only ever inserted: there is no update or delete, so a value
// read once stays valid for the life of the file (this is what makes the
// in-memory cache safe).

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/keyserver/keyserver/drm"
)

const formatVersion = 1

var (
	bucketMeta    = []byte("keystore.meta")
	bucketTenants = []byte("tenants")
	bucketSpaces  = []byte("spaces")
	bucketKIDs    = []byte("kids")

	metaVersion = []byte("version")
	metaCanary  = []byte("canary")

	canaryPlain = []byte("keystore canary")
	canaryAD    = []byte("keystore/canary/v1")
	recordAD    = []byte("keystore/record/v1")
)

const (
	tagPin  = 0x00
	tagVOD  = 0x01
	tagLive = 0x02

	valueVersion = 1
	flagSupplied = 1 << 0

	hdrLen    = 34
	nonceLen  = 12
	sealedLen = 32 + 16
	valueLen  = hdrLen + nonceLen + sealedLen
)

var pinKey = []byte{tagPin}

// spaceKey encodes the space identity below the tenant. The caller has
// validated the lengths.
func spaceKey(s Space) []byte {
	b := make([]byte, 0, 2+len(s.ContentID)+2+len(s.Track))
	b = binary.BigEndian.AppendUint16(b, uint16(len(s.ContentID)))
	b = append(b, s.ContentID...)
	b = append(b, byte(s.Scheme), byte(len(s.Track)))
	return append(b, s.Track...)
}

func decodeSpaceKey(tenant string, k []byte) (Space, error) {
	if len(k) < 2 {
		return Space{}, fmt.Errorf("%w: short space key", ErrCorrupt)
	}
	n := int(binary.BigEndian.Uint16(k))
	k = k[2:]
	if len(k) < n+2 {
		return Space{}, fmt.Errorf("%w: short space key", ErrCorrupt)
	}
	s := Space{Tenant: tenant, ContentID: string(k[:n]), Scheme: drm.Scheme(k[n])}
	t := int(k[n+1])
	k = k[n+2:]
	if len(k) != t {
		return Space{}, fmt.Errorf("%w: bad space key", ErrCorrupt)
	}
	s.Track = string(k)
	return s, nil
}

// periodKey returns the key of a record in its space bucket.
func periodKey(live bool, n int64) []byte {
	if !live {
		return []byte{tagVOD}
	}
	b := make([]byte, 9)
	b[0] = tagLive
	binary.BigEndian.PutUint64(b[1:], uint64(n)^1<<63)
	return b
}

func decodePeriodKey(k []byte) (live bool, n int64, err error) {
	switch {
	case len(k) == 1 && k[0] == tagVOD:
		return false, 0, nil
	case len(k) == 9 && k[0] == tagLive:
		return true, int64(binary.BigEndian.Uint64(k[1:]) ^ 1<<63), nil
	}
	return false, 0, fmt.Errorf("%w: bad period key", ErrCorrupt)
}

func encodeLocation(sk, pk []byte) []byte {
	b := make([]byte, 0, 2+len(sk)+len(pk))
	b = binary.BigEndian.AppendUint16(b, uint16(len(sk)))
	b = append(b, sk...)
	return append(b, pk...)
}

// decodeLocation returns slices of loc (valid as long as loc is).
func decodeLocation(loc []byte) (sk, pk []byte, err error) {
	if len(loc) < 2 {
		return nil, nil, fmt.Errorf("%w: bad key-id index entry", ErrCorrupt)
	}
	n := int(binary.BigEndian.Uint16(loc))
	if len(loc) < 2+n+1 {
		return nil, nil, fmt.Errorf("%w: bad key-id index entry", ErrCorrupt)
	}
	return loc[2 : 2+n], loc[2+n:], nil
}

// sealer seals records and the canary. cipher.AEAD from crypto/cipher's GCM
// is safe for concurrent use.
type sealer struct{ aead cipher.AEAD }

func newSealer(master [32]byte) (*sealer, error) {
	blk, err := aes.NewCipher(master[:])
	if err != nil {
		return nil, err
	}
	g, err := cipher.NewGCM(blk)
	if err != nil {
		return nil, err
	}
	return &sealer{aead: g}, nil
}

func (s *sealer) sealCanary() []byte {
	nonce := make([]byte, nonceLen, nonceLen+len(canaryPlain)+16)
	_, _ = rand.Read(nonce)
	return s.aead.Seal(nonce, nonce, canaryPlain, canaryAD)
}

func (s *sealer) openCanary(v []byte) bool {
	if len(v) < nonceLen {
		return false
	}
	p, err := s.aead.Open(nil, v[:nonceLen], v[nonceLen:], canaryAD)
	return err == nil && string(p) == string(canaryPlain)
}

func recordAAD(tenant string, sk, pk, hdr []byte) []byte {
	ad := make([]byte, 0, len(recordAD)+1+len(tenant)+len(sk)+len(pk)+len(hdr))
	ad = append(ad, recordAD...)
	ad = append(ad, byte(len(tenant)))
	ad = append(ad, tenant...)
	ad = append(ad, sk...)
	ad = append(ad, pk...)
	return append(ad, hdr...)
}

// sealRecord builds the stored value of rec at (tenant, sk, pk).
func (s *sealer) sealRecord(rec *Record, sk, pk []byte) []byte {
	v := make([]byte, hdrLen+nonceLen, valueLen)
	v[0] = valueVersion
	if rec.Supplied {
		v[1] = flagSupplied
	}
	binary.BigEndian.PutUint64(v[2:], uint64(rec.Created.UnixNano()))
	binary.BigEndian.PutUint64(v[10:], uint64(rec.PeriodSeconds))
	copy(v[18:34], rec.Key.KID[:])
	_, _ = rand.Read(v[hdrLen : hdrLen+nonceLen])
	var plain [32]byte
	copy(plain[:16], rec.Key.Key[:])
	copy(plain[16:], rec.Key.IV[:])
	v = s.aead.Seal(v, v[hdrLen:hdrLen+nonceLen], plain[:], recordAAD(rec.Space.Tenant, sk, pk, v[:hdrLen]))
	clear(plain[:])
	return v
}

// openRecord decodes and opens the value v stored at (tenant, sk, pk). It
// copies everything it keeps, so v may be bbolt memory.
func (s *sealer) openRecord(tenant string, sk, pk, v []byte) (Record, error) {
	if len(v) != valueLen || v[0] != valueVersion {
		return Record{}, fmt.Errorf("%w: bad record value", ErrCorrupt)
	}
	space, err := decodeSpaceKey(tenant, sk)
	if err != nil {
		return Record{}, err
	}
	live, n, err := decodePeriodKey(pk)
	if err != nil {
		return Record{}, err
	}
	var plain [32]byte
	if _, err := s.aead.Open(plain[:0], v[hdrLen:hdrLen+nonceLen], v[hdrLen+nonceLen:], recordAAD(tenant, sk, pk, v[:hdrLen])); err != nil {
		return Record{}, fmt.Errorf("%w: record does not open under the master key", ErrCorrupt)
	}
	rec := Record{
		Space:         space,
		PeriodSeconds: int64(binary.BigEndian.Uint64(v[10:])),
		Period:        n,
		Supplied:      v[1]&flagSupplied != 0,
		Created:       time.Unix(0, int64(binary.BigEndian.Uint64(v[2:]))).UTC(),
	}
	copy(rec.Key.KID[:], v[18:34])
	copy(rec.Key.Key[:], plain[:16])
	copy(rec.Key.IV[:], plain[16:])
	clear(plain[:])
	if live != (rec.PeriodSeconds > 0) {
		return Record{}, fmt.Errorf("%w: period length does not match record kind", ErrCorrupt)
	}
	return rec, nil
}
