package signaling

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/Eyevinn/mp4ff/mp4"

	"github.com/keyserver/keyserver/drm"
)

// PSSH is one Protection System Specific Header box (ISO/IEC 23001-7 §8.1).
// Boxes are encoded and decoded with mp4ff; Data is the opaque
// system-specific payload.
type PSSH struct {
	Version  uint8       // 0 or 1
	Flags    uint32      // 24 bits, always 0 in practice
	SystemID string      // lower-case dashed UUID
	KIDs     []drm.KeyID // only for version 1
	Data     []byte
}

// ParseError reports malformed input at a byte offset.
type ParseError struct {
	Offset int   // byte offset in the input where the problem was found
	Err    error // what was wrong
}

func (e *ParseError) Error() string {
	return fmt.Sprintf("signaling: parse error at offset %d: %v", e.Offset, e.Err)
}

func (e *ParseError) Unwrap() error { return e.Err }

const psshV0Header = 32 // size, type, version+flags, SystemID, DataSize

// ParsePSSH parses one or more concatenated pssh boxes, as found in a
// cenc:pssh element or a client request. Version 0 and 1 boxes are accepted;
// 64-bit sizes, other box types, other versions, and any length field that
// disagrees with the input give a *ParseError. The returned values do not
// alias b.
func ParsePSSH(b []byte) ([]PSSH, error) {
	var out []PSSH
	for off := 0; off < len(b); {
		rest := b[off:]
		if len(rest) < psshV0Header {
			return nil, &ParseError{off, errors.New("truncated pssh box")}
		}
		size := binary.BigEndian.Uint32(rest)
		if string(rest[4:8]) != "pssh" {
			return nil, &ParseError{off + 4, fmt.Errorf("box type %q, want pssh", rest[4:8])}
		}
		if size < psshV0Header || uint64(size) > uint64(len(rest)) {
			return nil, &ParseError{off, fmt.Errorf("box size %d out of range", size)}
		}
		box := rest[:size]
		// Check every length field before mp4ff sees the box, so that nothing
		// is allocated from an untrusted count and the box is exactly covered.
		version := box[8]
		want := uint64(psshV0Header)
		dataSizeAt := 28
		switch version {
		case 0:
		case 1:
			if len(box) < psshV0Header+4 {
				return nil, &ParseError{off, errors.New("truncated pssh v1 box")}
			}
			n := uint64(binary.BigEndian.Uint32(box[28:]))
			want += 4 + 16*n
			dataSizeAt = 32 + 16*int(min(n, uint64(len(box))))
		default:
			return nil, &ParseError{off + 8, fmt.Errorf("unsupported pssh version %d", version)}
		}
		if want > uint64(size) || dataSizeAt+4 > len(box) {
			return nil, &ParseError{off, errors.New("pssh KID count exceeds box size")}
		}
		want += uint64(binary.BigEndian.Uint32(box[dataSizeAt:]))
		if want != uint64(size) {
			return nil, &ParseError{off + dataSizeAt, fmt.Errorf("pssh DataSize disagrees with box size %d", size)}
		}
		boxes, err := mp4.PsshBoxesFromBytes(box)
		if err != nil || len(boxes) != 1 || boxes[0].Size() != uint64(size) {
			return nil, &ParseError{off, fmt.Errorf("mp4ff: %v", err)}
		}
		pb := boxes[0]
		p := PSSH{
			Version:  pb.Version,
			Flags:    pb.Flags,
			SystemID: pb.SystemID.String(),
			Data:     bytes.Clone(pb.Data),
		}
		if len(pb.KIDs) > 0 {
			p.KIDs = make([]drm.KeyID, len(pb.KIDs))
			for i, k := range pb.KIDs {
				copy(p.KIDs[i][:], k)
			}
		}
		if p.Data == nil {
			p.Data = []byte{}
		}
		out = append(out, p)
		off += int(size)
	}
	if len(out) == 0 {
		return nil, &ParseError{0, errors.New("no pssh box")}
	}
	return out, nil
}

// MarshalBinary encodes the box with mp4ff. Version 0 boxes must have no
// KIDs; SystemID must be a UUID (dashed or 32 hex digits). The caller owns
// the returned slice.
func (p PSSH) MarshalBinary() ([]byte, error) {
	if p.Version > 1 {
		return nil, fmt.Errorf("signaling: unsupported pssh version %d", p.Version)
	}
	if p.Version == 0 && len(p.KIDs) > 0 {
		return nil, errors.New("signaling: pssh version 0 cannot carry KIDs")
	}
	if p.Flags >= 1<<24 {
		return nil, errors.New("signaling: pssh flags exceed 24 bits")
	}
	sys, err := parseUUID(p.SystemID)
	if err != nil {
		return nil, fmt.Errorf("signaling: pssh system id: %w", err)
	}
	pb := &mp4.PsshBox{Version: p.Version, Flags: p.Flags, SystemID: mp4.UUID(sys[:]), Data: p.Data}
	for i := range p.KIDs {
		pb.KIDs = append(pb.KIDs, mp4.UUID(p.KIDs[i][:]))
	}
	var buf bytes.Buffer
	buf.Grow(int(pb.Size()))
	if err := pb.Encode(&buf); err != nil {
		return nil, fmt.Errorf("signaling: encode pssh: %v", err)
	}
	return buf.Bytes(), nil
}

// MarshalPSSH concatenates the encoded boxes.
func MarshalPSSH(boxes []PSSH) ([]byte, error) {
	var out []byte
	for i := range boxes {
		b, err := boxes[i].MarshalBinary()
		if err != nil {
			return nil, err
		}
		out = append(out, b...)
	}
	return out, nil
}

// parseUUID accepts a dashed UUID or 32 hex digits.
func parseUUID(s string) (drm.KeyID, error) {
	if len(s) == 32 {
		var u drm.KeyID
		if _, err := hex.Decode(u[:], []byte(s)); err != nil {
			return u, drm.ErrInvalidKeyID
		}
		return u, nil
	}
	return drm.ParseKeyID(s)
}
