package signaling

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/keyserver/keyserver/drm"
)

// WidevinePSSHData is the WidevinePsshData protobuf (proto2) carried in a
// Widevine pssh box (signaling-formats.md §3.1). Nil pointers and nil slices
// mean "field absent". Fields this type does not name are kept verbatim in
// Other so that they survive a parse/marshal round trip.
type WidevinePSSHData struct {
	Algorithm         *uint32  // field 1, deprecated (1 = AESCTR)
	KeyIDs            [][]byte // field 2, repeated; normally 16 bytes in UUID order, not enforced
	Provider          *string  // field 3
	ContentID         []byte   // field 4
	CryptoPeriodIndex *uint32  // field 7
	ProtectionScheme  *uint32  // field 9, a 4CC such as 0x63626373 ('cbcs')
	Other             []WidevineField

	// order is the field-number sequence seen by ParseWidevinePSSHData, so
	// that real-world payloads with fields out of ascending order (TV-4 has
	// algorithm last) re-encode identically. It is ignored once it no longer
	// matches the fields.
	order []int
}

// WidevineField is one protobuf field this package does not interpret, kept
// as its complete encoding (tag, and length or value).
type WidevineField struct {
	Num int    // field number
	Raw []byte // complete encoding, tag included
}

// NewWidevinePSSHData returns the encoded WidevinePsshData for kids, an
// optional content id (empty omits field 4), the protection scheme (zero
// omits field 9; cbcs and cenc are written as their 4CC) and an optional
// crypto_period_index (nil omits field 7, for key rotation with the Widevine
// Common Encryption API). Fields are written in ascending field order, as
// shaka-packager and every protobuf serialiser do; algorithm and provider are
// never written. It returns ErrUnsupportedScheme for other schemes. The
// caller owns the returned slice.
func NewWidevinePSSHData(kids []drm.KeyID, contentID []byte, scheme drm.Scheme, cryptoPeriodIndex *uint32) ([]byte, error) {
	d := WidevinePSSHData{CryptoPeriodIndex: cryptoPeriodIndex}
	d.KeyIDs = make([][]byte, len(kids))
	for i := range kids {
		d.KeyIDs[i] = kids[i][:]
	}
	if len(contentID) > 0 {
		d.ContentID = contentID
	}
	if scheme != 0 {
		if err := checkScheme(scheme); err != nil {
			return nil, err
		}
		fcc := scheme.FourCC()
		d.ProtectionScheme = &fcc
	}
	return d.MarshalBinary()
}

// Protobuf wire types.
const (
	wireVarint = 0
	wire64     = 1
	wireBytes  = 2
	wire32     = 5
)

// MarshalBinary encodes d. A value from ParseWidevinePSSHData whose fields
// still match what was parsed is written in the parsed field order; anything
// else in ascending field-number order, with the fields in Other merged in by
// field number (stable). Parsed input with minimal varints and no repeated
// singular field therefore round-trips byte for byte.
func (d WidevinePSSHData) MarshalBinary() ([]byte, error) {
	if d.orderValid() {
		return d.marshalInOrder(), nil
	}
	n := 0
	for _, k := range d.KeyIDs {
		n += 2 + len(k) + binary.MaxVarintLen32
	}
	n += len(d.ContentID) + 40
	if d.Provider != nil {
		n += len(*d.Provider)
	}
	for _, f := range d.Other {
		n += len(f.Raw)
	}
	b := make([]byte, 0, n)
	other := d.Other
	flush := func(upTo int) {
		for len(other) > 0 && other[0].Num <= upTo {
			b = append(b, other[0].Raw...)
			other = other[1:]
		}
	}
	if !slices.IsSortedFunc(other, func(a, c WidevineField) int { return a.Num - c.Num }) {
		other = slices.Clone(other)
		slices.SortStableFunc(other, func(a, c WidevineField) int { return a.Num - c.Num })
	}
	flush(0)
	if d.Algorithm != nil {
		b = appendVarintField(b, 1, uint64(*d.Algorithm))
	}
	flush(1)
	for _, k := range d.KeyIDs {
		b = appendBytesField(b, 2, k)
	}
	flush(2)
	if d.Provider != nil {
		b = appendBytesField(b, 3, []byte(*d.Provider))
	}
	flush(3)
	if d.ContentID != nil {
		b = appendBytesField(b, 4, d.ContentID)
	}
	flush(6)
	if d.CryptoPeriodIndex != nil {
		b = appendVarintField(b, 7, uint64(*d.CryptoPeriodIndex))
	}
	flush(8)
	if d.ProtectionScheme != nil {
		b = appendVarintField(b, 9, uint64(*d.ProtectionScheme))
	}
	flush(1 << 29)
	return b, nil
}

func appendVarintField(b []byte, num int, v uint64) []byte {
	b = binary.AppendUvarint(b, uint64(num)<<3|wireVarint)
	return binary.AppendUvarint(b, v)
}

func appendBytesField(b []byte, num int, v []byte) []byte {
	b = binary.AppendUvarint(b, uint64(num)<<3|wireBytes)
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}

// ParseWidevinePSSHData decodes a WidevinePsshData protobuf. Fields may come
// in any order; a repeated occurrence of a singular field replaces the
// earlier one (protobuf semantics). Unknown fields of any valid wire type are
// kept in Other. A known field with the wrong wire type, a uint32 field whose
// value exceeds 32 bits, a truncated field or wire types 3/4 (groups) give a
// *ParseError. The result does not alias b.
func ParseWidevinePSSHData(b []byte) (WidevinePSSHData, error) {
	var d WidevinePSSHData
	for off := 0; off < len(b); {
		start := off
		tag, n := binary.Uvarint(b[off:])
		if n <= 0 || tag>>3 == 0 || tag>>3 > 1<<29-1 {
			return WidevinePSSHData{}, &ParseError{off, errors.New("bad protobuf tag")}
		}
		off += n
		num, wt := int(tag>>3), int(tag&7)
		var val uint64
		var bs []byte
		switch wt {
		case wireVarint:
			val, n = binary.Uvarint(b[off:])
			if n <= 0 {
				return WidevinePSSHData{}, &ParseError{off, errors.New("bad protobuf varint")}
			}
			off += n
		case wire64, wire32:
			w := 8
			if wt == wire32 {
				w = 4
			}
			if len(b)-off < w {
				return WidevinePSSHData{}, &ParseError{off, errors.New("truncated fixed-width field")}
			}
			off += w
		case wireBytes:
			l, n := binary.Uvarint(b[off:])
			if n <= 0 || l > uint64(len(b)-off-n) {
				return WidevinePSSHData{}, &ParseError{off, errors.New("bad protobuf length")}
			}
			off += n
			bs = b[off : off+int(l)]
			off += int(l)
		default:
			return WidevinePSSHData{}, &ParseError{start, fmt.Errorf("unsupported protobuf wire type %d", wt)}
		}
		want := -1
		switch num {
		case 1, 7, 9:
			want = wireVarint
		case 2, 3, 4:
			want = wireBytes
		}
		if want >= 0 && wt != want {
			return WidevinePSSHData{}, &ParseError{start, fmt.Errorf("field %d has wire type %d, want %d", num, wt, want)}
		}
		if want == wireVarint && val > 1<<32-1 {
			return WidevinePSSHData{}, &ParseError{start, fmt.Errorf("field %d exceeds uint32", num)}
		}
		v32 := uint32(val)
		d.order = append(d.order, num)
		switch num {
		case 1:
			d.Algorithm = &v32
		case 2:
			d.KeyIDs = append(d.KeyIDs, append([]byte{}, bs...))
		case 3:
			s := string(bs)
			d.Provider = &s
		case 4:
			d.ContentID = append([]byte{}, bs...)
		case 7:
			d.CryptoPeriodIndex = &v32
		case 9:
			d.ProtectionScheme = &v32
		default:
			d.Other = append(d.Other, WidevineField{Num: num, Raw: append([]byte(nil), b[start:off]...)})
		}
	}
	return d, nil
}

// KIDs returns the key ids that are 16 bytes long, in order; others are
// skipped.
func (d WidevinePSSHData) KIDs() []drm.KeyID {
	var out []drm.KeyID
	for _, k := range d.KeyIDs {
		if len(k) == 16 {
			out = append(out, drm.KeyID(k))
		}
	}
	return out
}

// single reports whether singular field num is set.
func (d *WidevinePSSHData) single(num int) bool {
	switch num {
	case 1:
		return d.Algorithm != nil
	case 3:
		return d.Provider != nil
	case 4:
		return d.ContentID != nil
	case 7:
		return d.CryptoPeriodIndex != nil
	case 9:
		return d.ProtectionScheme != nil
	}
	return false
}

// orderValid reports whether d.order still describes d's fields exactly.
func (d *WidevinePSSHData) orderValid() bool {
	if d.order == nil {
		return false
	}
	var seen [10]int
	kids, other := 0, 0
	for _, num := range d.order {
		switch num {
		case 1, 3, 4, 7, 9:
			seen[num]++
			if seen[num] > 1 {
				return false
			}
		case 2:
			kids++
		default:
			if other >= len(d.Other) || d.Other[other].Num != num {
				return false
			}
			other++
		}
	}
	for _, num := range []int{1, 3, 4, 7, 9} {
		if d.single(num) != (seen[num] == 1) {
			return false
		}
	}
	return kids == len(d.KeyIDs) && other == len(d.Other)
}

func (d *WidevinePSSHData) marshalInOrder() []byte {
	var b []byte
	kids, other := 0, 0
	for _, num := range d.order {
		switch num {
		case 1:
			b = appendVarintField(b, 1, uint64(*d.Algorithm))
		case 2:
			b = appendBytesField(b, 2, d.KeyIDs[kids])
			kids++
		case 3:
			b = appendBytesField(b, 3, []byte(*d.Provider))
		case 4:
			b = appendBytesField(b, 4, d.ContentID)
		case 7:
			b = appendVarintField(b, 7, uint64(*d.CryptoPeriodIndex))
		case 9:
			b = appendVarintField(b, 9, uint64(*d.ProtectionScheme))
		default:
			b = append(b, d.Other[other].Raw...)
			other++
		}
	}
	return b
}
