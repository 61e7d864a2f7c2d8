package cpix

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// scanSeeds are inputs at the edges of the fast reader's subset.
var scanSeeds = []string{
	`<?xml version="1.0" encoding="UTF-8"?><CPIX xmlns="urn:dashif:org:cpix" a='1' b = "x&amp;y&lt;&gt;&quot;&apos;"/>`,
	`<?xml version='1.0' standalone='yes'?>` + "\n<c:CPIX xmlns:c=\"urn:dashif:org:cpix\">\n\t<c:A k=\"v\">t</c:A ></c:CPIX>",
	`<?xml version="1.1"?><CPIX/>`,
	`<?xml encoding="UTF-8" version="1.0"?><CPIX/>`,
	`<?xmlx version="1.0"?><CPIX/>`,
	`<CPIX a="<"/>`, `<CPIX a="]]>"/>`, `<CPIX>]]></CPIX>`, `<CPIX>]]</CPIX>`,
	`<CPIX>&#65;</CPIX>`, `<CPIX>&nbsp;</CPIX>`, `<CPIX>&amp</CPIX>`, `<CPIX>a` + "\r\n" + `b</CPIX>`,
	`<CPIX><!-- c --></CPIX>`, `<CPIX><![CDATA[x]]></CPIX>`, `<!DOCTYPE CPIX><CPIX/>`,
	`<a:b:c/>`, `<a:/>`, `<:a/>`, `<a:1/>`, `<1a/>`, `<a b/>`, `<a b=c/>`, `<a b="1"c="2"/>`, `<a/ >`, `</a>`, `<a></b>`,
	`<a>é</a>`, `<é/>`, "<a>\x01</a>", "<a>\x7f</a>", `<a`, `<a b="`, `<a>text`, ``, `  `, `<a/><b/>`, `text<a/>`,
	`<a xmlns:p="u" p:x="1" x="2"/>`, `<a x="1" x="2"/>`,
}

// TestScannerMatchesEncodingXML: wherever the fast reader does not hand
// over to encoding/xml, it returns exactly encoding/xml's tokens and ends
// where encoding/xml ends without error.
func TestScannerMatchesEncodingXML(t *testing.T) {
	files, _ := filepath.Glob("testdata/vectors/*.xml")
	var inputs [][]byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if text, err := toUTF8(b); err == nil {
			inputs = append(inputs, text)
		}
	}
	for _, s := range scanSeeds {
		inputs = append(inputs, []byte(s))
	}
	fast := 0
	for _, in := range inputs {
		if compareScanner(t, in) {
			fast++
		}
	}
	if fast < 10 {
		t.Errorf("only %d of %d inputs read by the fast reader", fast, len(inputs))
	}
}

// compareScanner fails t if the scanner accepts in differently from
// encoding/xml; it reports whether the scanner read it all.
func compareScanner(t testing.TB, in []byte) bool {
	var got []xml.Token
	sc := &scanner{s: in}
	for {
		tok, err := sc.RawToken()
		if errors.Is(err, errFallback) {
			return false
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("%q: scanner error %v", in, err)
		}
		got = append(got, xml.CopyToken(tok))
	}
	dec := xml.NewDecoder(bytes.NewReader(in))
	dec.Strict = true
	dec.CharsetReader = passThrough
	var want []xml.Token
	for {
		tok, err := dec.RawToken()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("%q: the fast reader accepted what encoding/xml refuses: %v", in, err)
		}
		want = append(want, xml.CopyToken(tok))
	}
	if len(got) != len(want) {
		t.Fatalf("%q: %d tokens, encoding/xml %d", in, len(got), len(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		if se, ok := g.(xml.StartElement); ok && len(se.Attr) == 0 {
			se.Attr = nil
			g = se
		}
		if se, ok := w.(xml.StartElement); ok && len(se.Attr) == 0 {
			se.Attr = nil
			w = se
		}
		if !reflect.DeepEqual(g, w) {
			t.Fatalf("%q: token %d is %#v, encoding/xml %#v", in, i, g, w)
		}
	}
	return true
}

// FuzzScanner: the fast reader agrees with encoding/xml on every input it
// does not hand over.
func FuzzScanner(f *testing.F) {
	for _, s := range scanSeeds {
		f.Add([]byte(s))
	}
	for _, v := range vectors {
		f.Add(readVector(f, v.file))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		compareScanner(t, in)
	})
}
