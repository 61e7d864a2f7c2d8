package cpix

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/beevik/etree"
)

// TestWriterMatchesEtree: the single-pass reader and the fast writer give
// byte for byte what etree's own reader and writer (with writeSettings)
// give, for every DASH-IF vector and for values that need escaping.
func TestWriterMatchesEtree(t *testing.T) {
	files, err := filepath.Glob("testdata/vectors/*.xml")
	if err != nil || len(files) == 0 {
		t.Fatalf("vectors: %v", err)
	}
	inputs := map[string][]byte{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		inputs[filepath.Base(f)] = b
	}
	inputs["escapes"] = []byte("<?xml version=\"1.0\"?>\n<!-- c --><CPIX xmlns=\"urn:dashif:org:cpix\" id=\"a&amp;b&lt;c&gt;d&quot;e&#x9;f&#xA;g&#xD;h'\">" +
		"t&amp;&lt;&gt;\"'&#xD;\n\té€<?pi x?><![CDATA[<raw>]]><X/><Y a=\"\"></Y></CPIX>\n")
	for name, in := range inputs {
		doc, err := Parse(in, Limits{})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got, err := doc.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		text, err := toUTF8(in)
		if err != nil {
			t.Fatal(err)
		}
		ref := etree.NewDocument()
		ref.ReadSettings = etree.ReadSettings{CharsetReader: passThrough}
		if err := ref.ReadFromBytes(text); err != nil {
			t.Fatalf("%s: etree: %v", name, err)
		}
		for _, tok := range ref.Child {
			if p, ok := tok.(*etree.ProcInst); ok && p.Target == "xml" {
				ref.RemoveChild(p)
				break
			}
		}
		ref.WriteSettings = writeSettings
		var want bytes.Buffer
		want.WriteString(`<?xml version="1.0" encoding="UTF-8"?>`)
		if _, ok := ref.Child[0].(*etree.Element); ok {
			want.WriteByte('\n')
		}
		if _, err := ref.WriteTo(&want); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want.Bytes()) {
			i := 0
			for i < len(got) && i < want.Len() && got[i] == want.Bytes()[i] {
				i++
			}
			t.Errorf("%s: differs from etree at byte %d:\n got …%q\nwant …%q", name, i, got[max(0, i-40):min(len(got), i+40)], want.Bytes()[max(0, i-40):min(want.Len(), i+40)])
		}
	}
}

// TestPlainPrefix: the eight-bytes-at-a-time scan agrees with the byte
// table on every byte value at every position.
func TestPlainPrefix(t *testing.T) {
	base := []byte("QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=abc/+")
	for _, attr := range []bool{false, true} {
		for c := range 256 {
			for pos := range len(base) {
				b := append([]byte(nil), base...)
				b[pos] = byte(c)
				s := string(b)
				want := 0
				for want < len(s) && plain(s[want], attr) {
					want++
				}
				if got := plainPrefix(s, attr); got != want {
					t.Fatalf("attr %v byte %#x at %d: got %d, want %d", attr, c, pos, got, want)
				}
			}
		}
	}
}

// BenchmarkPlainPrefix: the escape scan over base64, which most of a
// filled answer is (figures in BENCHMARKS.md).
func BenchmarkPlainPrefix(b *testing.B) {
	s := strings.Repeat("QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=abc/+", 100)
	b.SetBytes(int64(len(s)))
	for b.Loop() {
		plainPrefix(s, false)
	}
}
