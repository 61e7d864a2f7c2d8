package signaling

import (
	"errors"
	"strings"

	"github.com/keyserver/keyserver/drm"
)

const dataURIBase64 = "data:text/plain;base64,"

// PlayReady in HLS (signaling-formats.md §4.7): the charset token says the
// XML inside the base64 PlayReady Object is UTF-16.
const (
	playReadyHLSURIPrefix = "data:text/plain;charset=UTF-16;base64,"
	playReadyHLSKeyFormat = "com.microsoft.playready"
)

// SessionKey returns the #EXT-X-SESSION-KEY twin of an #EXT-X-KEY line
// (same attributes, for the multivariant playlist; RFC 8216bis §4.4.6.5),
// or "" if line is not an #EXT-X-KEY tag.
func SessionKey(line string) string {
	const tag = "#EXT-X-KEY:"
	if !strings.HasPrefix(line, tag) {
		return ""
	}
	return "#EXT-X-SESSION-KEY:" + line[len(tag):]
}

// errUnsafeHLSValue means a quoted-string would contain '"', CR or LF. It
// signals a bug in this package: every URI it builds is base64 or base64url.
var errUnsafeHLSValue = errors.New("signaling: internal error: HLS attribute value contains '\"', CR or LF")

// hlsMethod maps the scheme to the EXT-X-KEY METHOD.
func hlsMethod(s drm.Scheme) string {
	if s == drm.SchemeCENC {
		return "SAMPLE-AES-CTR"
	}
	return "SAMPLE-AES"
}

// extXKey returns the EXT-X-KEY line. Attribute order follows
// shaka-packager: METHOD, URI, KEYID (Widevine only, unquoted 0x-hex),
// KEYFORMATVERSIONS, KEYFORMAT; parsers do not care. No IV attribute is
// written: FairPlay must not have one (Apple HLS Authoring Spec 13.4) and for
// cbcs the IV is the constant IV in tenc.
func extXKey(h *HLS, keyID string) (string, error) {
	for _, v := range []string{h.URI, h.KeyFormat, h.KeyFormatVersions} {
		if strings.ContainsAny(v, "\"\r\n") {
			return "", errUnsafeHLSValue
		}
	}
	var sb strings.Builder
	sb.Grow(96 + len(h.URI))
	sb.WriteString("#EXT-X-KEY:METHOD=")
	sb.WriteString(h.Method)
	sb.WriteString(`,URI="`)
	sb.WriteString(h.URI)
	sb.WriteByte('"')
	if keyID != "" {
		sb.WriteString(",KEYID=")
		sb.WriteString(keyID)
	}
	sb.WriteString(`,KEYFORMATVERSIONS="`)
	sb.WriteString(h.KeyFormatVersions)
	sb.WriteString(`",KEYFORMAT="`)
	sb.WriteString(h.KeyFormat)
	sb.WriteByte('"')
	return sb.String(), nil
}
