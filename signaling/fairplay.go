package signaling

import (
	"encoding/base64"
	"strings"
)

const fairPlayKeyFormat = "com.apple.streamingkeydelivery"

// fairPlayURI returns the Nagra SSP FairPlay asset URI:
//
//	skd://<base64url with padding of {"ContentId":"…","KeyId":"<dashed kid>","IV":"<std base64 IV>"}>
//
// Compact JSON, keys in exactly that order (as observed from Nagra's CKM,
// nagra-ckm-notes.md §4.3); the content id is JSON-escaped by appendJSONString.
// The URL-safe alphabet is what Nagra documents; padding is kept as observed.
func fairPlayURI(p *Params) string {
	var sb strings.Builder
	sb.Grow(64 + len(p.ContentID))
	sb.WriteString(`{"ContentId":`)
	appendJSONString(&sb, p.ContentID)
	sb.WriteString(`,"KeyId":"`)
	sb.WriteString(p.KID.String())
	sb.WriteString(`","IV":"`)
	sb.WriteString(base64.StdEncoding.EncodeToString(p.IV[:]))
	sb.WriteString(`"}`)
	return "skd://" + base64.URLEncoding.EncodeToString([]byte(sb.String()))
}

// appendJSONString writes s as a JSON string literal. It escapes '"', '\',
// the C0 controls (short forms where JSON has them) and U+2028/U+2029 (for
// JavaScript consumers); everything else, including <, > and &, is written
// as is. s must be valid UTF-8.
func appendJSONString(sb *strings.Builder, s string) {
	const hexDigits = "0123456789abcdef"
	sb.WriteByte('"')
	last := 0
	for i := 0; i < len(s); {
		c := s[i]
		var esc string
		n := 1
		switch {
		case c == '"':
			esc = `\"`
		case c == '\\':
			esc = `\\`
		case c == '\n':
			esc = `\n`
		case c == '\r':
			esc = `\r`
		case c == '\t':
			esc = `\t`
		case c == '\b':
			esc = `\b`
		case c == '\f':
			esc = `\f`
		case c < 0x20:
			esc = `\u00` + string(hexDigits[c>>4]) + string(hexDigits[c&0xF])
		case c == 0xE2 && i+2 < len(s) && s[i+1] == 0x80 && (s[i+2] == 0xA8 || s[i+2] == 0xA9):
			esc = `\u202` + string(hexDigits[s[i+2]&0xF])
			n = 3
		default:
			i++
			continue
		}
		sb.WriteString(s[last:i])
		sb.WriteString(esc)
		i += n
		last = i
	}
	sb.WriteString(s[last:])
	sb.WriteByte('"')
}
