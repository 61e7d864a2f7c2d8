package cpix

import (
	"bytes"
	"encoding/xml"
	"unicode/utf8"

	"github.com/beevik/etree"
)

// builder builds the etree tree from check's token stream, the way etree's
// own reader does (elements with their prefixes, attributes in order,
// text, comments, processing instructions), so that a document is read
// once. The XML declaration is not kept: Bytes writes its own.
type builder struct {
	doc *etree.Document
	cur *etree.Element
}

func newBuilder() *builder {
	d := etree.NewDocument()
	return &builder{doc: d, cur: &d.Element}
}

func (b *builder) start(t xml.StartElement) {
	e := etree.NewElement(t.Name.Local)
	e.Space = t.Name.Space
	b.cur.AddChild(e)
	if len(t.Attr) > 0 {
		e.Attr = make([]etree.Attr, 0, len(t.Attr))
	}
	for _, a := range t.Attr {
		if a.Name.Space != "" {
			// Bound to e, so that its NamespaceURI resolves.
			e.CreateAttr(qname(a.Name), a.Value)
			continue
		}
		e.Attr = append(e.Attr, etree.Attr{Key: a.Name.Local, Value: a.Value})
	}
	b.cur = e
}

func (b *builder) end() { b.cur = b.cur.Parent() }

func (b *builder) text(t xml.CharData) { b.cur.CreateText(string(t)) }

func (b *builder) comment(t xml.Comment) { b.cur.CreateComment(string(t)) }

func (b *builder) procInst(t xml.ProcInst) {
	if t.Target == "xml" && b.cur == &b.doc.Element {
		return
	}
	b.cur.CreateProcInst(t.Target, string(t.Inst))
}

// writeTokens writes tokens as XML, as etree's WriteTo does with
// writeSettings (canonical attribute values and text; empty elements
// self-closed), with a fast path for values that need no escaping: the
// base64 a filled document is mostly made of.
func writeTokens(buf *bytes.Buffer, tokens []etree.Token) {
	for _, t := range tokens {
		switch t := t.(type) {
		case *etree.Element:
			writeElement(buf, t)
		case *etree.CharData:
			if t.IsCData() {
				buf.WriteString("<![CDATA[")
				buf.WriteString(t.Data)
				buf.WriteString("]]>")
			} else {
				writeEscaped(buf, t.Data, false)
			}
		case *etree.Comment:
			buf.WriteString("<!--")
			buf.WriteString(t.Data)
			buf.WriteString("-->")
		case *etree.ProcInst:
			buf.WriteString("<?")
			buf.WriteString(t.Target)
			if t.Inst != "" {
				buf.WriteByte(' ')
				buf.WriteString(t.Inst)
			}
			buf.WriteString("?>")
		case *etree.Directive:
			buf.WriteString("<!")
			buf.WriteString(t.Data)
			buf.WriteByte('>')
		}
	}
}

func writeName(buf *bytes.Buffer, space, local string) {
	if space != "" {
		buf.WriteString(space)
		buf.WriteByte(':')
	}
	buf.WriteString(local)
}

func writeElement(buf *bytes.Buffer, e *etree.Element) {
	buf.WriteByte('<')
	writeName(buf, e.Space, e.Tag)
	for _, a := range e.Attr {
		buf.WriteByte(' ')
		writeName(buf, a.Space, a.Key)
		buf.WriteString(`="`)
		writeEscaped(buf, a.Value, true)
		buf.WriteByte('"')
	}
	if len(e.Child) == 0 {
		buf.WriteString("/>")
		return
	}
	buf.WriteByte('>')
	writeTokens(buf, e.Child)
	buf.WriteString("</")
	writeName(buf, e.Space, e.Tag)
	buf.WriteByte('>')
}

// writeEscaped writes s as XML text or attribute value: &, < and (text) >
// or (attribute) " as entities, CR (and in attributes tab and LF) as
// character references, so that the value reads back exactly; characters
// XML 1.0 cannot carry are dropped, as etree does.
func writeEscaped(buf *bytes.Buffer, s string, attr bool) {
	i := plainPrefix(s, attr)
	if i == len(s) {
		buf.WriteString(s)
		return
	}
	buf.WriteString(s[:i])
	for _, r := range s[i:] {
		switch {
		case r == '&':
			buf.WriteString("&amp;")
		case r == '<':
			buf.WriteString("&lt;")
		case r == '>' && !attr:
			buf.WriteString("&gt;")
		case r == '"' && attr:
			buf.WriteString("&quot;")
		case r == '\r':
			buf.WriteString("&#xD;")
		case r == '\n' && attr:
			buf.WriteString("&#xA;")
		case r == '\t' && attr:
			buf.WriteString("&#x9;")
		case r == '\n' || r == '\t':
			buf.WriteRune(r)
		case r == utf8.RuneError, r < 0x20, r == 0xFFFE, r == 0xFFFF:
			// not an XML 1.0 character (or not UTF-8): dropped
		default:
			buf.WriteRune(r)
		}
	}
}

// plain reports whether byte c is written as itself: printable ASCII other
// than the characters escaped.
func plain(c byte, attr bool) bool {
	if attr {
		return plainAttr[c]
	}
	return plainText[c]
}

// plainPrefix returns the length of s's longest prefix of plain bytes,
// eight bytes at a time where it can (the base64 of a filled document is
// tens of kilobytes of plain bytes).
func plainPrefix(s string, attr bool) int {
	const ones, highs, below = 0x0101010101010101, 0x8080808080808080, 0x20 * 0x0101010101010101
	const amp, lt = '&' * ones, '<' * ones
	quote := uint64('>') * ones
	if attr {
		quote = uint64('"') * ones
	}
	i := 0
	for ; i+8 <= len(s); i += 8 {
		b := s[i : i+8]
		x := uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
			uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
		// A byte with the high bit set, below 0x20, or equal to &, < or
		// the quote: zero-byte tests (Hacker's Delight 6-1) on x and
		// on x xor each escaped character.
		y1, y2, y3 := x^amp, x^lt, x^quote
		bad := (x | (x-below)&^x | (y1-ones)&^y1 | (y2-ones)&^y2 | (y3-ones)&^y3) & highs
		if bad != 0 {
			break
		}
	}
	for i < len(s) && plain(s[i], attr) {
		i++
	}
	return i
}

// plainText and plainAttr are plain's answers, by byte.
var plainText, plainAttr = func() (t, a [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '&' && c != '<' && c != '>'
		a[c] = c != '&' && c != '<' && c != '"'
	}
	return t, a
}()
