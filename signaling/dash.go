package signaling

import (
	"encoding/base64"
	"strings"

	"github.com/keyserver/keyserver/drm"
)

// DASH namespaces (ISO/IEC 23009-1, ISO/IEC 23001-7, Microsoft).
const (
	dashNS = "urn:mpeg:dash:schema:mpd:2011"
	cencNS = "urn:mpeg:cenc:2013"
	msprNS = "urn:microsoft:playready"
)

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// contentProtection returns a standalone ContentProtection element:
//
//	<ContentProtection xmlns="urn:mpeg:dash:schema:mpd:2011" xmlns:cenc="urn:mpeg:cenc:2013"
//	 [xmlns:mspr="urn:microsoft:playready"] schemeIdUri="urn:uuid:<system id>" [value="…"]
//	 cenc:default_KID="<dashed kid>"><cenc:pssh>b64 box</cenc:pssh>[<mspr:pro>b64 PRO</mspr:pro>]</ContentProtection>
//
// (one line in reality). The default namespace is declared on the element
// itself: parsed on its own the element is then a DASH ContentProtection, and
// pasted into any MPD — also one that binds the DASH namespace to a prefix —
// it stays one; where the MPD already declares it, the redundant declaration
// is harmless. The prefixed namespaces are declared for the same reason.
// Every value written is base64, a UUID or a constant, so nothing needs
// escaping.
func contentProtection(systemID, value string, kid drm.KeyID, box, pro []byte) string {
	var sb strings.Builder
	sb.Grow(300 + 4*(len(box)+len(pro))/3)
	sb.WriteString(`<ContentProtection xmlns="` + dashNS + `" xmlns:cenc="` + cencNS + `"`)
	if pro != nil {
		sb.WriteString(` xmlns:mspr="` + msprNS + `"`)
	}
	sb.WriteString(` schemeIdUri="urn:uuid:`)
	sb.WriteString(systemID)
	sb.WriteByte('"')
	if value != "" {
		sb.WriteString(` value="`)
		sb.WriteString(value)
		sb.WriteByte('"')
	}
	sb.WriteString(` cenc:default_KID="`)
	sb.WriteString(kid.String())
	sb.WriteString(`"><cenc:pssh>`)
	sb.WriteString(b64(box))
	sb.WriteString(`</cenc:pssh>`)
	if pro != nil {
		sb.WriteString(`<mspr:pro>`)
		sb.WriteString(b64(pro))
		sb.WriteString(`</mspr:pro>`)
	}
	sb.WriteString(`</ContentProtection>`)
	return sb.String()
}
