package cpix

import (
	"bytes"
	"testing"
)

// FuzzParse feeds arbitrary bytes to Parse, seeded with every DASH-IF
// vector. Properties: no panic; an accepted document has a CPIX root,
// serializes, and its serialization parses back and serializes to the same
// bytes (one echo reaches a fixed point); reading its key values and kids
// never panics.
func FuzzParse(f *testing.F) {
	for _, v := range vectors {
		f.Add(readVector(f, v.file))
	}
	f.Add([]byte(`<CPIX xmlns="urn:dashif:org:cpix"/>`))
	f.Add([]byte("\xff\xfe<\x00C\x00/\x00>\x00"))
	f.Add([]byte(`<!DOCTYPE CPIX [<!ENTITY a "b">]><CPIX xmlns="urn:dashif:org:cpix">&a;</CPIX>`))
	f.Fuzz(func(t *testing.T, in []byte) {
		d, err := Parse(in, Limits{MaxBytes: 1 << 20, MaxElements: 10000})
		if err != nil {
			if d != nil {
				t.Fatal("Parse returned a document and an error")
			}
			return
		}
		if !Is(d.Root, NS, "CPIX") {
			t.Fatalf("accepted root %s", d.Root.FullTag())
		}
		for _, ck := range Children(Child(d.Root, NS, "ContentKeyList"), NS, "ContentKey") {
			_, _ = UUIDAttr(ck, "kid")
			_, _ = d.ContentKeyValue(ck, &DeliveryKeys{})
		}
		for _, dd := range d.DeliveryData() {
			_, _ = RecipientOf(dd)
		}
		out, err := d.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		d2, err := Parse(out, Limits{MaxBytes: 4 << 20, MaxElements: 10000})
		if err != nil {
			t.Fatalf("the serialization of an accepted document is refused: %v\n%q", err, out)
		}
		out2, err := d2.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out, out2) {
			t.Fatalf("echo is not stable:\n%q\n%q", out, out2)
		}
	})
}
