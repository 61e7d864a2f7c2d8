package signaling

import (
	"strings"
	"unicode/utf8"
)

// xmlRepresentable reports whether s is valid UTF-8 made only of XML 1.0
// Chars (#x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] |
// [#x10000-#x10FFFF]). Other C0 controls cannot be written even as
// character references, so there is no escaping that would save them.
func xmlRepresentable(s string) bool {
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n <= 1 {
			return false
		}
		if r < 0x20 && r != '\t' && r != '\n' && r != '\r' || r == 0xFFFE || r == 0xFFFF {
			return false
		}
		i += n
	}
	return true
}

// appendXMLEscaped writes s escaped for use both as element text and as a
// double- or single-quoted attribute value: & < > " ' become entities, and
// tab, LF and CR become character references so that attribute-value
// normalisation and line-end handling leave them intact. '>' is escaped so
// that "]]>" can never appear. s must satisfy xmlRepresentable.
func appendXMLEscaped(sb *strings.Builder, s string) {
	last := 0
	for i := 0; i < len(s); i++ {
		var esc string
		switch s[i] {
		case '&':
			esc = "&amp;"
		case '<':
			esc = "&lt;"
		case '>':
			esc = "&gt;"
		case '"':
			esc = "&quot;"
		case '\'':
			esc = "&apos;"
		case '\t':
			esc = "&#x9;"
		case '\n':
			esc = "&#xA;"
		case '\r':
			esc = "&#xD;"
		default:
			continue
		}
		sb.WriteString(s[last:i])
		sb.WriteString(esc)
		last = i + 1
	}
	sb.WriteString(s[last:])
}
