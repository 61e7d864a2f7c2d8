package signaling

import (
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/keyserver/keyserver/drm"
)

// Errors callers may match with errors.Is.
var (
	// ErrUnsupportedSystem is returned for a DRM system that has no form of
	// the requested kind here: FairPlay has no pssh or DASH form, PlayReady
	// no HLS form, and unknown systems have none.
	ErrUnsupportedSystem = errors.New("signaling: unsupported DRM system")
	// ErrUnsupportedScheme is returned for a protection scheme other than
	// cbcs or cenc, and for cenc with FairPlay (FairPlay is SAMPLE-AES only).
	ErrUnsupportedScheme = errors.New("signaling: unsupported protection scheme")
	// ErrInvalidContentID is returned for a content id that is not valid
	// UTF-8, or that holds a character XML 1.0 cannot carry (a C0 control
	// other than tab, LF, CR, or U+FFFE/U+FFFF) when it must go into XML.
	ErrInvalidContentID = errors.New("signaling: content id cannot be represented")
	// ErrInvalidLAURL is returned for a PlayReady license URL that is not
	// valid UTF-8 or holds a character XML 1.0 cannot carry.
	ErrInvalidLAURL = errors.New("signaling: PlayReady license URL cannot be represented")
	// ErrHeaderTooLarge is returned when the PlayReady header for the
	// content id and license URL would exceed the 65535 bytes a PlayReady
	// Object record can hold (UTF-16LE, after XML escaping).
	ErrHeaderTooLarge = errors.New("signaling: PlayReady header exceeds 65535 bytes")
)

// Params is everything a DRM's signaling is derived from. The zero value is
// not useful: KID and Scheme must be set.
type Params struct {
	KID drm.KeyID
	// Key is used only for the PlayReady CHECKSUM of cenc headers
	// (AES-ECB of the GUID-order key id, first 8 bytes); it is never output
	// otherwise.
	Key drm.Key
	// IV is carried by the FairPlay skd:// JSON.
	IV drm.IV
	// ContentID is the CMS content id (drmContentId), arbitrary UTF-8. Empty
	// omits it where the format allows (Widevine content_id, PlayReady
	// CUSTOMATTRIBUTES); FairPlay and Nagra JSON then carry "".
	ContentID string
	// Scheme is drm.SchemeCBCS or drm.SchemeCENC.
	Scheme drm.Scheme
	// PlayReadyLAURL is the full PlayReady license acquisition URL written as
	// LA_URL and LUI_URL; empty omits both.
	PlayReadyLAURL string
	// CryptoPeriodIndex, if non-nil, is written as the Widevine
	// crypto_period_index (field 7) for key rotation; other systems ignore it.
	CryptoPeriodIndex *uint32
}

// DASH is one DRM's DASH signaling.
type DASH struct {
	SystemID          string // lower-case dashed UUID
	Name              string // display name: "WideVine" (sic, as Nagra's CKM emits), "PLAYREADY", "PRM"
	ContentProtection string // complete standalone <ContentProtection> element
	PSSH              []byte // the complete pssh box
}

// HLS is one DRM's HLS signaling.
type HLS struct {
	SystemID          string // lower-case dashed UUID
	Name              string // display name: "WideVine", "FairPlay", "PRM"
	URI               string // the URI attribute value, unquoted
	Method            string // SAMPLE-AES for cbcs, SAMPLE-AES-CTR for cenc
	KeyFormat         string
	KeyFormatVersions string
	Line              string // the complete "#EXT-X-KEY:..." tag line, no trailing newline
}

// Display names, as Nagra's CKM emits them (nagra-ckm-notes.md §2.3).
const (
	nameWidevine  = "WideVine"
	namePlayReady = "PLAYREADY"
	nameFairPlay  = "FairPlay"
)

// checkScheme reports ErrUnsupportedScheme for anything but cbcs and cenc.
func checkScheme(s drm.Scheme) error {
	if s != drm.SchemeCBCS && s != drm.SchemeCENC {
		return fmt.Errorf("%w: %v", ErrUnsupportedScheme, s)
	}
	return nil
}

// checkParams validates what every system needs.
func checkParams(p *Params) error {
	if err := checkScheme(p.Scheme); err != nil {
		return err
	}
	if !utf8.ValidString(p.ContentID) {
		return fmt.Errorf("%w: not valid UTF-8", ErrInvalidContentID)
	}
	return nil
}

// NewPSSH returns the complete version-0 pssh box for Widevine, PlayReady or
// Nagra PRM. The caller owns the returned slice. It returns
// ErrUnsupportedSystem for FairPlay and unknown systems, ErrUnsupportedScheme,
// ErrInvalidContentID and ErrInvalidLAURL.
func NewPSSH(sys drm.System, p Params) ([]byte, error) {
	if err := checkParams(&p); err != nil {
		return nil, err
	}
	data, err := psshData(sys, &p)
	if err != nil {
		return nil, err
	}
	return PSSH{SystemID: sys.SystemID(), Data: data}.MarshalBinary()
}

// psshData returns the system-specific pssh Data.
func psshData(sys drm.System, p *Params) ([]byte, error) {
	switch sys {
	case drm.Widevine:
		return NewWidevinePSSHData([]drm.KeyID{p.KID}, []byte(p.ContentID), p.Scheme, p.CryptoPeriodIndex)
	case drm.PlayReady:
		return newPlayReadyObject(p)
	case drm.NagraPRM:
		return NagraPSSHData{ContentID: p.ContentID, KeyID: p.KID}.MarshalBinary()
	}
	return nil, fmt.Errorf("%w: %v has no pssh form", ErrUnsupportedSystem, sys)
}

// NewDASH returns the DASH signaling of Widevine, PlayReady or Nagra PRM; see
// dash.go for the exact element. Errors are those of NewPSSH.
func NewDASH(sys drm.System, p Params) (DASH, error) {
	if err := checkParams(&p); err != nil {
		return DASH{}, err
	}
	switch sys {
	case drm.Widevine, drm.PlayReady, drm.NagraPRM:
	default:
		return DASH{}, fmt.Errorf("%w: %v has no DASH form", ErrUnsupportedSystem, sys)
	}
	data, err := psshData(sys, &p)
	if err != nil {
		return DASH{}, err
	}
	box, err := PSSH{SystemID: sys.SystemID(), Data: data}.MarshalBinary()
	if err != nil {
		return DASH{}, err
	}
	d := DASH{SystemID: sys.SystemID(), PSSH: box}
	switch sys {
	case drm.Widevine:
		d.Name = nameWidevine
		d.ContentProtection = contentProtection(sys.SystemID(), "", p.KID, box, nil)
	case drm.PlayReady:
		d.Name = namePlayReady
		d.ContentProtection = contentProtection(sys.SystemID(), playReadyDASHValue, p.KID, box, data)
	case drm.NagraPRM:
		d.Name = prmName
		d.ContentProtection = contentProtection(sys.SystemID(), prmDASHValue, p.KID, box, nil)
	}
	return d, nil
}

// NewHLS returns the HLS signaling of Widevine, PlayReady, FairPlay or Nagra
// PRM; see hls.go for the exact tag. It returns ErrUnsupportedSystem for
// unknown systems, ErrUnsupportedScheme (also for FairPlay with cenc) and
// ErrInvalidContentID.
func NewHLS(sys drm.System, p Params) (HLS, error) {
	if err := checkParams(&p); err != nil {
		return HLS{}, err
	}
	h := HLS{SystemID: sys.SystemID(), Method: hlsMethod(p.Scheme), KeyFormatVersions: "1"}
	var keyID string
	switch sys {
	case drm.Widevine:
		box, err := NewPSSH(sys, p)
		if err != nil {
			return HLS{}, err
		}
		h.Name = nameWidevine
		h.URI = dataURIBase64 + b64(box)
		h.KeyFormat = "urn:uuid:" + drm.SystemIDWidevine
		// shaka-packager writes KEYID for Widevine (signaling-formats.md §3.5).
		keyID = "0x" + p.KID.Hex()
	case drm.FairPlay:
		if p.Scheme != drm.SchemeCBCS {
			return HLS{}, fmt.Errorf("%w: FairPlay requires cbcs (SAMPLE-AES)", ErrUnsupportedScheme)
		}
		h.Name = nameFairPlay
		h.URI = fairPlayURI(&p)
		h.KeyFormat = fairPlayKeyFormat
	case drm.PlayReady:
		// The URI carries the PlayReady Object alone, not the pssh box
		// (signaling-formats.md §4.7); shaka-packager writes no KEYID.
		pro, err := newPlayReadyObject(&p)
		if err != nil {
			return HLS{}, err
		}
		h.Name = namePlayReady
		h.URI = playReadyHLSURIPrefix + b64(pro)
		h.KeyFormat = playReadyHLSKeyFormat
	case drm.NagraPRM:
		uri, err := prmHLSURI(&p)
		if err != nil {
			return HLS{}, err
		}
		h.Name = prmName
		h.URI = uri
		h.KeyFormat = prmHLSKeyFormat
	default:
		return HLS{}, fmt.Errorf("%w: %v has no HLS form", ErrUnsupportedSystem, sys)
	}
	line, err := extXKey(&h, keyID)
	if err != nil {
		return HLS{}, err
	}
	h.Line = line
	return h, nil
}
