package signaling_test

import (
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/keyserver/keyserver/drm"
	"github.com/keyserver/keyserver/signaling"
)

// FuzzBuilders: for arbitrary content ids, license URLs and key ids, every
// DASH element is well-formed XML with one root ContentProtection whose
// pssh carries the content id back, and every EXT-X-KEY line is one line
// that parses as an HLS attribute list carrying exactly the built URI
// (escaping holds). Builders refuse only what the format cannot carry, with
// their documented errors.
func FuzzBuilders(f *testing.F) {
	f.Add("channel-7", "https://nag0000.anycast.nagra.com/NAG0000/prls/contentlicenseservice/v1/licenses", []byte{1, 2, 3}, true)
	f.Add(`a"<&>'`, `https://x/?a=1&b="2"<3>`, []byte{0xff}, false)
	f.Add("\",METHOD=NONE,URI=\"x", "", []byte{}, true)
	f.Add("</cenc:pssh><x/>]]>", "http://[::1]/&amp;", []byte{0}, true)
	f.Add("a\nb\r\x00\x1f\u0085\u2028\ufffe", "u\x01", []byte{7}, false)
	f.Add("\xff\xfe", "\xc0\xaf", []byte{9, 9}, true)
	f.Add(strings.Repeat("é", 200), strings.Repeat("/", 300), []byte{5}, true)
	// Each tab of the URL is 20 bytes of WRMHEADER (&#x9; twice, UTF-16):
	// 3,300 of them do not fit a PlayReady record; CI's fuzzing found this.
	f.Add("0", strings.Repeat("\t", 3300)+"\u0861", []byte{0}, false)
	f.Add("0", strings.Repeat("\t", 3200), []byte{0}, true)
	f.Fuzz(func(t *testing.T, contentID, laURL string, kidSeed []byte, cbcs bool) {
		p := signaling.Params{ContentID: contentID, PlayReadyLAURL: laURL, Scheme: drm.SchemeCENC}
		if cbcs {
			p.Scheme = drm.SchemeCBCS
		}
		copy(p.KID[:], kidSeed)
		p.KID[15] |= 1 // never the zero key id
		for _, sys := range []drm.System{drm.Widevine, drm.PlayReady, drm.NagraPRM} {
			d, err := signaling.NewDASH(sys, p)
			if err != nil {
				checkRefusal(t, sys, err, contentID, laURL)
				continue
			}
			checkXML(t, sys, d.ContentProtection, p.KID)
			if sys == drm.PlayReady {
				checkWRMHeader(t, d.PSSH, contentID, laURL)
			}
			if sys == drm.Widevine || sys == drm.NagraPRM {
				if got := payloadContentID(t, sys, d.PSSH); got != contentID {
					t.Fatalf("%v pssh carries content id %q, want %q", sys, got, contentID)
				}
			}
		}
		for _, sys := range []drm.System{drm.Widevine, drm.FairPlay, drm.NagraPRM} {
			h, err := signaling.NewHLS(sys, p)
			if err != nil {
				if sys == drm.FairPlay && !cbcs && errors.Is(err, signaling.ErrUnsupportedScheme) {
					continue
				}
				checkRefusal(t, sys, err, contentID, laURL)
				continue
			}
			attrs := parseAttributeList(t, h.Line)
			if attrs["URI"] != `"`+h.URI+`"` || attrs["KEYFORMAT"] != `"`+h.KeyFormat+`"` || attrs["METHOD"] != h.Method {
				t.Fatalf("%v: attributes %q do not carry the built values %+v", sys, attrs, h)
			}
			if sys == drm.FairPlay {
				checkSKD(t, h.URI, contentID, p.KID)
			}
		}
	})
}

// checkRefusal: a builder may refuse only a content id or URL that is not
// valid UTF-8 or holds characters XML cannot carry, and PlayReady one whose
// header cannot fit the 16-bit length of a PlayReady Object record.
func checkRefusal(t *testing.T, sys drm.System, err error, contentID, laURL string) {
	t.Helper()
	switch {
	case errors.Is(err, signaling.ErrInvalidContentID) && !xmlSafe(contentID):
	case errors.Is(err, signaling.ErrInvalidLAURL) && !xmlSafe(laURL):
	case errors.Is(err, signaling.ErrHeaderTooLarge) && sys == drm.PlayReady && minWRMHeaderBytes(contentID, laURL) > 0xffff:
	default:
		t.Fatalf("%v refused content id %q, URL %q: %v", sys, contentID, laURL, err)
	}
}

// minWRMHeaderBytes is a lower bound on the UTF-16 size of a WRMHEADER
// carrying contentID once and laURL twice, escaped as the builder documents
// (&amp; &lt; &gt; &quot; &apos;, and &#x9; &#xA; &#xD; so that XML does
// not normalise them), plus 200 characters no header is without.
func minWRMHeaderBytes(contentID, laURL string) int {
	n := 200
	for _, s := range []string{contentID, laURL, laURL} {
		for _, r := range s {
			switch r {
			case '<', '>':
				n += 4
			case '&', '\t', '\n', '\r':
				n += 5
			case '"', '\'':
				n += 6
			default:
				n++
				if r >= 0x10000 {
					n++ // a surrogate pair
				}
			}
		}
	}
	return 2 * n
}

// xmlSafe reports whether s is valid UTF-8 of XML 1.0 Chars only.
func xmlSafe(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if !(r == 0x9 || r == 0xa || r == 0xd || r >= 0x20 && r <= 0xd7ff || r >= 0xe000 && r <= 0xfffd || r >= 0x10000) {
			return false
		}
	}
	return true
}

// checkXML parses s strictly: well-formed, one root <ContentProtection> in
// the DASH namespace with the right default_KID, nothing after it; for
// PlayReady the WRMHEADER inside parses too.
func checkXML(t *testing.T, sys drm.System, s string, kid drm.KeyID) {
	t.Helper()
	dec := xml.NewDecoder(strings.NewReader(s))
	dec.Strict = true
	depth, roots := 0, 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("%v: ContentProtection is not well-formed XML: %v\n%s", sys, err, s)
		}
		switch e := tok.(type) {
		case xml.StartElement:
			if depth == 0 {
				roots++
				if e.Name.Local != "ContentProtection" || e.Name.Space != "urn:mpeg:dash:schema:mpd:2011" {
					t.Fatalf("%v: root %v", sys, e.Name)
				}
				var got string
				for _, a := range e.Attr {
					if a.Name.Local == "default_KID" && a.Name.Space == "urn:mpeg:cenc:2013" {
						got = a.Value
					}
				}
				if got != kid.String() {
					t.Fatalf("%v: default_KID %q, want %s", sys, got, kid)
				}
			}
			depth++
		case xml.EndElement:
			depth--
		case xml.CharData:
			if depth == 0 && strings.TrimSpace(string(e)) != "" {
				t.Fatalf("%v: text outside the element", sys)
			}
		}
	}
	if roots != 1 {
		t.Fatalf("%v: %d root elements", sys, roots)
	}
}

// parseAttributeList parses an EXT-X-KEY line as RFC 8216 §4.2 attribute
// list: NAME=value pairs separated by commas, quoted strings without '"',
// CR or LF, unquoted values without commas or whitespace; no name twice.
func parseAttributeList(t *testing.T, line string) map[string]string {
	t.Helper()
	rest, ok := strings.CutPrefix(line, "#EXT-X-KEY:")
	if !ok || strings.ContainsAny(line, "\r\n") {
		t.Fatalf("not one EXT-X-KEY line: %q", line)
	}
	attrs := map[string]string{}
	for rest != "" {
		name, after, ok := strings.Cut(rest, "=")
		if !ok || name == "" || strings.Trim(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-") != "" {
			t.Fatalf("bad attribute name in %q", line)
		}
		var val string
		if strings.HasPrefix(after, `"`) {
			end := strings.IndexByte(after[1:], '"')
			if end < 0 {
				t.Fatalf("unterminated quoted string in %q", line)
			}
			val, rest = after[:end+2], after[end+2:]
		} else {
			end := strings.IndexByte(after, ',')
			if end < 0 {
				end = len(after)
			}
			val, rest = after[:end], after[end:]
			if val == "" || strings.ContainsAny(val, " \t\"") {
				t.Fatalf("bad unquoted value %q in %q", val, line)
			}
		}
		if _, dup := attrs[name]; dup {
			t.Fatalf("attribute %s twice in %q", name, line)
		}
		attrs[name] = val
		if rest != "" {
			if rest[0] != ',' || len(rest) == 1 {
				t.Fatalf("bad separator in %q", line)
			}
			rest = rest[1:]
		}
	}
	return attrs
}

// checkSKD decodes a FairPlay skd:// URI and checks the JSON inside.
func checkSKD(t *testing.T, uri, contentID string, kid drm.KeyID) {
	t.Helper()
	b, err := base64.URLEncoding.DecodeString(strings.TrimPrefix(uri, "skd://"))
	if err != nil {
		t.Fatalf("skd URI %q: %v", uri, err)
	}
	var v struct{ ContentId, KeyId, IV string }
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("skd JSON %q: %v", b, err)
	}
	if v.ContentId != contentID || v.KeyId != kid.String() {
		t.Fatalf("skd JSON %q: content id or key id changed", b)
	}
}

// payloadContentID reads the content id back out of a pssh box.
func payloadContentID(t *testing.T, sys drm.System, box []byte) string {
	t.Helper()
	boxes, err := signaling.ParsePSSH(box)
	if err != nil || len(boxes) != 1 {
		t.Fatalf("%v pssh: %v", sys, err)
	}
	switch sys {
	case drm.Widevine:
		d, err := signaling.ParseWidevinePSSHData(boxes[0].Data)
		if err != nil {
			t.Fatal(err)
		}
		return string(d.ContentID)
	case drm.NagraPRM:
		d, err := signaling.ParseNagraPSSHData(boxes[0].Data)
		if err != nil {
			t.Fatal(err)
		}
		return d.ContentID
	}
	return ""
}

// checkWRMHeader: the WRMHEADER XML inside the PlayReady object parses and
// gives back exactly the content id and license URL (XML escaping, line
// breaks included).
func checkWRMHeader(t *testing.T, box []byte, contentID, laURL string) {
	t.Helper()
	boxes, err := signaling.ParsePSSH(box)
	if err != nil || len(boxes) != 1 {
		t.Fatalf("PlayReady pssh: %v", err)
	}
	o, err := signaling.ParsePlayReadyObject(boxes[0].Data)
	if err != nil {
		t.Fatal(err)
	}
	x, err := o.WRMHeader()
	if err != nil {
		t.Fatal(err)
	}
	h, err := signaling.ParseWRMHeader(x)
	if err != nil {
		t.Fatalf("WRMHEADER is not well-formed: %v\n%s", err, x)
	}
	if h.ContentID != contentID || h.LAURL != laURL {
		t.Fatalf("WRMHEADER gives back content id %q and LA_URL %q, want %q and %q\n%s", h.ContentID, h.LAURL, contentID, laURL, x)
	}
}
