package signaling

import (
	"crypto/aes"
	"encoding/base64"
	"encoding/binary"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf16"

	"github.com/keyserver/keyserver/drm"
)

// PlayReady constants (signaling-formats.md §4).
const (
	playReadyDASHValue = "MSPR 2.0"
	wrmHeaderNS        = "http://schemas.microsoft.com/DRM/2007/03/PlayReadyHeader"
	nagraNS            = "urn:schema-ssp-nagra-com"
	// PlayReadyRecordHeader is the PRO record type of a WRMHEADER.
	PlayReadyRecordHeader uint16 = 1
)

// PlayReadyObject is a PlayReady Object (PRO): the pssh Data of a PlayReady
// box and the mspr:pro payload. All integers are little-endian.
type PlayReadyObject struct {
	Records []PlayReadyRecord
}

// PlayReadyRecord is one PRO record. For type 1 (PlayReadyRecordHeader) the
// value is the WRMHEADER XML in UTF-16LE without BOM.
type PlayReadyRecord struct {
	Type  uint16
	Value []byte
}

// ParsePlayReadyObject decodes a PRO. The total length must equal len(b) and
// the records must cover the object exactly; otherwise it returns a
// *ParseError. The result does not alias b.
func ParsePlayReadyObject(b []byte) (PlayReadyObject, error) {
	if len(b) < 6 {
		return PlayReadyObject{}, &ParseError{0, errors.New("truncated PlayReady Object")}
	}
	if n := binary.LittleEndian.Uint32(b); uint64(n) != uint64(len(b)) {
		return PlayReadyObject{}, &ParseError{0, fmt.Errorf("PlayReady Object length %d, have %d bytes", n, len(b))}
	}
	count := int(binary.LittleEndian.Uint16(b[4:]))
	var o PlayReadyObject
	off := 6
	for i := 0; i < count; i++ {
		if len(b)-off < 4 {
			return PlayReadyObject{}, &ParseError{off, errors.New("truncated PlayReady record header")}
		}
		typ := binary.LittleEndian.Uint16(b[off:])
		l := int(binary.LittleEndian.Uint16(b[off+2:]))
		if len(b)-off-4 < l {
			return PlayReadyObject{}, &ParseError{off + 2, errors.New("PlayReady record exceeds object")}
		}
		o.Records = append(o.Records, PlayReadyRecord{Type: typ, Value: append([]byte{}, b[off+4:off+4+l]...)})
		off += 4 + l
	}
	if off != len(b) {
		return PlayReadyObject{}, &ParseError{off, errors.New("trailing bytes after PlayReady records")}
	}
	return o, nil
}

// MarshalBinary encodes the PRO. It fails if a record value exceeds 65535
// bytes or there are more than 65535 records.
func (o PlayReadyObject) MarshalBinary() ([]byte, error) {
	if len(o.Records) > 0xFFFF {
		return nil, errors.New("signaling: too many PlayReady records")
	}
	n := 6
	for _, r := range o.Records {
		if len(r.Value) > maxPlayReadyRecord {
			return nil, errors.New("signaling: PlayReady record exceeds 65535 bytes")
		}
		n += 4 + len(r.Value)
	}
	b := make([]byte, 6, n)
	binary.LittleEndian.PutUint32(b, uint32(n))
	binary.LittleEndian.PutUint16(b[4:], uint16(len(o.Records)))
	for _, r := range o.Records {
		b = binary.LittleEndian.AppendUint16(b, r.Type)
		b = binary.LittleEndian.AppendUint16(b, uint16(len(r.Value)))
		b = append(b, r.Value...)
	}
	return b, nil
}

// WRMHeader returns the XML of the first WRMHEADER record, decoded from
// UTF-16LE (unpaired surrogates become U+FFFD). It returns a *ParseError if
// there is none or its length is odd.
func (o PlayReadyObject) WRMHeader() (string, error) {
	for _, r := range o.Records {
		if r.Type != PlayReadyRecordHeader {
			continue
		}
		if len(r.Value)%2 != 0 {
			return "", &ParseError{0, errors.New("odd-length UTF-16 WRMHEADER")}
		}
		u := make([]uint16, len(r.Value)/2)
		for i := range u {
			u[i] = binary.LittleEndian.Uint16(r.Value[2*i:])
		}
		return string(utf16.Decode(u)), nil
	}
	return "", &ParseError{0, errors.New("no WRMHEADER record")}
}

// NewPlayReadyObject wraps a WRMHEADER XML string into a single-record PRO
// (UTF-16LE, no BOM, no ELS record).
func NewPlayReadyObject(wrmHeader string) ([]byte, error) {
	v := make([]byte, 0, 2*len(wrmHeader))
	for _, r := range wrmHeader {
		if r >= 0x10000 {
			r1, r2 := utf16.EncodeRune(r)
			v = binary.LittleEndian.AppendUint16(v, uint16(r1))
			v = binary.LittleEndian.AppendUint16(v, uint16(r2))
			continue
		}
		v = binary.LittleEndian.AppendUint16(v, uint16(r))
	}
	return PlayReadyObject{Records: []PlayReadyRecord{{Type: PlayReadyRecordHeader, Value: v}}}.MarshalBinary()
}

// newPlayReadyObject builds the PRO for p.
func newPlayReadyObject(p *Params) ([]byte, error) {
	h, err := NewWRMHeader(p)
	if err != nil {
		return nil, err
	}
	return NewPlayReadyObject(h)
}

// NewWRMHeader returns the WRMHEADER XML for p.
//
// cenc uses version 4.0.0.0, readable by every PlayReady client:
//
//	<WRMHEADER xmlns="…" version="4.0.0.0"><DATA><PROTECTINFO><KEYLEN>16</KEYLEN>
//	<ALGID>AESCTR</ALGID></PROTECTINFO><KID>b64</KID><CHECKSUM>b64</CHECKSUM>
//	[<LA_URL>u</LA_URL><LUI_URL>u</LUI_URL>][<CUSTOMATTRIBUTES>…</CUSTOMATTRIBUTES>]</DATA></WRMHEADER>
//
// cbcs uses version 4.3.0.0 (the first that knows AESCBC) and no checksum,
// which the header specification forbids for AESCBC:
//
//	<WRMHEADER xmlns="…" version="4.3.0.0"><DATA><PROTECTINFO><KIDS>
//	<KID ALGID="AESCBC" VALUE="b64"></KID></KIDS></PROTECTINFO>[LA_URL, LUI_URL][CUSTOMATTRIBUTES]</DATA></WRMHEADER>
//
// (line breaks for reading only). KID is the GUID-order (little-endian)
// base64 of p.KID; the 4.0 CHECKSUM is the first 8 bytes of
// AES-128-ECB(p.Key, that GUID), base64. The KID element has an explicit end
// tag, never "<KID/>", as Microsoft's 2017 syntax rules require. PROTECTINFO
// comes first and then LA_URL, LUI_URL, CUSTOMATTRIBUTES in both versions,
// the order of shaka-packager's templates and of Nagra's real 4.0 headers.
// CUSTOMATTRIBUTES holds <nv:ContentId xmlns:nv="urn:schema-ssp-nagra-com">
// with the escaped content id and is omitted when the content id is empty.
//
// It returns ErrUnsupportedScheme, ErrInvalidContentID, ErrInvalidLAURL and
// ErrHeaderTooLarge.
func NewWRMHeader(p *Params) (string, error) {
	if err := checkScheme(p.Scheme); err != nil {
		return "", err
	}
	if !xmlRepresentable(p.ContentID) {
		return "", fmt.Errorf("%w: not representable in the PlayReady header XML", ErrInvalidContentID)
	}
	if !xmlRepresentable(p.PlayReadyLAURL) {
		return "", ErrInvalidLAURL
	}
	guid := guidBytes(p.KID)
	var sb strings.Builder
	sb.Grow(320 + 2*len(p.PlayReadyLAURL) + len(p.ContentID))
	sb.WriteString(`<WRMHEADER xmlns="` + wrmHeaderNS + `" version="`)
	kid := base64.StdEncoding.EncodeToString(guid[:])
	if p.Scheme == drm.SchemeCENC {
		sb.WriteString(`4.0.0.0"><DATA><PROTECTINFO><KEYLEN>16</KEYLEN><ALGID>AESCTR</ALGID></PROTECTINFO><KID>`)
		sb.WriteString(kid)
		sb.WriteString(`</KID><CHECKSUM>`)
		sb.WriteString(playReadyChecksum(p.Key, guid))
		sb.WriteString(`</CHECKSUM>`)
	} else {
		sb.WriteString(`4.3.0.0"><DATA><PROTECTINFO><KIDS><KID ALGID="AESCBC" VALUE="`)
		sb.WriteString(kid)
		sb.WriteString(`"></KID></KIDS></PROTECTINFO>`)
	}
	if p.PlayReadyLAURL != "" {
		sb.WriteString(`<LA_URL>`)
		appendXMLEscaped(&sb, p.PlayReadyLAURL)
		sb.WriteString(`</LA_URL><LUI_URL>`)
		appendXMLEscaped(&sb, p.PlayReadyLAURL)
		sb.WriteString(`</LUI_URL>`)
	}
	if p.ContentID != "" {
		sb.WriteString(`<CUSTOMATTRIBUTES><nv:ContentId xmlns:nv="` + nagraNS + `">`)
		appendXMLEscaped(&sb, p.ContentID)
		sb.WriteString(`</nv:ContentId></CUSTOMATTRIBUTES>`)
	}
	sb.WriteString(`</DATA></WRMHEADER>`)
	h := sb.String()
	if utf16Len(h) > maxPlayReadyRecord {
		return "", ErrHeaderTooLarge
	}
	return h, nil
}

// maxPlayReadyRecord is the most a PlayReady Object record value can hold:
// its length field is 16 bits.
const maxPlayReadyRecord = 0xffff

// utf16Len returns the size in bytes of s encoded as UTF-16.
func utf16Len(s string) int {
	n := 0
	for _, r := range s { // range yields valid runes: RuneLen is 1 or 2
		n += 2 * utf16.RuneLen(r)
	}
	return n
}

// guidBytes returns the key id in Microsoft GUID (little-endian field) order.
func guidBytes(k drm.KeyID) [16]byte {
	return [16]byte{k[3], k[2], k[1], k[0], k[5], k[4], k[7], k[6],
		k[8], k[9], k[10], k[11], k[12], k[13], k[14], k[15]}
}

// playReadyChecksum is the AESCTR key checksum: the first 8 bytes of
// AES-128-ECB(key, GUID-order KID), standard base64.
func playReadyChecksum(key drm.Key, guid [16]byte) string {
	c, err := aes.NewCipher(key[:])
	if err != nil {
		panic("signaling: AES-128 with a 16-byte key failed: " + err.Error()) // cannot happen
	}
	var out [16]byte
	c.Encrypt(out[:], guid[:])
	return base64.StdEncoding.EncodeToString(out[:8])
}

// WRMHeader is what ParseWRMHeader extracts from a WRMHEADER.
type WRMHeader struct {
	Version   string         // the version attribute, e.g. "4.0.0.0"
	KIDs      []WRMHeaderKID // in document order
	LAURL     string         // LA_URL text, unescaped
	LUIURL    string         // LUI_URL text, unescaped
	ContentID string         // text of CUSTOMATTRIBUTES/nv:ContentId (urn:schema-ssp-nagra-com), if any
}

// WRMHeaderKID is one key id of a WRMHEADER, converted back from GUID order
// to UUID (tenc) order.
type WRMHeaderKID struct {
	KID      drm.KeyID
	AlgID    string // "AESCTR", "AESCBC", "COCKTAIL" or "" if absent
	Checksum string // base64 as written, "" if absent
}

// ParseWRMHeader parses WRMHEADER XML of any version (4.0 KID/ALGID/CHECKSUM
// elements, 4.1–4.3 KID attributes). It returns a *ParseError for malformed
// XML, a root other than WRMHEADER in the PlayReady namespace, or a KID that
// is not the base64 of 16 bytes.
func ParseWRMHeader(s string) (WRMHeader, error) {
	var h WRMHeader
	dec := xml.NewDecoder(strings.NewReader(s))
	var stack []string
	var text strings.Builder
	var algID, checksum string // 4.0 elements
	v40 := -1                  // index of the 4.0 element KID
	for {
		tok, err := dec.Token()
		if err != nil {
			if errors.Is(err, io.EOF) && len(stack) == 0 && h.Version != "" {
				break
			}
			return WRMHeader{}, &ParseError{int(dec.InputOffset()), fmt.Errorf("WRMHEADER XML: %v", err)}
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if len(stack) == 0 {
				if t.Name.Local != "WRMHEADER" || t.Name.Space != wrmHeaderNS || h.Version != "" {
					return WRMHeader{}, &ParseError{0, errors.New("root is not a PlayReady WRMHEADER")}
				}
				h.Version = attr(t.Attr, "version")
				if h.Version == "" {
					h.Version = "?"
				}
			}
			if t.Name.Local == "KID" && t.Name.Space == wrmHeaderNS {
				if v := attr(t.Attr, "VALUE"); v != "" {
					k, err := parseGUID(v)
					if err != nil {
						return WRMHeader{}, &ParseError{int(dec.InputOffset()), err}
					}
					h.KIDs = append(h.KIDs, WRMHeaderKID{KID: k, AlgID: attr(t.Attr, "ALGID"), Checksum: attr(t.Attr, "CHECKSUM")})
				}
			}
			stack = append(stack, t.Name.Local)
			text.Reset()
		case xml.CharData:
			text.Write(t)
		case xml.EndElement:
			name := stack[len(stack)-1]
			parent := ""
			if len(stack) > 1 {
				parent = stack[len(stack)-2]
			}
			stack = stack[:len(stack)-1]
			txt := strings.TrimSpace(text.String())
			switch {
			case name == "KID" && parent == "DATA":
				k, err := parseGUID(txt)
				if err != nil {
					return WRMHeader{}, &ParseError{int(dec.InputOffset()), err}
				}
				v40 = len(h.KIDs)
				h.KIDs = append(h.KIDs, WRMHeaderKID{KID: k})
			case name == "ALGID" && parent == "PROTECTINFO":
				algID = txt
			case name == "CHECKSUM" && parent == "DATA":
				checksum = txt
			case name == "LA_URL" && parent == "DATA":
				h.LAURL = text.String()
			case name == "LUI_URL" && parent == "DATA":
				h.LUIURL = text.String()
			case name == "ContentId" && t.Name.Space == nagraNS && parent == "CUSTOMATTRIBUTES":
				h.ContentID = text.String()
			}
			text.Reset()
		}
	}
	if v40 >= 0 {
		h.KIDs[v40].AlgID, h.KIDs[v40].Checksum = algID, checksum
	}
	return h, nil
}

func attr(as []xml.Attr, local string) string {
	for _, a := range as {
		if a.Name.Local == local && a.Name.Space == "" {
			return a.Value
		}
	}
	return ""
}

// parseGUID decodes a base64 GUID-order key id into UUID order.
func parseGUID(s string) (drm.KeyID, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) != 16 {
		return drm.KeyID{}, fmt.Errorf("PlayReady KID %q is not base64 of 16 bytes", s)
	}
	return drm.KeyID(guidBytes(drm.KeyID(b))), nil
}
