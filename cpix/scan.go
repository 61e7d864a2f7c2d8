package cpix

import (
	"encoding/xml"
	"errors"
	"io"
	"strings"
)

// scanner is a fast tokenizer for the XML real CPIX requests are made of:
// ASCII names, quoted attributes, text, the five predefined entities and
// an XML declaration. It returns the tokens encoding/xml's RawToken would
// return for such input, several times faster. On anything else — a
// comment, CDATA, a DOCTYPE, a processing instruction other than the XML
// declaration, a character reference, a CR, a byte outside printable
// ASCII, a malformed construct — it returns errFallback, and check reads
// the document again with encoding/xml, which then decides (so an error
// message is always encoding/xml's, with its line). The fuzz test checks
// that it never accepts what encoding/xml refuses and never differs from
// it.
type scanner struct {
	s         []byte
	i         int
	needClose bool
	toClose   xml.Name
}

// errFallback means: read this document with encoding/xml.
var errFallback = errors.New("cpix: outside the fast reader's subset")

// InputPos is not tracked: errors found in a fast read are reported by the
// encoding/xml read that follows.
func (*scanner) InputPos() (int, int) { return 0, 0 }

func (sc *scanner) RawToken() (xml.Token, error) {
	if sc.needClose {
		sc.needClose = false
		return xml.EndElement{Name: sc.toClose}, nil
	}
	if sc.i >= len(sc.s) {
		return nil, io.EOF
	}
	if sc.s[sc.i] != '<' {
		t, ok := sc.text(-1)
		if !ok {
			return nil, errFallback
		}
		return xml.CharData(t), nil
	}
	sc.i++
	if sc.i >= len(sc.s) {
		return nil, errFallback
	}
	switch sc.s[sc.i] {
	case '/':
		sc.i++
		name, ok := sc.nsname()
		if !ok {
			return nil, errFallback
		}
		sc.space()
		if sc.i >= len(sc.s) || sc.s[sc.i] != '>' {
			return nil, errFallback
		}
		sc.i++
		return xml.EndElement{Name: name}, nil
	case '?':
		return sc.declaration()
	case '!':
		return nil, errFallback
	}
	name, ok := sc.nsname()
	if !ok {
		return nil, errFallback
	}
	attrs := []xml.Attr{}
	for {
		sc.space()
		if sc.i >= len(sc.s) {
			return nil, errFallback
		}
		switch sc.s[sc.i] {
		case '/':
			if sc.i+1 >= len(sc.s) || sc.s[sc.i+1] != '>' {
				return nil, errFallback
			}
			sc.i += 2
			sc.needClose, sc.toClose = true, name
			return xml.StartElement{Name: name, Attr: attrs}, nil
		case '>':
			sc.i++
			return xml.StartElement{Name: name, Attr: attrs}, nil
		}
		var a xml.Attr
		if a.Name, ok = sc.nsname(); !ok {
			return nil, errFallback
		}
		sc.space()
		if sc.i >= len(sc.s) || sc.s[sc.i] != '=' {
			return nil, errFallback
		}
		sc.i++
		sc.space()
		if sc.i >= len(sc.s) || (sc.s[sc.i] != '"' && sc.s[sc.i] != '\'') {
			return nil, errFallback
		}
		q := int(sc.s[sc.i])
		sc.i++
		v, ok := sc.text(q)
		if !ok {
			return nil, errFallback
		}
		a.Value = string(v)
		attrs = append(attrs, a)
	}
}

// space skips what encoding/xml's space skips.
func (sc *scanner) space() {
	for sc.i < len(sc.s) {
		switch sc.s[sc.i] {
		case ' ', '\t', '\n', '\r':
			sc.i++
		default:
			return
		}
	}
}

// nameByte reports whether c may continue an ASCII XML name; nameStart
// whether it may start one.
func nameByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == ':' || c == '.' || c == '-'
}

func nameStart(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_' }

// nsname reads an ASCII name with at most one colon, neither first nor
// last (the shapes encoding/xml splits into prefix and local name).
func (sc *scanner) nsname() (xml.Name, bool) {
	start := sc.i
	if sc.i >= len(sc.s) || !nameStart(sc.s[sc.i]) {
		return xml.Name{}, false
	}
	for sc.i < len(sc.s) && nameByte(sc.s[sc.i]) {
		sc.i++
	}
	if sc.i < len(sc.s) && sc.s[sc.i] >= 0x80 {
		return xml.Name{}, false // a non-ASCII name: encoding/xml decides
	}
	n := string(sc.s[start:sc.i])
	space, local, found := strings.Cut(n, ":")
	switch {
	case !found:
		return xml.Name{Local: n}, true
	case local == "" || strings.Contains(local, ":") || !nameStart(local[0]):
		return xml.Name{}, false
	}
	return xml.Name{Space: space, Local: local}, true
}

// entities are the predefined entities.
var entities = map[string]byte{"lt": '<', "gt": '>', "amp": '&', "apos": '\'', "quot": '"'}

// text reads character data up to '<' (quote < 0) or the closing quote,
// which it consumes. Entities other than the predefined five, CR, "]]>"
// in text and bytes outside printable ASCII (but tab and LF) are left to
// encoding/xml.
func (sc *scanner) text(quote int) ([]byte, bool) {
	start := sc.i
	var out []byte // nil until an entity forces a copy
	for sc.i < len(sc.s) {
		c := sc.s[sc.i]
		switch {
		case c == '<':
			if quote >= 0 {
				return nil, false
			}
			return sc.result(start, out), true
		case quote >= 0 && int(c) == quote:
			t := sc.result(start, out)
			sc.i++
			return t, true
		case c == '&':
			end := sc.i + 1
			for end < len(sc.s) && end-sc.i <= 5 && sc.s[end] != ';' {
				end++
			}
			if end >= len(sc.s) || sc.s[end] != ';' {
				return nil, false
			}
			r, ok := entities[string(sc.s[sc.i+1:end])]
			if !ok {
				return nil, false
			}
			if out == nil {
				out = append([]byte(nil), sc.s[start:sc.i]...)
			}
			out = append(out, r)
			sc.i = end + 1
			continue
		case c == ']' && quote < 0 && sc.i+2 < len(sc.s) && sc.s[sc.i+1] == ']' && sc.s[sc.i+2] == '>':
			return nil, false
		case c < 0x20 && c != '\t' && c != '\n', c >= 0x7f:
			return nil, false
		}
		if out != nil {
			out = append(out, c)
		}
		sc.i++
	}
	if quote >= 0 {
		return nil, false
	}
	return sc.result(start, out), true
}

func (sc *scanner) result(start int, out []byte) []byte {
	if out != nil {
		return out
	}
	return sc.s[start:sc.i]
}

// declaration reads an XML declaration of the usual shape (version 1.0,
// an encoding name, standalone): anything else is left to encoding/xml.
func (sc *scanner) declaration() (xml.Token, error) {
	const open = "?xml"
	if !strings.HasPrefix(string(sc.s[sc.i:min(len(sc.s), sc.i+len(open)+1)]), open) {
		return nil, errFallback
	}
	rest := sc.s[sc.i+len(open):]
	end := strings.Index(string(rest), "?>")
	if end < 0 || len(rest) == 0 || (rest[0] != ' ' && rest[0] != '\t' && rest[0] != '\n') {
		return nil, errFallback
	}
	body := rest[:end]
	inst := strings.TrimLeft(string(body), " \t\n")
	if !plainDeclaration(inst) {
		return nil, errFallback
	}
	sc.i += len(open) + end + 2
	return xml.ProcInst{Target: "xml", Inst: []byte(inst)}, nil
}

// plainDeclaration accepts version="1.0" [encoding="name"]
// [standalone="yes|no"], either quote, separated by spaces.
func plainDeclaration(s string) bool {
	fields := strings.Fields(s)
	if len(fields) == 0 || strings.ContainsAny(s, "\r") {
		return false
	}
	keys := []string{"version", "encoding", "standalone"}
	k := 0
	for n, f := range fields {
		key, val, ok := strings.Cut(f, "=")
		if !ok || len(val) < 2 || (val[0] != '"' && val[0] != '\'') || val[len(val)-1] != val[0] {
			return false
		}
		val = val[1 : len(val)-1]
		for k < len(keys) && keys[k] != key {
			k++
		}
		if k == len(keys) || n == 0 && key != "version" {
			return false
		}
		switch key {
		case "version":
			if val != "1.0" {
				return false
			}
		case "encoding":
			if val == "" || strings.IndexFunc(val, func(r rune) bool { return !nameByte(byte(r)) || r >= 0x80 || r == ':' }) >= 0 {
				return false
			}
		case "standalone":
			if val != "yes" && val != "no" {
				return false
			}
		}
		k++
	}
	return true
}
