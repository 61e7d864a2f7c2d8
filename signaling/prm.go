package signaling

// Nagra PRM (MediaAccess PRM 3.0 / CONNECT) signaling. Public evidence for
// PRM is thin (the specification is under NDA), so every PRM-specific choice
// lives in this file to be corrected in one place once Nagra confirms it.

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/keyserver/keyserver/drm"
)

const (
	// prmName is the display name; Nagra's CKM output for PRM was never
	// observed (nagra-ckm-notes.md §2.3 [P]).
	prmName = "PRM"
	// prmDASHValue is the ContentProtection @value (nagra-ckm-notes.md §4.4 [P]).
	prmDASHValue = "Nagra"
	// prmHLSKeyFormat is the KEYFORMAT CONNECT players recognise (§4.4 [V]).
	prmHLSKeyFormat = "PRMNAGRA"
)

var (
	// prmDataEncoding encodes the JSON in the pssh Data: URL-safe alphabet
	// with padding. TV-9: of the public boxes, the padded encoder reproduces
	// all but one ("Gone in the wind" is unpadded) byte for byte; none of them
	// tells std from URL-safe apart, and pssh-box-rs (the only public codec)
	// uses URL-safe and notes that "normal base64 is not suitable for Nagra".
	prmDataEncoding = base64.URLEncoding
	// prmHLSEncoding encodes the same JSON in the HLS data: URI. A data: URI
	// is RFC 2397 base64, i.e. the standard alphabet, which generic players
	// decode; it equals prmDataEncoding's output unless the JSON encodes to
	// '-' or '_'.
	prmHLSEncoding = base64.StdEncoding
)

// NagraPSSHData is the Nagra PRM pssh payload: ASCII base64 of the compact
// JSON {"contentId":"…","keyId":"<lower-case dashed kid>"}.
type NagraPSSHData struct {
	ContentID string
	KeyID     drm.KeyID
}

// prmJSON returns the compact JSON, members in the observed order.
func (d NagraPSSHData) prmJSON() []byte {
	var sb strings.Builder
	sb.Grow(64 + len(d.ContentID))
	sb.WriteString(`{"contentId":`)
	appendJSONString(&sb, d.ContentID)
	sb.WriteString(`,"keyId":"`)
	sb.WriteString(d.KeyID.String())
	sb.WriteString(`"}`)
	return []byte(sb.String())
}

// MarshalBinary returns the pssh Data: base64url with padding of the JSON.
// It returns ErrInvalidContentID if the content id is not valid UTF-8.
func (d NagraPSSHData) MarshalBinary() ([]byte, error) {
	if !utf8.ValidString(d.ContentID) {
		return nil, fmt.Errorf("%w: not valid UTF-8", ErrInvalidContentID)
	}
	j := d.prmJSON()
	out := make([]byte, prmDataEncoding.EncodedLen(len(j)))
	prmDataEncoding.Encode(out, j)
	return out, nil
}

// prmHLSURI returns data:text/plain;base64,<base64 JSON>.
func prmHLSURI(p *Params) (string, error) {
	j := NagraPSSHData{ContentID: p.ContentID, KeyID: p.KID}.prmJSON()
	return dataURIBase64 + prmHLSEncoding.EncodeToString(j), nil
}

// ParseNagraPSSHData decodes a Nagra PRM pssh payload. It accepts base64 in
// either alphabet, padded or not, and also bare JSON (seen in the wild). The
// JSON must be an object with string members contentId and keyId (a dashed
// UUID); other members are ignored. Errors are *ParseError values.
func ParseNagraPSSHData(b []byte) (NagraPSSHData, error) {
	j := b
	if len(b) == 0 || b[0] != '{' {
		s := strings.TrimRight(string(b), "=")
		if strings.ContainsAny(s, "+/") && strings.ContainsAny(s, "-_") {
			return NagraPSSHData{}, &ParseError{0, errors.New("Nagra PRM data mixes base64 alphabets")}
		}
		s = strings.NewReplacer("+", "-", "/", "_").Replace(s)
		var err error
		j, err = base64.RawURLEncoding.DecodeString(s)
		if err != nil {
			return NagraPSSHData{}, &ParseError{0, fmt.Errorf("Nagra PRM data is not base64: %v", err)}
		}
	}
	var v struct {
		ContentID *string `json:"contentId"`
		KeyID     *string `json:"keyId"`
	}
	if err := json.Unmarshal(j, &v); err != nil {
		return NagraPSSHData{}, &ParseError{0, fmt.Errorf("Nagra PRM JSON: %v", err)}
	}
	if v.ContentID == nil || v.KeyID == nil {
		return NagraPSSHData{}, &ParseError{0, errors.New("Nagra PRM JSON lacks contentId or keyId")}
	}
	kid, err := drm.ParseKeyID(*v.KeyID)
	if err != nil {
		return NagraPSSHData{}, &ParseError{0, fmt.Errorf("Nagra PRM keyId: %v", err)}
	}
	return NagraPSSHData{ContentID: *v.ContentID, KeyID: kid}, nil
}
