package cpix

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/beevik/etree"
)

// Errors a [*ParseError] unwraps to, for callers that branch on the kind of
// refusal (a front-end maps ErrLimit to "too large" and the rest to "bad
// request").
var (
	// ErrMalformed: the input is not well-formed XML (or not namespace-well-formed).
	ErrMalformed = errors.New("cpix: not well-formed XML")
	// ErrEncoding: an unsupported character encoding, or bytes that do not
	// match the encoding the document declares.
	ErrEncoding = errors.New("cpix: unsupported or inconsistent character encoding")
	// ErrDOCTYPE: the document has a DOCTYPE (and so possibly entity
	// declarations); CPIX has no use for one and it is always refused.
	ErrDOCTYPE = errors.New("cpix: DOCTYPE is not allowed")
	// ErrNotCPIX: the root element is not {urn:dashif:org:cpix}CPIX.
	ErrNotCPIX = errors.New("cpix: root element is not {urn:dashif:org:cpix}CPIX")
	// ErrLimit: the input exceeds one of the [Limits].
	ErrLimit = errors.New("cpix: document exceeds a limit")
)

// ParseError is the error [Parse] returns. Err is one of ErrMalformed,
// ErrEncoding, ErrDOCTYPE, ErrNotCPIX or ErrLimit; Line is the 1-based line
// of the input (after transcoding to UTF-8) where the problem was found, or 0
// when it concerns the whole input. The message names the problem and never
// quotes element text, so it carries no key material.
type ParseError struct {
	Line   int
	Err    error
	Detail string
}

// Error returns "cpix: line N: <kind>: <detail>".
func (e *ParseError) Error() string {
	msg := strings.TrimPrefix(e.Err.Error(), "cpix: ")
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	if e.Line > 0 {
		return fmt.Sprintf("cpix: line %d: %s", e.Line, msg)
	}
	return "cpix: " + msg
}

// Unwrap returns the kind (ErrMalformed, ErrEncoding, ErrDOCTYPE, ErrNotCPIX or ErrLimit).
func (e *ParseError) Unwrap() error { return e.Err }

// Limits bound what [Parse] accepts. A zero field means the value of
// [DefaultLimits].
type Limits struct {
	MaxBytes    int // input size in bytes, before any transcoding
	MaxDepth    int // element nesting; the root element is depth 1
	MaxElements int // elements in the whole document
}

// DefaultLimits returns the limits a zero [Limits] field stands for: 8 MiB,
// depth 64, 100000 elements. The largest DASH-IF vector is 98 kB, depth 9.
func DefaultLimits() Limits {
	return Limits{MaxBytes: 8 << 20, MaxDepth: 64, MaxElements: 100000}
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	if l.MaxBytes <= 0 {
		l.MaxBytes = d.MaxBytes
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = d.MaxDepth
	}
	if l.MaxElements <= 0 {
		l.MaxElements = d.MaxElements
	}
	return l
}

// Parse reads a CPIX document (any version; CPIX@version may be missing).
//
// Accepted encodings: UTF-8 with or without a byte-order mark, UTF-16 LE or
// BE (with a byte-order mark, or detected from "<?" per XML 1.0 Appendix F),
// ISO-8859-1 and US-ASCII when declared. An encoding declaration must agree
// with the bytes, with one leniency: UTF-8 bytes declaring "utf-16" (what a
// .NET StringWriter produces) are read as UTF-8.
//
// Nothing beyond well-formedness is checked: a document that breaks the
// CPIX schema (a missing kid, elements out of order) parses.
//
// Parse refuses, with a [*ParseError]: input that is not well-formed XML
// (including undeclared namespace prefixes, mismatched or duplicate
// attributes, text or a second element outside the root), any DOCTYPE, a
// root other than {urn:dashif:org:cpix}CPIX, and input beyond lim.
//
// The returned document keeps every element, attribute, namespace prefix,
// comment and processing instruction in order; only the XML declaration is
// dropped (Bytes writes its own).
func Parse(data []byte, lim Limits) (*Document, error) {
	lim = lim.withDefaults()
	if len(data) > lim.MaxBytes {
		return nil, &ParseError{Err: ErrLimit, Detail: fmt.Sprintf("%d bytes, more than the limit of %d", len(data), lim.MaxBytes)}
	}
	text, err := toUTF8(data)
	if err != nil {
		return nil, err
	}
	doc, err := check(&scanner{s: text}, lim)
	if err != nil {
		// Outside the fast reader's subset, or refused: encoding/xml
		// reads it (and words the refusal, with its line).
		dec := xml.NewDecoder(bytes.NewReader(text))
		dec.Strict = true
		dec.CharsetReader = passThrough
		if doc, err = check(dec, lim); err != nil {
			return nil, err
		}
	}
	doc.WriteSettings = writeSettings
	return &Document{Root: doc.Root(), doc: doc}, nil
}

// writeSettings escape \t, \n and \r in attribute values and \r in text as
// character references, so that a value survives an echo exactly (a raw
// newline in an attribute would come back as a space, a raw CR in text as a
// LF, and the signatures over them would break).
var writeSettings = etree.WriteSettings{CanonicalAttrVal: true, CanonicalText: true}

// passThrough is the CharsetReader of the decoders: Parse has already
// transcoded the input to UTF-8 and checked the declared encoding.
func passThrough(_ string, r io.Reader) (io.Reader, error) { return r, nil }

// toUTF8 transcodes data to UTF-8 and checks the encoding declaration.
func toUTF8(data []byte) ([]byte, error) {
	var (
		text     []byte
		detected string
	)
	switch {
	case bytes.HasPrefix(data, []byte{0xEF, 0xBB, 0xBF}):
		text, detected = data[3:], "utf-8"
	case bytes.HasPrefix(data, []byte{0xFF, 0xFE}):
		t, err := fromUTF16(data[2:], false)
		if err != nil {
			return nil, err
		}
		text, detected = t, "utf-16"
	case bytes.HasPrefix(data, []byte{0xFE, 0xFF}):
		t, err := fromUTF16(data[2:], true)
		if err != nil {
			return nil, err
		}
		text, detected = t, "utf-16"
	case bytes.HasPrefix(data, []byte{'<', 0, '?', 0}):
		t, err := fromUTF16(data, false)
		if err != nil {
			return nil, err
		}
		text, detected = t, "utf-16"
	case bytes.HasPrefix(data, []byte{0, '<', 0, '?'}):
		t, err := fromUTF16(data, true)
		if err != nil {
			return nil, err
		}
		text, detected = t, "utf-16"
	default:
		text = data
	}
	declared := strings.ToLower(declaredEncoding(text))
	switch {
	case detected == "utf-16":
		switch declared {
		case "", "utf-16", "utf-16le", "utf-16be", "ucs-2":
			return text, nil
		}
		return nil, &ParseError{Line: 1, Err: ErrEncoding, Detail: fmt.Sprintf("UTF-16 input declares encoding %q", declared)}
	case declared == "" || declared == "utf-8" || declared == "utf8":
	case declared == "us-ascii" || declared == "ascii":
		for _, b := range text {
			if b >= 0x80 {
				return nil, &ParseError{Err: ErrEncoding, Detail: "non-ASCII byte in a document declared US-ASCII"}
			}
		}
	case declared == "utf-16":
		// .NET writes encoding="utf-16" into documents it then sends as
		// UTF-8; these bytes are not UTF-16 (that was detected above).
	case declared == "iso-8859-1" || declared == "latin1" || declared == "iso_8859-1" || declared == "l1":
		if detected != "" {
			return nil, &ParseError{Line: 1, Err: ErrEncoding, Detail: "UTF-8 byte-order mark in a document declared ISO-8859-1"}
		}
		out := make([]byte, 0, len(text)+len(text)/8)
		for _, b := range text {
			out = utf8.AppendRune(out, rune(b))
		}
		return out, nil
	default:
		return nil, &ParseError{Line: 1, Err: ErrEncoding, Detail: fmt.Sprintf("encoding %q is not supported (UTF-8, UTF-16, ISO-8859-1, US-ASCII are)", declared)}
	}
	return text, nil
}

// fromUTF16 decodes UTF-16 (without its byte-order mark) to UTF-8, refusing
// an odd length and unpaired surrogates.
func fromUTF16(b []byte, bigEndian bool) ([]byte, error) {
	if len(b)%2 != 0 {
		return nil, &ParseError{Err: ErrEncoding, Detail: "UTF-16 input has an odd number of bytes"}
	}
	out := make([]byte, 0, len(b)/2)
	unit := func(i int) rune {
		if bigEndian {
			return rune(b[i])<<8 | rune(b[i+1])
		}
		return rune(b[i+1])<<8 | rune(b[i])
	}
	for i := 0; i < len(b); i += 2 {
		r := unit(i)
		if utf16.IsSurrogate(r) {
			if r >= 0xDC00 || i+2 >= len(b) {
				return nil, &ParseError{Err: ErrEncoding, Detail: "unpaired UTF-16 surrogate"}
			}
			r = utf16.DecodeRune(r, unit(i+2))
			if r == utf8.RuneError {
				return nil, &ParseError{Err: ErrEncoding, Detail: "unpaired UTF-16 surrogate"}
			}
			i += 2
		}
		out = utf8.AppendRune(out, r)
	}
	return out, nil
}

// declaredEncoding returns the encoding named by the XML declaration at the
// start of text, or "".
func declaredEncoding(text []byte) string {
	if !bytes.HasPrefix(text, []byte("<?xml")) {
		return ""
	}
	end := bytes.Index(text, []byte("?>"))
	if end < 0 {
		return ""
	}
	decl := string(text[5:end])
	i := strings.Index(decl, "encoding")
	if i < 0 {
		return ""
	}
	rest := strings.TrimLeft(decl[i+len("encoding"):], " \t\r\n")
	if !strings.HasPrefix(rest, "=") {
		return ""
	}
	rest = strings.TrimLeft(rest[1:], " \t\r\n")
	if rest == "" || (rest[0] != '"' && rest[0] != '\'') {
		return ""
	}
	q := rest[0]
	j := strings.IndexByte(rest[1:], q)
	if j < 0 {
		return ""
	}
	return rest[1 : 1+j]
}

// tokenizer is what check reads: encoding/xml's Decoder, or the fast
// scanner.
type tokenizer interface {
	RawToken() (xml.Token, error)
	InputPos() (line, column int)
}

// check walks the UTF-8 text once with encoding/xml, enforces
// well-formedness (the parts RawToken leaves to its caller), the namespace
// rules, the DOCTYPE ban, the CPIX root and the limits, and builds the
// tree as etree would read it (tree.go), without the XML declaration.
func check(dec tokenizer, lim Limits) (*etree.Document, error) {
	b := newBuilder()
	line := func() int { l, _ := dec.InputPos(); return l }
	fail := func(err error, format string, args ...any) error {
		return &ParseError{Line: line(), Err: err, Detail: fmt.Sprintf(format, args...)}
	}
	type decl struct{ prefix, uri string }
	var (
		stack    []xml.Name
		decls    []decl // namespace declarations of the open elements, innermost last
		marks    []int  // len(decls) when each open element started
		elements int
		rootSeen bool
	)
	resolve := func(prefix string) (string, bool) {
		if prefix == "xml" {
			return "http://www.w3.org/XML/1998/namespace", true
		}
		for i := len(decls) - 1; i >= 0; i-- {
			if decls[i].prefix == prefix {
				return decls[i].uri, true
			}
		}
		return "", prefix == "" // no default namespace means no namespace
	}
	for {
		tok, err := dec.RawToken()
		if err == io.EOF {
			break
		}
		if err != nil {
			var se *xml.SyntaxError
			if errors.As(err, &se) {
				return nil, &ParseError{Line: se.Line, Err: ErrMalformed, Detail: se.Msg}
			}
			return nil, fail(ErrMalformed, "%v", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			elements++
			if elements > lim.MaxElements {
				return nil, fail(ErrLimit, "more than %d elements", lim.MaxElements)
			}
			if len(stack)+1 > lim.MaxDepth {
				return nil, fail(ErrLimit, "elements nested deeper than %d", lim.MaxDepth)
			}
			if len(stack) == 0 && rootSeen {
				return nil, fail(ErrMalformed, "a second element <%s> after the root element", qname(t.Name))
			}
			marks = append(marks, len(decls))
			for i, a := range t.Attr {
				for _, b := range t.Attr[:i] {
					if b.Name == a.Name {
						return nil, fail(ErrMalformed, "attribute %s repeated on <%s>", qname(a.Name), qname(t.Name))
					}
				}
				switch {
				case a.Name.Space == "xmlns":
					if a.Value == "" {
						return nil, fail(ErrMalformed, "namespace prefix %q undeclared with an empty URI", a.Name.Local)
					}
					decls = append(decls, decl{a.Name.Local, a.Value})
				case a.Name.Space == "" && a.Name.Local == "xmlns":
					decls = append(decls, decl{"", a.Value})
				}
			}
			stack = append(stack, t.Name)
			uri, ok := resolve(t.Name.Space)
			if !ok {
				return nil, fail(ErrMalformed, "namespace prefix %q of <%s> is not declared", t.Name.Space, qname(t.Name))
			}
			for _, a := range t.Attr {
				if a.Name.Space != "" && a.Name.Space != "xmlns" {
					if _, ok := resolve(a.Name.Space); !ok {
						return nil, fail(ErrMalformed, "namespace prefix %q of attribute %s is not declared", a.Name.Space, qname(a.Name))
					}
				}
			}
			b.start(t)
			if len(stack) == 1 {
				rootSeen = true
				if uri != NS || t.Name.Local != "CPIX" {
					return nil, fail(ErrNotCPIX, "found {%s}%s", uri, t.Name.Local)
				}
			}
		case xml.EndElement:
			if len(stack) == 0 {
				return nil, fail(ErrMalformed, "end tag </%s> without a start tag", qname(t.Name))
			}
			if top := stack[len(stack)-1]; top != t.Name {
				return nil, fail(ErrMalformed, "element <%s> closed by </%s>", qname(top), qname(t.Name))
			}
			stack = stack[:len(stack)-1]
			decls = decls[:marks[len(marks)-1]]
			marks = marks[:len(marks)-1]
			b.end()
		case xml.CharData:
			if len(stack) == 0 && len(bytes.TrimLeft(t, " \t\r\n")) > 0 {
				return nil, fail(ErrMalformed, "text outside the root element")
			}
			b.text(t)
		case xml.Comment:
			b.comment(t)
		case xml.ProcInst:
			b.procInst(t)
		case xml.Directive:
			if bytes.HasPrefix(bytes.TrimSpace(t), []byte("DOCTYPE")) {
				return nil, fail(ErrDOCTYPE, "")
			}
			return nil, fail(ErrDOCTYPE, "a <!%s declaration", firstWord(t))
		}
	}
	if len(stack) > 0 {
		return nil, fail(ErrMalformed, "unexpected end of input inside <%s>", qname(stack[len(stack)-1]))
	}
	if !rootSeen {
		return nil, fail(ErrMalformed, "no root element")
	}
	return b.doc, nil
}

func qname(n xml.Name) string {
	if n.Space == "" {
		return n.Local
	}
	return n.Space + ":" + n.Local
}

func firstWord(b []byte) string {
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return ""
	}
	if len(f[0]) > 20 {
		return f[0][:20]
	}
	return f[0]
}
