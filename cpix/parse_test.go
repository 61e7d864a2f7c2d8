package cpix

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

// vectors are the DASH-IF test vectors (testdata/vectors, see SOURCE.txt)
// with the number of ContentKey elements each holds, counted with grep.
var vectors = []struct {
	file string
	keys int
}{
	{"ClearContentKeysOnly.xml", 4},
	{"Complex.xml", 4},
	{"EmptyDocument.xml", 0},
	{"EncryptedContentKeys.xml", 4},
	{"EncryptedContentKeysWithMultipleRecipients.xml", 4},
	{"EvenMoreComplex.xml", 4}, // UTF-16: grep does not see them
	{"Invalid_BadContentKeysSignature.xml", 1},
	{"Invalid_BadDocumentSignature.xml", 1},
	{"Invalid_WrongMac.xml", 1},
	{"KeyRotationMultiKeyMulitPeriod.xml", 4},
	{"KeyRotationMultiKeySinglePeriod.xml", 2},
	{"RecipientsWithoutContentKeys.xml", 0},
	{"UsageRulesBasedOnLabels.xml", 4},
}

func readVector(t testing.TB, file string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "vectors", file))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustParse(t testing.TB, b []byte) *Document {
	t.Helper()
	d, err := Parse(b, Limits{})
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return d
}

func TestParse_Vectors(t *testing.T) {
	for _, v := range vectors {
		t.Run(v.file, func(t *testing.T) {
			d := mustParse(t, readVector(t, v.file))
			if !Is(d.Root, NS, "CPIX") {
				t.Fatalf("root is %s", d.Root.FullTag())
			}
			keys := Children(Child(d.Root, NS, "ContentKeyList"), NS, "ContentKey")
			if len(keys) != v.keys {
				t.Errorf("%d ContentKey elements, want %d", len(keys), v.keys)
			}
			for _, k := range keys {
				if _, err := UUIDAttr(k, "kid"); err != nil {
					t.Error(err)
				}
			}
		})
	}
}

// utf16Bytes encodes s as UTF-16 with or without a byte-order mark.
func utf16Bytes(s string, bigEndian, bom bool) []byte {
	units := utf16.Encode([]rune(s))
	var out []byte
	if bom {
		units = append([]uint16{0xFEFF}, units...)
	}
	for _, u := range units {
		if bigEndian {
			out = append(out, byte(u>>8), byte(u))
		} else {
			out = append(out, byte(u), byte(u>>8))
		}
	}
	return out
}

func TestParse_Encodings(t *testing.T) {
	const body = `<CPIX xmlns="urn:dashif:org:cpix" contentId="caf%s"><ContentKeyList><ContentKey kid="0AE6B9AD-92D2-4EBE-882B-1D07DEE70715"/></ContentKeyList></CPIX>`
	utf8Doc := func(decl string) string { return decl + fmt.Sprintf(body, "é") }
	latin1 := []byte(`<?xml version="1.0" encoding="ISO-8859-1"?>` + fmt.Sprintf(body, "\xe9"))
	cases := map[string][]byte{
		"utf-8 no declaration":          []byte(utf8Doc("")),
		"utf-8 declared":                []byte(utf8Doc(`<?xml version="1.0" encoding="UTF-8"?>`)),
		"utf-8 with BOM":                append([]byte{0xEF, 0xBB, 0xBF}, utf8Doc(`<?xml version="1.0" encoding="utf-8"?>`)...),
		"utf-8 declaring utf-16 (.NET)": []byte(utf8Doc(`<?xml version="1.0" encoding="utf-16"?>`)),
		"utf-16le BOM":                  utf16Bytes(utf8Doc(`<?xml version="1.0" encoding="utf-16"?>`), false, true),
		"utf-16be BOM":                  utf16Bytes(utf8Doc(`<?xml version="1.0" encoding="UTF-16"?>`), true, true),
		"utf-16le no BOM":               utf16Bytes(utf8Doc(`<?xml version="1.0" encoding="UTF-16LE"?>`), false, false),
		"utf-16be no BOM":               utf16Bytes(utf8Doc(`<?xml version="1.0" encoding="utf-16"?>`), true, false),
		"utf-16 BOM no declaration":     utf16Bytes(utf8Doc(""), false, true),
		"iso-8859-1":                    latin1,
		"us-ascii":                      []byte(`<?xml version='1.0' encoding='US-ASCII'?>` + fmt.Sprintf(body, "&#233;")),
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			d := mustParse(t, in)
			if v, _ := Attr(d.Root, "contentId"); v != "café" {
				t.Errorf("contentId = %q, want café", v)
			}
			if d.Version() != "" {
				t.Errorf("Version() = %q for a document without one", d.Version())
			}
			out, err := d.Bytes()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(out, []byte(`<?xml version="1.0" encoding="UTF-8"?>`)) || !utf8.Valid(out) {
				t.Errorf("Bytes() = %q, want UTF-8 with a UTF-8 declaration", out)
			}
			if bytes.Count(out, []byte("<?xml")) != 1 {
				t.Errorf("Bytes() has %d XML declarations: %q", bytes.Count(out, []byte("<?xml")), out)
			}
		})
	}
}

func TestParse_Refuses(t *testing.T) {
	const ok = `<CPIX xmlns="urn:dashif:org:cpix"><ContentKeyList/></CPIX>`
	deep := `<CPIX xmlns="urn:dashif:org:cpix">` + strings.Repeat("<a>", 70) + strings.Repeat("</a>", 70) + `</CPIX>`
	many := `<CPIX xmlns="urn:dashif:org:cpix">` + strings.Repeat("<a/>", 11) + `</CPIX>`
	cases := []struct {
		name string
		in   string
		lim  Limits
		want error
		msg  string // substring of the message
	}{
		{"empty", "", Limits{}, ErrMalformed, "no root element"},
		{"not XML", "hello", Limits{}, ErrMalformed, "text outside the root element"},
		{"unclosed", `<CPIX xmlns="urn:dashif:org:cpix"><ContentKeyList>`, Limits{}, ErrMalformed, "line 1"},
		{"mismatched", `<CPIX xmlns="urn:dashif:org:cpix"><a></b></CPIX>`, Limits{}, ErrMalformed, "element <a> closed by </b>"},
		{"second root", ok + `<CPIX xmlns="urn:dashif:org:cpix"/>`, Limits{}, ErrMalformed, "second element"},
		{"text after root", ok + "x", Limits{}, ErrMalformed, "text outside the root element"},
		{"undeclared prefix", `<CPIX xmlns="urn:dashif:org:cpix"><pskc:Secret/></CPIX>`, Limits{}, ErrMalformed, `prefix "pskc"`},
		{"undeclared attribute prefix", `<CPIX xmlns="urn:dashif:org:cpix" foo:bar="1"/>`, Limits{}, ErrMalformed, `prefix "foo"`},
		{"duplicate attribute", `<CPIX xmlns="urn:dashif:org:cpix" id="a" id="b"/>`, Limits{}, ErrMalformed, "attribute id repeated"},
		{"undefined entity", `<CPIX xmlns="urn:dashif:org:cpix" id="&foo;"/>`, Limits{}, ErrMalformed, "entity"},
		{"wrong root", `<KeyContainer xmlns="urn:ietf:params:xml:ns:keyprov:pskc"/>`, Limits{}, ErrNotCPIX, "{urn:ietf:params:xml:ns:keyprov:pskc}KeyContainer"},
		{"CPIX without namespace", `<CPIX/>`, Limits{}, ErrNotCPIX, "found {}CPIX"},
		{"CPIX in another namespace", `<c:CPIX xmlns:c="urn:dashif:org:cpix:2"/>`, Limits{}, ErrNotCPIX, ""},
		{"DOCTYPE", `<?xml version="1.0"?><!DOCTYPE CPIX><CPIX xmlns="urn:dashif:org:cpix"/>`, Limits{}, ErrDOCTYPE, "line 1: DOCTYPE is not allowed"},
		{"billion laughs", `<?xml version="1.0"?>
<!DOCTYPE CPIX [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>
<CPIX xmlns="urn:dashif:org:cpix" id="&b;"/>`, Limits{}, ErrDOCTYPE, "line 2"},
		{"external entity", `<!DOCTYPE CPIX SYSTEM "file:///etc/passwd"><CPIX xmlns="urn:dashif:org:cpix"/>`, Limits{}, ErrDOCTYPE, ""},
		{"too deep (default 64)", deep, Limits{}, ErrLimit, "nested deeper than 64"},
		{"too deep (limit 3)", `<CPIX xmlns="urn:dashif:org:cpix"><a><b><c/></b></a></CPIX>`, Limits{MaxDepth: 3}, ErrLimit, "deeper than 3"},
		{"too many elements", many, Limits{MaxElements: 10}, ErrLimit, "more than 10 elements"},
		{"too many bytes", ok, Limits{MaxBytes: 10}, ErrLimit, "more than the limit of 10"},
		{"unsupported encoding", `<?xml version="1.0" encoding="Shift_JIS"?>` + ok, Limits{}, ErrEncoding, `"shift_jis" is not supported`},
		{"non-ASCII in US-ASCII", `<?xml version="1.0" encoding="us-ascii"?><CPIX xmlns="urn:dashif:org:cpix" id="é"/>`, Limits{}, ErrEncoding, "non-ASCII"},
		{"invalid UTF-8", "<CPIX xmlns=\"urn:dashif:org:cpix\" id=\"\xff\"/>", Limits{}, ErrMalformed, "UTF-8"},
		{"odd UTF-16", string(append(utf16Bytes(ok, false, true), 0)), Limits{}, ErrEncoding, "odd number of bytes"},
		{"UTF-16 declaring ISO-8859-1", string(utf16Bytes(`<?xml version="1.0" encoding="ISO-8859-1"?>`+ok, false, true)), Limits{}, ErrEncoding, "UTF-16 input declares"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d, err := Parse([]byte(c.in), c.lim)
			if err == nil {
				t.Fatalf("Parse accepted it: %v", d.Root.FullTag())
			}
			if !errors.Is(err, c.want) {
				t.Errorf("error %q does not wrap %q", err, c.want)
			}
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Errorf("error %T is not a *ParseError", err)
			}
			if !strings.Contains(err.Error(), c.msg) {
				t.Errorf("error %q does not contain %q", err, c.msg)
			}
			if !strings.HasPrefix(err.Error(), "cpix: ") {
				t.Errorf("error %q lacks the cpix: prefix", err)
			}
		})
	}
}

// TestParse_NoKeyInError: a malformed document holding a key value does not
// echo the value in the error.
func TestParse_NoKeyInError(t *testing.T) {
	const key = "3rWoHYasQubO6HbJGrGtLw=="
	for _, in := range []string{
		`<CPIX xmlns="urn:dashif:org:cpix"><pskc:PlainValue>` + key + `</pskc:PlainValue></CPIX>`,
		`<CPIX xmlns="urn:dashif:org:cpix"><PlainValue>` + key + `</Plain></CPIX>`,
		`<CPIX xmlns="urn:dashif:org:cpix"><PlainValue>` + key,
		`<KeyContainer><PlainValue>` + key + `</PlainValue></KeyContainer>`,
	} {
		_, err := Parse([]byte(in), Limits{})
		if err == nil || strings.Contains(err.Error(), key) {
			t.Errorf("Parse(%q) error %v", in, err)
		}
	}
}

// canonical lists a document's elements, attributes (namespace declarations
// excluded), non-whitespace text and comments, resolved by encoding/xml's
// namespace handling: one line per token, prefixes never shown. UTF-16
// input is decoded by the test itself.
func canonical(t *testing.T, b []byte) []string {
	t.Helper()
	if bytes.HasPrefix(b, []byte{0xFF, 0xFE}) {
		u := make([]uint16, (len(b)-2)/2)
		for i := range u {
			u[i] = uint16(b[2+2*i]) | uint16(b[3+2*i])<<8
		}
		s := string(utf16.Decode(u))
		s = strings.Replace(s, `encoding="utf-16"`, `encoding="utf-8"`, 1)
		b = []byte(s)
	}
	b = bytes.TrimPrefix(b, []byte{0xEF, 0xBB, 0xBF})
	dec := xml.NewDecoder(bytes.NewReader(b))
	var out []string
	depth := 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("canonical: %v", err)
		}
		ind := strings.Repeat(" ", depth)
		switch tt := tok.(type) {
		case xml.StartElement:
			var attrs []string
			for _, a := range tt.Attr {
				if a.Name.Space == "xmlns" || (a.Name.Space == "" && a.Name.Local == "xmlns") {
					continue
				}
				attrs = append(attrs, fmt.Sprintf("{%s}%s=%q", a.Name.Space, a.Name.Local, a.Value))
			}
			sort.Strings(attrs)
			out = append(out, fmt.Sprintf("%s{%s}%s %s", ind, tt.Name.Space, tt.Name.Local, strings.Join(attrs, " ")))
			depth++
		case xml.EndElement:
			depth--
		case xml.CharData:
			if s := strings.TrimSpace(string(tt)); s != "" {
				out = append(out, ind+"text "+s)
			}
		case xml.Comment:
			out = append(out, ind+"comment "+string(tt))
		}
	}
}

// rawNames lists the element names as written (prefix:local), in document
// order.
func rawNames(t *testing.T, b []byte) []string {
	t.Helper()
	d := mustParse(t, b)
	out := []string{d.Root.FullTag()}
	for _, e := range d.Root.FindElements(".//*") {
		out = append(out, e.FullTag())
	}
	return out
}

// TestEcho_Vectors: Parse, Bytes and Parse again keeps every element,
// attribute, text and comment (compared by namespace URI and local name)
// and the prefixes as written.
func TestEcho_Vectors(t *testing.T) {
	for _, v := range vectors {
		t.Run(v.file, func(t *testing.T) {
			in := readVector(t, v.file)
			out, err := mustParse(t, in).Bytes()
			if err != nil {
				t.Fatal(err)
			}
			if !utf8.Valid(out) || !bytes.HasPrefix(out, []byte(`<?xml version="1.0" encoding="UTF-8"?>`)) {
				t.Fatalf("echo is not UTF-8 with a UTF-8 declaration: %.80q", out)
			}
			want, got := canonical(t, in), canonical(t, out)
			if len(want) == 0 {
				t.Fatalf("canonical form of the input has %d lines", len(want))
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("echo changed the document (-in +out):\n%s", diff)
			}
			if !slices.Equal(rawNames(t, in), rawNames(t, out)) {
				t.Errorf("echo changed prefixes")
			}
			again, err := mustParse(t, out).Bytes()
			if err != nil || !bytes.Equal(again, out) {
				t.Errorf("second echo differs from the first (err %v)", err)
			}
		})
	}
}

// TestEcho_Exact: character references for whitespace, CDATA, comments and
// processing instructions outside the root survive an echo with the same
// values (C14N, and so signatures, see the same document).
func TestEcho_Exact(t *testing.T) {
	in := []byte("<?xml version=\"1.0\" encoding=\"utf-8\"?>\r\n<!-- top -->\n<?app x=\"1\"?>\n" +
		`<CPIX xmlns="urn:dashif:org:cpix" name="a&#xA;b&#x9;c&#xD;d &quot;q&quot; &lt;&amp;&gt;">` +
		`<ContentKeyList><!-- keys --><ContentKey kid="0ae6b9ad-92d2-4ebe-882b-1d07dee70715"><Data>` +
		`<pskc:Secret xmlns:pskc="urn:ietf:params:xml:ns:keyprov:pskc"><pskc:PlainValue>3rWoHYas&#xD;` + "\n" + `QubO6HbJGrGtLw==</pskc:PlainValue></pskc:Secret>` +
		`</Data></ContentKey></ContentKeyList><DRMSystemList><DRMSystem kid="0ae6b9ad-92d2-4ebe-882b-1d07dee70715" systemId="94ce86fb-07ff-4f43-adb8-93d2fa968ca2">` +
		`<SmoothStreamingProtectionHeaderData><![CDATA[<WRMHEADER a="1"/>]]></SmoothStreamingProtectionHeaderData></DRMSystem></DRMSystemList></CPIX>` + "\n")
	d := mustParse(t, in)
	out, err := d.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(canonical(t, in), canonical(t, out)); diff != "" {
		t.Errorf("echo changed the document (-in +out):\n%s\n%s", diff, out)
	}
	if !bytes.Contains(out, []byte("<!-- top -->\n<?app x=\"1\"?>\n<CPIX")) {
		t.Errorf("prolog comment or processing instruction lost:\n%s", out)
	}
	v, err := d.ContentKeyValue(d.ContentKeys()[0], nil)
	if err != nil || base64.StdEncoding.EncodeToString(v) != "3rWoHYasQubO6HbJGrGtLw==" {
		t.Errorf("PlainValue with a line break reads as %x, %v", v, err)
	}
}
