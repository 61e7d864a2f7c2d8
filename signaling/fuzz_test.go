package signaling_test

import (
	"bytes"
	"encoding/base64"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/keyserver/keyserver/drm"
	"github.com/keyserver/keyserver/signaling"
)

func seedBoxes(f *testing.F) [][]byte {
	var out [][]byte
	for _, sys := range []drm.System{drm.Widevine, drm.PlayReady, drm.NagraPRM} {
		for _, sc := range schemes {
			b, err := signaling.NewPSSH(sys, testParams(`a"<&>`, sc))
			if err != nil {
				f.Fatal(err)
			}
			out = append(out, b)
		}
	}
	b, _ := base64.StdEncoding.DecodeString(tv10Box)
	return append(out, b)
}

// FuzzParsePSSH: no panic; whatever parses marshals back to the same bytes
// (ParsePSSH is strict about every length field).
func FuzzParsePSSH(f *testing.F) {
	for _, b := range seedBoxes(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		boxes, err := signaling.ParsePSSH(b)
		if err != nil {
			return
		}
		again, err := signaling.MarshalPSSH(boxes)
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("round trip %x → %x, %v", b, again, err)
		}
	})
}

// FuzzParseWidevinePSSHData: no panic; marshal(parse(b)) is a fixed point and
// keeps every field (Other may be re-sorted by field number when the parsed
// order cannot be kept, e.g. after a repeated singular field).
//
// testdata/fuzz/FuzzParseWidevinePSSHData/d44545ed35025d2f guards that
// re-sorting: unknown fields out of order plus a repeated field 9.
func FuzzParseWidevinePSSHData(f *testing.F) {
	for _, b := range seedBoxes(f)[:2] {
		f.Add(b[32:])
	}
	f.Add([]byte{0x08, 0x01, 0x12, 0x01, 0x30, 0x2a, 0x01, 0x41, 0x22, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := signaling.ParseWidevinePSSHData(b)
		if err != nil {
			return
		}
		m, err := d.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		d2, err := signaling.ParseWidevinePSSHData(m)
		if err != nil {
			t.Fatalf("re-parse: %v", err)
		}
		byNum := cmpopts.SortSlices(func(a, b signaling.WidevineField) bool {
			return a.Num < b.Num || a.Num == b.Num && string(a.Raw) < string(b.Raw)
		})
		if diff := cmp.Diff(d, d2, byNum, cmpopts.IgnoreUnexported(signaling.WidevinePSSHData{})); diff != "" {
			t.Fatal(diff)
		}
		if m2, _ := d2.MarshalBinary(); !bytes.Equal(m, m2) {
			t.Fatalf("not a fixed point: %x vs %x", m, m2)
		}
	})
}

// FuzzParsePlayReadyObject: no panic; parse → marshal is byte-identical;
// WRMHeader and ParseWRMHeader do not panic.
func FuzzParsePlayReadyObject(f *testing.F) {
	f.Add(seedBoxes(f)[2][32:])
	f.Add(seedBoxes(f)[3][32:])
	f.Fuzz(func(t *testing.T, b []byte) {
		o, err := signaling.ParsePlayReadyObject(b)
		if err != nil {
			return
		}
		if again, err := o.MarshalBinary(); err != nil || !bytes.Equal(again, b) {
			t.Fatalf("round trip: %v", err)
		}
		if x, err := o.WRMHeader(); err == nil {
			_, _ = signaling.ParseWRMHeader(x)
		}
	})
}

// FuzzParseNagraPSSHData: no panic; parse → marshal → parse is stable.
func FuzzParseNagraPSSHData(f *testing.F) {
	f.Add(seedBoxes(f)[4][32:])
	f.Add([]byte(`{"contentId":"x","keyId":"11100111-2222-3333-4444-000000000006"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := signaling.ParseNagraPSSHData(b)
		if err != nil {
			return
		}
		m, err := d.MarshalBinary()
		if err != nil {
			return // content id not valid UTF-8 (JSON decoding replaced nothing)
		}
		d2, err := signaling.ParseNagraPSSHData(m)
		if err != nil || d2 != d {
			t.Fatalf("%+v → %s → %+v, %v", d, m, d2, err)
		}
	})
}
