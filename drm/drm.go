// Package drm is the leaf vocabulary shared by the domain packages: key ids,
// content keys, DRM systems and encryption schemes. It imports only the
// standard library; keystore, rotation and signaling all speak it, and none of
// them import each other.
package drm

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
)

// ErrInvalidKeyID is returned by ParseKeyID for text that is not a dashed UUID.
var ErrInvalidKeyID = errors.New("drm: key id is not a dashed UUID")

// KeyID is a 16-byte key id in UUID byte order, the same order as tenc
// default_KID and the pssh v1 KID list (ISO/IEC 23001-7).
type KeyID [16]byte

// ParseKeyID parses a dashed UUID (8-4-4-4-12 hex digits, either case).
func ParseKeyID(s string) (KeyID, error) {
	var k KeyID
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return k, ErrInvalidKeyID
	}
	var buf [32]byte
	n := 0
	for i := 0; i < len(s); i++ {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			continue
		}
		buf[n] = s[i]
		n++
	}
	if _, err := hex.Decode(k[:], buf[:]); err != nil {
		return KeyID{}, ErrInvalidKeyID
	}
	return k, nil
}

// String returns the lower-case dashed UUID form.
func (k KeyID) String() string {
	var b [36]byte
	hex.Encode(b[0:8], k[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], k[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], k[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], k[8:10])
	b[23] = '-'
	hex.Encode(b[24:], k[10:])
	return string(b[:])
}

// Hex returns the 32 lower-case hex digits without dashes.
func (k KeyID) Hex() string { return hex.EncodeToString(k[:]) }

// IsZero reports whether k is all zero bytes.
func (k KeyID) IsZero() bool { return k == KeyID{} }

// Key is a 16-byte AES content key. Its String, Format and LogValue methods
// redact it, so a Key that reaches a log line or an error by mistake prints
// REDACTED; use Bytes to get at the value deliberately.
type Key [16]byte

// Bytes returns a copy of the key value.
func (k Key) Bytes() []byte { return append([]byte(nil), k[:]...) }

// String returns "REDACTED".
func (Key) String() string { return "REDACTED" }

// GoString returns "REDACTED".
func (Key) GoString() string { return "REDACTED" }

// Format prints "REDACTED" for every verb.
func (Key) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte("REDACTED")) }

// LogValue implements slog.LogValuer.
func (Key) LogValue() slog.Value { return slog.StringValue("REDACTED") }

// IV is a 16-byte initialization vector. cbcs uses it as the constant IV.
type IV [16]byte

// ContentKey is a key id, its key and its IV. The key redacts itself when
// printed; the IV is treated as secret too and never logged by this module.
type ContentKey struct {
	KID KeyID
	Key Key
	IV  IV
}

// GenerateContentKey draws a fresh key id, key and IV from crypto/rand.
func GenerateContentKey() ContentKey {
	var ck ContentKey
	// crypto/rand.Read never returns an error on supported platforms (Go 1.24+).
	_, _ = rand.Read(ck.KID[:])
	_, _ = rand.Read(ck.Key[:])
	_, _ = rand.Read(ck.IV[:])
	// Make the key id a well-formed RFC 9562 version 4 UUID.
	ck.KID[6] = ck.KID[6]&0x0f | 0x40
	ck.KID[8] = ck.KID[8]&0x3f | 0x80
	return ck
}

// GenerateIV draws a fresh IV from crypto/rand.
func GenerateIV() IV {
	var iv IV
	_, _ = rand.Read(iv[:])
	return iv
}

// Scheme is a Common Encryption protection scheme (ISO/IEC 23001-7 §4.2).
type Scheme uint8

// The schemes the server issues keys for.
const (
	SchemeCBCS Scheme = iota + 1 // 'cbcs', AES-CBC pattern encryption, constant 16-byte IV; Nagra EMI 0x402A
	SchemeCENC                   // 'cenc', AES-CTR full-sample encryption; Nagra EMI 0x4024
)

// String returns the four-character code ("cbcs", "cenc").
func (s Scheme) String() string {
	switch s {
	case SchemeCBCS:
		return "cbcs"
	case SchemeCENC:
		return "cenc"
	}
	return fmt.Sprintf("scheme(%d)", uint8(s))
}

// FourCC returns the scheme's four-character code as a big-endian uint32.
func (s Scheme) FourCC() uint32 {
	c := s.String()
	if len(c) != 4 {
		return 0
	}
	return uint32(c[0])<<24 | uint32(c[1])<<16 | uint32(c[2])<<8 | uint32(c[3])
}

// Nagra Encryption Method Indicators (signaling-formats.md §10.1).
const (
	EMICENC uint32 = 0x4024 // 16420
	EMICBCS uint32 = 0x402A // 16426
)

// EMI returns the Nagra Encryption Method Indicator of the scheme.
func (s Scheme) EMI() uint32 {
	switch s {
	case SchemeCBCS:
		return EMICBCS
	case SchemeCENC:
		return EMICENC
	}
	return 0
}

// System is a DRM system the server signals for.
type System uint8

// The DRM systems, in no particular order; the matrix order lives in the
// server.
const (
	Widevine System = iota + 1
	PlayReady
	FairPlay
	NagraPRM
)

// Systems lists every System.
var Systems = []System{Widevine, PlayReady, FairPlay, NagraPRM}

// System ids (signaling-formats.md §1.1), lower-case dashed.
const (
	SystemIDWidevine  = "edef8ba9-79d6-4ace-a3c8-27dcd51d21ed"
	SystemIDPlayReady = "9a04f079-9840-4286-ab92-e65be0885f95"
	SystemIDFairPlay  = "94ce86fb-07ff-4f43-adb8-93d2fa968ca2"
	SystemIDNagraPRM  = "adb41c24-2dbf-4a6d-958b-4457c0d27b95"
)

// SystemID returns the system's UUID, lower-case dashed.
func (s System) SystemID() string {
	switch s {
	case Widevine:
		return SystemIDWidevine
	case PlayReady:
		return SystemIDPlayReady
	case FairPlay:
		return SystemIDFairPlay
	case NagraPRM:
		return SystemIDNagraPRM
	}
	return ""
}

// Short returns the short name used in drmList: WV, PR, FPS, PRM.
func (s System) Short() string {
	switch s {
	case Widevine:
		return "WV"
	case PlayReady:
		return "PR"
	case FairPlay:
		return "FPS"
	case NagraPRM:
		return "PRM"
	}
	return ""
}

// String returns the short name.
func (s System) String() string {
	if n := s.Short(); n != "" {
		return n
	}
	return fmt.Sprintf("system(%d)", uint8(s))
}

// ParseSystem accepts a system UUID (either case) or a short or long name,
// case-insensitively: WV/WIDEVINE, PR/PLAYREADY, FPS/FAIRPLAY, PRM. The
// boolean is false for anything else.
func ParseSystem(s string) (System, bool) {
	switch strings.ToUpper(s) {
	case "WV", "WIDEVINE", strings.ToUpper(SystemIDWidevine):
		return Widevine, true
	case "PR", "PLAYREADY", strings.ToUpper(SystemIDPlayReady):
		return PlayReady, true
	case "FPS", "FAIRPLAY", strings.ToUpper(SystemIDFairPlay):
		return FairPlay, true
	case "PRM", strings.ToUpper(SystemIDNagraPRM):
		return NagraPRM, true
	}
	return 0, false
}
