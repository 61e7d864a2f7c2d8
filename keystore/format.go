package keystore

// The stored format shared by every backend, version 1. A backend decides
// where these byte strings live (boltstore: nested buckets; see its package
// doc) but stores exactly these bytes, so that records sealed by one backend
// open in another and the sealing guarantees hold everywhere.
//
// Within a tenant, a key space is named by its space key ([SpaceKey]):
//
//	uint16 BE len(content id) ‖ content id ‖ scheme (1 byte) ‖ uint8 len(track) ‖ track
//
// The tenant is not part of it: backends keep tenants apart themselves.
// Within a space, entries are named by one-byte-tagged keys:
//
//	0x00                      [PinKey]: pinned period length P, int64 BE (LIVE only; written once)
//	0x01                      [PeriodKey](false, 0): the VOD record value
//	0x02 ‖ uint64 BE(n^1<<63) [PeriodKey](true, n): LIVE record value of period n
//	                          (sign-flipped so that keys sort by n)
//
// A tenant's key-id index maps a 16-byte key id to the location of its
// record ([EncodeLocation]): uint16 BE len(space key) ‖ space key ‖ period key.
//
// Record value (94 bytes, [Sealer.SealRecord]):
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
// The canary ([Sealer.SealCanary]) is nonce(12) ‖ AES-GCM(master,
// "keystore canary", ad="keystore/canary/v1"): a backend stores one when it
// is created and checks it when opened, to refuse another master key.
//
// Records are only ever inserted: there is no update or delete, so a value
// read once stays valid for the life of the store (this is what makes the
// in-memory cache, [NewCached], safe).

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/keyserver/keyserver/drm"
)

var (
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

// PinKey returns the key of a space's pinned period length (a new slice).
func PinKey() []byte { return []byte{tagPin} }

// IsPinKey reports whether k, a key within a space, is [PinKey] rather than
// a period key.
func IsPinKey(k []byte) bool { return len(k) == 1 && k[0] == tagPin }

// EncodePin returns the stored value of a pinned period length p (> 0).
func EncodePin(p int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(p)) }

// DecodePin decodes a stored pinned period length; ErrCorrupt unless it is
// 8 bytes holding a positive length.
func DecodePin(v []byte) (int64, error) {
	if len(v) != 8 || int64(binary.BigEndian.Uint64(v)) <= 0 {
		return 0, fmt.Errorf("%w: bad pinned period length", ErrCorrupt)
	}
	return int64(binary.BigEndian.Uint64(v)), nil
}

// SpaceKey encodes the space identity below the tenant. The caller has
// validated the request ([ValidateRequest]), which bounds the lengths.
func SpaceKey(s Space) []byte {
	return appendSpaceKey(make([]byte, 0, 2+len(s.ContentID)+2+len(s.Track)), s)
}

func appendSpaceKey(b []byte, s Space) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(s.ContentID)))
	b = append(b, s.ContentID...)
	b = append(b, byte(s.Scheme), byte(len(s.Track)))
	return append(b, s.Track...)
}

// DecodeSpaceKey decodes a space key of tenant; ErrCorrupt if malformed.
func DecodeSpaceKey(tenant string, k []byte) (Space, error) {
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

// PeriodKey returns the key of a record within its space: the VOD record
// if !live (n is ignored), else LIVE period n.
func PeriodKey(live bool, n int64) []byte {
	return appendPeriodKey(make([]byte, 0, 9), live, n)
}

func appendPeriodKey(b []byte, live bool, n int64) []byte {
	if !live {
		return append(b, tagVOD)
	}
	b = append(b, tagLive)
	return binary.BigEndian.AppendUint64(b, uint64(n)^1<<63)
}

// DecodePeriodKey decodes a period key; ErrCorrupt if malformed.
func DecodePeriodKey(k []byte) (live bool, n int64, err error) {
	switch {
	case len(k) == 1 && k[0] == tagVOD:
		return false, 0, nil
	case len(k) == 9 && k[0] == tagLive:
		return true, int64(binary.BigEndian.Uint64(k[1:]) ^ 1<<63), nil
	}
	return false, 0, fmt.Errorf("%w: bad period key", ErrCorrupt)
}

// EncodeLocation returns the key-id index entry of the record at (sk, pk).
func EncodeLocation(sk, pk []byte) []byte {
	b := make([]byte, 0, 2+len(sk)+len(pk))
	b = binary.BigEndian.AppendUint16(b, uint16(len(sk)))
	b = append(b, sk...)
	return append(b, pk...)
}

// DecodeLocation returns slices of loc (valid as long as loc is);
// ErrCorrupt if malformed.
func DecodeLocation(loc []byte) (sk, pk []byte, err error) {
	if len(loc) < 2 {
		return nil, nil, fmt.Errorf("%w: bad key-id index entry", ErrCorrupt)
	}
	n := int(binary.BigEndian.Uint16(loc))
	if len(loc) < 2+n+1 {
		return nil, nil, fmt.Errorf("%w: bad key-id index entry", ErrCorrupt)
	}
	return loc[2 : 2+n], loc[2+n:], nil
}

// Sealer seals records and the canary under a master key. It is safe for
// concurrent use (crypto/cipher's GCM is).
type Sealer struct{ aead cipher.AEAD }

// NewSealer returns the Sealer of master.
func NewSealer(master [32]byte) (*Sealer, error) {
	blk, err := aes.NewCipher(master[:])
	if err != nil {
		return nil, err
	}
	g, err := cipher.NewGCM(blk)
	if err != nil {
		return nil, err
	}
	return &Sealer{aead: g}, nil
}

// SealCanary returns a new canary value (random nonce).
func (s *Sealer) SealCanary() []byte {
	nonce := make([]byte, nonceLen, nonceLen+len(canaryPlain)+16)
	_, _ = rand.Read(nonce)
	return s.aead.Seal(nonce, nonce, canaryPlain, canaryAD)
}

// OpenCanary reports whether v is a canary sealed under this master key.
func (s *Sealer) OpenCanary(v []byte) bool {
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

// SealRecord builds the stored value of rec at (rec.Space.Tenant, sk, pk),
// with a random nonce.
func (s *Sealer) SealRecord(rec *Record, sk, pk []byte) []byte {
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

// OpenRecord decodes and opens the value v stored at (tenant, sk, pk):
// ErrCorrupt if anything fails to decode or open. It copies everything it
// keeps, so v may be memory the backend reuses (bbolt pages).
func (s *Sealer) OpenRecord(tenant string, sk, pk, v []byte) (Record, error) {
	if len(v) != valueLen || v[0] != valueVersion {
		return Record{}, fmt.Errorf("%w: bad record value", ErrCorrupt)
	}
	space, err := DecodeSpaceKey(tenant, sk)
	if err != nil {
		return Record{}, err
	}
	live, n, err := DecodePeriodKey(pk)
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
