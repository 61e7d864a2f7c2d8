package signaling_test

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/Eyevinn/mp4ff/mp4"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/keyserver/keyserver/drm"
	"github.com/keyserver/keyserver/signaling"
)

// Independent vectors from signaling-formats.md §12. Provenance is noted on
// each; none of them is output of this package.

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func unb64(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func kid(t *testing.T, s string) drm.KeyID {
	t.Helper()
	if len(s) == 16 { // ASCII key id as in shaka-packager's tests
		return drm.KeyID([]byte(s))
	}
	k, err := drm.ParseKeyID(s)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func key(t *testing.T, s string) drm.Key {
	t.Helper()
	if len(s) == 16 {
		return drm.Key([]byte(s))
	}
	return drm.Key(unhex(t, s))
}

func wrap(t *testing.T, sys string, data []byte) []byte {
	t.Helper()
	b, err := signaling.PSSH{SystemID: sys, Data: data}.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TV-1: shaka-packager packager/media/base/pssh_generator_unittest.cc.
func TestWidevine_TV1(t *testing.T) {
	kids := []drm.KeyID{kid(t, "keyid1~~~~~~~~~~"), kid(t, "keyid2~~~~~~~~~~")}
	for _, tc := range []struct {
		scheme drm.Scheme
		box    string
	}{
		{0, "000000447073736800000000edef8ba979d64acea3c827dcd51d21ed0000002412106b65796964317e7e7e7e7e7e7e7e7e7e12106b65796964327e7e7e7e7e7e7e7e7e7e"},
		{drm.SchemeCBCS, "0000004a7073736800000000edef8ba979d64acea3c827dcd51d21ed0000002a12106b65796964317e7e7e7e7e7e7e7e7e7e12106b65796964327e7e7e7e7e7e7e7e7e7e48f3c6899b06"},
	} {
		data, err := signaling.NewWidevinePSSHData(kids, nil, tc.scheme, nil)
		if err != nil {
			t.Fatal(err)
		}
		want := unhex(t, tc.box)
		if got := wrap(t, drm.SystemIDWidevine, data); !bytes.Equal(got, want) {
			t.Errorf("%v: box\n got %x\nwant %x", tc.scheme, got, want)
		}
		// The same box via mp4ff directly.
		pb, err := mp4.NewPsshBox(mp4.UUIDWidevine, nil, data)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := pb.Encode(&buf); err != nil || !bytes.Equal(buf.Bytes(), want) {
			t.Errorf("%v: mp4ff box %x, %v", tc.scheme, buf.Bytes(), err)
		}
		roundTripWidevine(t, data)
	}
}

func roundTripWidevine(t *testing.T, data []byte) signaling.WidevinePSSHData {
	t.Helper()
	d, err := signaling.ParseWidevinePSSHData(data)
	if err != nil {
		t.Fatalf("ParseWidevinePSSHData(%x): %v", data, err)
	}
	again, err := d.MarshalBinary()
	if err != nil || !bytes.Equal(again, data) {
		t.Errorf("Widevine round trip\n got %x, %v\nwant %x", again, err, data)
	}
	return d
}

func boxData(t *testing.T, b64box string) []byte {
	t.Helper()
	boxes, err := signaling.ParsePSSH(unb64(t, b64box))
	if err != nil || len(boxes) != 1 {
		t.Fatalf("ParsePSSH: %v, %d boxes", err, len(boxes))
	}
	return boxes[0].Data
}

// TV-4 (Widevine part): Eyevinn/dash-mpd mpd/testdata/livesim/multi-drm.mpd;
// the payload ends with algorithm=1 (08 01) after content_id, out of field order.
// TV-11: mp4ff mp4/pssh_test.go, pssh-box-rs tests/parsing.rs, DASH-IF IOP v5 Part 6.
func TestWidevine_ParseVectors(t *testing.T) {
	u := func(v uint32) *uint32 { return &v }
	s := func(v string) *string { return &v }
	for name, tc := range map[string]struct {
		box  string
		want signaling.WidevinePSSHData
	}{
		"TV-4": {"AAAATHBzc2gAAAAA7e+LqXnWSs6jyCfc1R0h7QAAACwSEBIaD8oPG0dbiRApf6jgoH4aDXdpZGV2aW5lX3Rlc3QiASoIAUjj3JWbBg==", signaling.WidevinePSSHData{
			Algorithm: u(1), KeyIDs: [][]byte{unhex(t, "121a0fca0f1b475b8910297fa8e0a07e")}, Provider: s("widevine_test"),
			ContentID: []byte("*"), ProtectionScheme: u(0x63656E63)}},
		"TV-11 mp4ff": {"AAAASnBzc2gAAAAA7e+LqXnWSs6jyCfc1R0h7QAAACoSEDEuM2I0EEaatTa5ydDK/DESEDEuM2I0EEaatTa5ydDK/DFI49yVmwY=", signaling.WidevinePSSHData{
			KeyIDs:           [][]byte{unhex(t, "312e33623410469ab536b9c9d0cafc31"), unhex(t, "312e33623410469ab536b9c9d0cafc31")},
			ProtectionScheme: u(0x63656E63)}},
		"TV-11 pssh-box-rs": {"AAAAR3Bzc2gAAAAA7e+LqXnWSs6jyCfc1R0h7QAAACcIARIBMBoNd2lkZXZpbmVfdGVzdCIKMjAxNV90ZWFycyoFQVVESU8=", signaling.WidevinePSSHData{
			Algorithm: u(1), KeyIDs: [][]byte{[]byte("0")}, Provider: s("widevine_test"), ContentID: []byte("2015_tears"),
			Other: []signaling.WidevineField{{Num: 5, Raw: append([]byte{0x2a, 0x05}, "AUDIO"...)}}}},
		"TV-11 DASH-IF": {"AAAANHBzc2gAAAAA7e+LqXnWSs6jyCfc1R0h7QAAABQIARIQwU8HCfK5RCeRa2G1JYZQag==", signaling.WidevinePSSHData{
			Algorithm: u(1), KeyIDs: [][]byte{unhex(t, "c14f0709f2b94427916b61b52586506a")}}},
	} {
		t.Run(name, func(t *testing.T) {
			got := roundTripWidevine(t, boxData(t, tc.box))
			if diff := cmp.Diff(tc.want, got, cmpopts.IgnoreUnexported(signaling.WidevinePSSHData{})); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}
}

const (
	tv3PRO = "BgIAAAEAAQD8ATwAVwBSAE0ASABFAEEARABFAFIAIAB4AG0AbABuAHMAPQAiAGgAdAB0AHAAOgAvAC8AcwBjAGgAZQBtAGEAcwAuAG0AaQBjAHIAbwBzAG8AZgB0AC4AYwBvAG0ALwBEAFIATQAvADIAMAAwADcALwAwADMALwBQAGwAYQB5AFIAZQBhAGQAeQBIAGUAYQBkAGUAcgAiACAAdgBlAHIAcwBpAG8AbgA9ACIANAAuADAALgAwAC4AMAAiAD4APABEAEEAVABBAD4APABQAFIATwBUAEUAQwBUAEkATgBGAE8APgA8AEsARQBZAEwARQBOAD4AMQA2ADwALwBLAEUAWQBMAEUATgA+ADwAQQBMAEcASQBEAD4AQQBFAFMAQwBUAFIAPAAvAEEATABHAEkARAA+ADwALwBQAFIATwBUAEUAQwBUAEkATgBGAE8APgA8AEsASQBEAD4AYQBYAGwAbABhAHoARgBrAGYAbgA1ACsAZgBuADUAKwBmAG4ANQArAGYAZwA9AD0APAAvAEsASQBEAD4APABDAEgARQBDAEsAUwBVAE0APgB1AEYAWQAvAE8AaQByAFEAagAvAFUAPQA8AC8AQwBIAEUAQwBLAFMAVQBNAD4APAAvAEQAQQBUAEEAPgA8AC8AVwBSAE0ASABFAEEARABFAFIAPgA="
	tv3XML = `<WRMHEADER xmlns="http://schemas.microsoft.com/DRM/2007/03/PlayReadyHeader" version="4.0.0.0"><DATA><PROTECTINFO><KEYLEN>16</KEYLEN><ALGID>AESCTR</ALGID></PROTECTINFO><KID>aXllazFkfn5+fn5+fn5+fg==</KID><CHECKSUM>uFY/OirQj/U=</CHECKSUM></DATA></WRMHEADER>`
	tv4PRO = "mgIAAAEAAQCQAjwAVwBSAE0ASABFAEEARABFAFIAIAB4AG0AbABuAHMAPQAiAGgAdAB0AHAAOgAvAC8AcwBjAGgAZQBtAGEAcwAuAG0AaQBjAHIAbwBzAG8AZgB0AC4AYwBvAG0ALwBEAFIATQAvADIAMAAwADcALwAwADMALwBQAGwAYQB5AFIAZQBhAGQAeQBIAGUAYQBkAGUAcgAiACAAdgBlAHIAcwBpAG8AbgA9ACIANAAuADAALgAwAC4AMAAiAD4APABEAEEAVABBAD4APABQAFIATwBUAEUAQwBUAEkATgBGAE8APgA8AEsARQBZAEwARQBOAD4AMQA2ADwALwBLAEUAWQBMAEUATgA+ADwAQQBMAEcASQBEAD4AQQBFAFMAQwBUAFIAPAAvAEEATABHAEkARAA+ADwALwBQAFIATwBUAEUAQwBUAEkATgBGAE8APgA8AEsASQBEAD4AeQBnADgAYQBFAGgAcwBQAFcAMABlAEoARQBDAGwALwBxAE8AQwBnAGYAZwA9AD0APAAvAEsASQBEAD4APABDAEgARQBDAEsAUwBVAE0APgBIAHQAMwB1AGEAeABYADgAMwA5AHMAPQA8AC8AQwBIAEUAQwBLAFMAVQBNAD4APABMAEEAXwBVAFIATAA+AGgAdAB0AHAAOgAvAC8AcABsAGEAeQByAGUAYQBkAHkALgBkAGkAcgBlAGMAdAB0AGEAcABzAC4AbgBlAHQALwBwAHIALwBzAHYAYwAvAHIAaQBnAGgAdABzAG0AYQBuAGEAZwBlAHIALgBhAHMAbQB4ADwALwBMAEEAXwBVAFIATAA+ADwALwBEAEEAVABBAD4APAAvAFcAUgBNAEgARQBBAEQARQBSAD4A"
	// TV-10: pssh-box-rs tests/parsing.rs, the 7MvnnnUtai8= case (a real Nagra SSP header).
	tv10Box = "AAADwHBzc2gAAAAAmgTweZhAQoarkuZb4IhflQAAA6CgAwAAAQABAJYDPABXAFIATQBIAEUAQQBEAEUAUgAgAHgAbQBsAG4AcwA9ACIAaAB0AHQAcAA6AC8ALwBzAGMAaABlAG0AYQBzAC4AbQBpAGMAcgBvAHMAbwBmAHQALgBjAG8AbQAvAEQAUgBNAC8AMgAwADAANwAvADAAMwAvAFAAbABhAHkAUgBlAGEAZAB5AEgAZQBhAGQAZQByACIAIAB2AGUAcgBzAGkAbwBuAD0AIgA0AC4AMAAuADAALgAwACIAPgA8AEQAQQBUAEEAPgA8AFAAUgBPAFQARQBDAFQASQBOAEYATwA+ADwASwBFAFkATABFAE4APgAxADYAPAAvAEsARQBZAEwARQBOAD4APABBAEwARwBJAEQAPgBBAEUAUwBDAFQAUgA8AC8AQQBMAEcASQBEAD4APAAvAFAAUgBPAFQARQBDAFQASQBOAEYATwA+ADwASwBJAEQAPgAwAGsAQgBHAFcANQBrAHUATQBVAHEAOABOAE8ATgBjAC8AWABEAGMAVwBBAD0APQA8AC8ASwBJAEQAPgA8AEMASABFAEMASwBTAFUATQA+ADcATQB2AG4AbgBuAFUAdABhAGkAOAA9ADwALwBDAEgARQBDAEsAUwBVAE0APgA8AEwAQQBfAFUAUgBMAD4AaAB0AHQAcABzADoALwAvAHYAZABoADkAOQBzADYAcwAuAGEAbgB5AGMAYQBzAHQALgBuAGEAZwByAGEALgBjAG8AbQAvAFYARABIADkAOQBTADYAUwAvAHAAcgBsAHMALwBjAG8AbgB0AGUAbgB0AGwAaQBjAGUAbgBzAGUAcwBlAHIAdgBpAGMAZQAvAHYAMQAvAGwAaQBjAGUAbgBzAGUAcwA8AC8ATABBAF8AVQBSAEwAPgA8AEMAVQBTAFQATwBNAEEAVABUAFIASQBCAFUAVABFAFMAPgA8AG4AdgA6AEMAbwBuAHQAZQBuAHQASQBkACAAeABtAGwAbgBzADoAbgB2AD0AIgB1AHIAbgA6AHMAYwBoAGUAbQBhAC0AcwBzAHAALQBuAGEAZwByAGEALQBjAG8AbQAiAD4ANQA3ADEAMgA8AC8AbgB2ADoAQwBvAG4AdABlAG4AdABJAGQAPgA8AC8AQwBVAFMAVABPAE0AQQBUAFQAUgBJAEIAVQBUAEUAUwA+ADwALwBEAEEAVABBAD4APAAvAFcAUgBNAEgARQBBAEQARQBSAD4A"
)

func proXML(t *testing.T, pro []byte) string {
	t.Helper()
	o, err := signaling.ParsePlayReadyObject(pro)
	if err != nil {
		t.Fatal(err)
	}
	again, err := o.MarshalBinary()
	if err != nil || !bytes.Equal(again, pro) {
		t.Errorf("PRO round trip: %v", err)
	}
	x, err := o.WRMHeader()
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func playReadyPRO(t *testing.T, p signaling.Params) []byte {
	t.Helper()
	box, err := signaling.NewPSSH(drm.PlayReady, p)
	if err != nil {
		t.Fatal(err)
	}
	boxes, err := signaling.ParsePSSH(box)
	if err != nil {
		t.Fatal(err)
	}
	return boxes[0].Data
}

// TV-3: shaka-packager pssh_generator_unittest.cc (kExpectedPlayReadyPsshData).
func TestPlayReady_TV3(t *testing.T) {
	p := signaling.Params{KID: kid(t, "keyid1~~~~~~~~~~"), Key: key(t, "contentkey1~~~~~"), Scheme: drm.SchemeCENC}
	box, err := signaling.NewPSSH(drm.PlayReady, p)
	if err != nil {
		t.Fatal(err)
	}
	if got := base64.StdEncoding.EncodeToString(box); !strings.HasPrefix(got, "AAACJnBzc2gAAAAAmgTweZhAQoarkuZb4IhflQAAAgYGAgAAAQABAPwB") || len(box) != 550 {
		t.Errorf("box %d bytes, %s…", len(box), got[:60])
	}
	pro := playReadyPRO(t, p)
	if want := unb64(t, tv3PRO); !bytes.Equal(pro, want) {
		t.Errorf("PRO\n got %s\nwant %s", base64.StdEncoding.EncodeToString(pro), tv3PRO)
	}
	if x := proXML(t, unb64(t, tv3PRO)); x != tv3XML {
		t.Errorf("vector XML %s", x)
	}
	h, err := signaling.NewWRMHeader(&p)
	if err != nil || h != tv3XML {
		t.Errorf("NewWRMHeader = %s, %v", h, err)
	}

	// The same KID as a 4.3 cbcs header: 446-byte PRO starting vgEAAAEAAQC0ATwAVwBS (§12 TV-3).
	p.Scheme = drm.SchemeCBCS
	pro = playReadyPRO(t, p)
	if got := base64.StdEncoding.EncodeToString(pro); len(pro) != 446 || !strings.HasPrefix(got, "vgEAAAEAAQC0ATwAVwBS") {
		t.Errorf("4.3 PRO %d bytes %s…", len(pro), got[:24])
	}
}

// TV-4: Eyevinn/dash-mpd livesim multi-drm.mpd; Bento4 example key.
func TestPlayReady_TV4(t *testing.T) {
	const laURL = "http://playready.directtaps.net/pr/svc/rightsmanager.asmx"
	vec := unb64(t, tv4PRO)
	x := proXML(t, vec)
	if !strings.Contains(x, "<CHECKSUM>Ht3uaxX839s=</CHECKSUM>") || !strings.Contains(x, "<KID>yg8aEhsPW0eJECl/qOCgfg==</KID>") {
		t.Fatalf("vector XML %s", x)
	}
	// The PRO encoding of the vector's own XML reproduces the vector.
	if pro, err := signaling.NewPlayReadyObject(x); err != nil || !bytes.Equal(pro, vec) {
		t.Errorf("NewPlayReadyObject(vector XML) differs: %v", err)
	}
	// Ours differs from the vector only by the LUI_URL we add.
	p := signaling.Params{KID: kid(t, "121a0fca-0f1b-475b-8910-297fa8e0a07e"), Key: key(t, "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf"),
		Scheme: drm.SchemeCENC, PlayReadyLAURL: laURL}
	want := strings.Replace(x, "</LA_URL>", "</LA_URL><LUI_URL>"+laURL+"</LUI_URL>", 1)
	if got := proXML(t, playReadyPRO(t, p)); got != want {
		t.Errorf("XML\n got %s\nwant %s", got, want)
	}
}

// TV-5: MicrosoftDocs/PlayReady mpeg-dash-playready.md Table 2.
// TV-6: the same docs (test key seed derivations). TV-7: 4.3 AESCBC sample.
func TestPlayReady_KIDAndChecksum(t *testing.T) {
	for _, tc := range []struct {
		name, kid, key, guid, checksum string
	}{
		{"TV-5", "f81d4fae-7dec-11d0-a765-00a0c91e6bf6", "00000000000000000000000000000000", "rk8d+Ox90BGnZQCgyR5r9g==", ""},
		{"TV-6a", "10000000-1000-1000-1000-100000000001", "3a2a1b68dd2bd9b2eeb25e84c4776668", "AAAAEAAQABAQABAAAAAAAQ==", "5TzIYQ2hrOY="},
		{"TV-6b", "09e091ab-f838-41d2-9e35-58531fd19ec7", "9cb061164b7013eaefcc7d6d18424c2c", "q5HgCTj40kGeNVhTH9Gexw==", "w+OZVr8vzrQ="},
		{"TV-4", "121a0fca-0f1b-475b-8910-297fa8e0a07e", "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf", "yg8aEhsPW0eJECl/qOCgfg==", "Ht3uaxX839s="},
		{"TV-3", "keyid1~~~~~~~~~~", "contentkey1~~~~~", "aXllazFkfn5+fn5+fn5+fg==", "uFY/OirQj/U="},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := kid(t, tc.kid)
			for _, scheme := range []drm.Scheme{drm.SchemeCENC, drm.SchemeCBCS} {
				p := signaling.Params{KID: k, Key: key(t, tc.key), Scheme: scheme}
				x := proXML(t, playReadyPRO(t, p))
				h, err := signaling.ParseWRMHeader(x)
				if err != nil || len(h.KIDs) != 1 || h.KIDs[0].KID != k {
					t.Fatalf("%v: ParseWRMHeader(%s) = %+v, %v", scheme, x, h, err)
				}
				if scheme == drm.SchemeCENC {
					if !strings.Contains(x, "<KID>"+tc.guid+"</KID>") || h.Version != "4.0.0.0" || h.KIDs[0].AlgID != "AESCTR" {
						t.Errorf("cenc XML %s", x)
					}
					if tc.checksum != "" && h.KIDs[0].Checksum != tc.checksum {
						t.Errorf("checksum %q, want %q", h.KIDs[0].Checksum, tc.checksum)
					}
				} else {
					// TV-7 structure: 4.3.0.0, KIDS/KID ALGID="AESCBC" VALUE=…, no CHECKSUM.
					if !strings.Contains(x, `<PROTECTINFO><KIDS><KID ALGID="AESCBC" VALUE="`+tc.guid+`"></KID></KIDS></PROTECTINFO>`) ||
						h.Version != "4.3.0.0" || strings.Contains(x, "CHECKSUM") {
						t.Errorf("cbcs XML %s", x)
					}
				}
			}
		})
	}
}

// TV-10: pssh-box-rs tests/parsing.rs (Nagra-flavoured PlayReady header).
func TestPlayReady_TV10(t *testing.T) {
	const laURL = "https://vdh99s6s.anycast.nagra.com/VDH99S6S/prls/contentlicenseservice/v1/licenses"
	vec := unb64(t, tv10Box)
	boxes, err := signaling.ParsePSSH(vec)
	if err != nil {
		t.Fatal(err)
	}
	if again, err := signaling.MarshalPSSH(boxes); err != nil || !bytes.Equal(again, vec) {
		t.Errorf("pssh round trip: %v", err)
	}
	x := proXML(t, boxes[0].Data)
	h, err := signaling.ParseWRMHeader(x)
	if err != nil {
		t.Fatal(err)
	}
	k := kid(t, "5b4640d2-2e99-4a31-bc34-e35cfd70dc58")
	want := signaling.WRMHeader{Version: "4.0.0.0", KIDs: []signaling.WRMHeaderKID{{KID: k, AlgID: "AESCTR", Checksum: "7MvnnnUtai8="}},
		LAURL: laURL, ContentID: "5712"}
	if diff := cmp.Diff(want, h); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
	// Our header for the same inputs has Nagra's element order; only the
	// checksum (key unknown) and our LUI_URL differ.
	p := signaling.Params{KID: k, Scheme: drm.SchemeCENC, PlayReadyLAURL: laURL, ContentID: "5712"}
	ours, err := signaling.NewWRMHeader(&p)
	if err != nil {
		t.Fatal(err)
	}
	ours = strings.Replace(ours, "<LUI_URL>"+laURL+"</LUI_URL>", "", 1)
	i, j := strings.Index(ours, "<CHECKSUM>"), strings.Index(ours, "</CHECKSUM>")
	ours = ours[:i] + "<CHECKSUM>7MvnnnUtai8=" + ours[j:]
	if ours != x {
		t.Errorf("XML\n got %s\nwant %s", ours, x)
	}
}

// TV-9: pssh-box-rs tests/parsing.rs (test_parsing_nagra).
func TestNagra_TV9(t *testing.T) {
	for _, tc := range []struct {
		box, contentID, kid string
		exact               bool // our padded encoder reproduces the box
	}{
		{"AAAAfHBzc2gAAAAArbQcJC2/Sm2Vi0RXwNJ7lQAAAFxleUpqYjI1MFpXNTBTV1FpT2lKdVpYY3hNRFlpTENKclpYbEpaQ0k2SWpFeE1UQXdNVEV4TFRJeU1qSXRNek16TXkwME5EUTBMVEF3TURBd01EQXdNREF3TmlKOQ==", "new106", "11100111-2222-3333-4444-000000000006", true},
		{"AAAAjHBzc2gAAAAArbQcJC2/Sm2Vi0RXwNJ7lQAAAGxleUpqYjI1MFpXNTBTV1FpT2lJeE56RXhNVEU1TmpNM1h6RTJOREl3SWl3aWEyVjVTV1FpT2lJd05qSXlNamt5WkMxaVltTXhMVFF6WVRRdE9XVmxOQzFpTmpJNFl6ZzJZVFprTm1VaWZRPT0=", "1711119637_16420", "0622292d-bbc1-43a4-9ee4-b628c86a6d6e", true},
		{"AAAAinBzc2gAAAAArbQcJC2/Sm2Vi0RXwNJ7lQAAAGpleUpqYjI1MFpXNTBTV1FpT2lKSGIyNWxJR2x1SUhSb1pTQjNhVzVrSWl3aWEyVjVTV1FpT2lJNU1XRXhaVFEwTnkwMk9EUmlMVFJoWTJVdFlqWmpaUzAwTURFeE5qQm1NRGRtTURFaWZR", "Gone in the wind", "91a1e447-684b-4ace-b6ce-401160f07f01", false},
	} {
		vec := unb64(t, tc.box)
		k := kid(t, tc.kid)
		d, err := signaling.ParseNagraPSSHData(boxData(t, tc.box))
		if err != nil || d.ContentID != tc.contentID || d.KeyID != k {
			t.Errorf("ParseNagraPSSHData = %+v, %v", d, err)
		}
		got, err := signaling.NewPSSH(drm.NagraPRM, signaling.Params{KID: k, ContentID: tc.contentID, Scheme: drm.SchemeCBCS})
		if err != nil {
			t.Fatal(err)
		}
		if tc.exact && !bytes.Equal(got, vec) {
			t.Errorf("box\n got %s\nwant %s", base64.StdEncoding.EncodeToString(got), tc.box)
		}
		if !tc.exact && !bytes.Equal(bytes.TrimRight(got[32:], "="), vec[32:]) {
			t.Errorf("data differs beyond padding: %s", got[32:])
		}
	}
}

// TV-2 (Common v1) and TV-12 (FairPlay empty v0 boxes): ParsePSSH round trip.
func TestParsePSSH_Vectors(t *testing.T) {
	for _, tc := range []struct {
		hex, sys string
		version  uint8
		kids     int
	}{
		{"0000004470737368010000001077efecc0b24d02ace33c1e52e2fb4b000000026b65796964317e7e7e7e7e7e7e7e7e7e6b65796964327e7e7e7e7e7e7e7e7e7e00000000", "1077efec-c0b2-4d02-ace3-3c1e52e2fb4b", 1, 2},
		{"00000020707373680000000029701fe43cc74a348c5bae90c7439a4700000000", "29701fe4-3cc7-4a34-8c5b-ae90c7439a47", 0, 0},
		{"00000020707373680000000094ce86fb07ff4f43adb893d2fa968ca200000000", drm.SystemIDFairPlay, 0, 0},
		{"0000003870737368010000009A04F07998404286AB92E65BE0885F950000000111223344556677889900AABBCCDDEEFF0000000430313233", drm.SystemIDPlayReady, 1, 1},
	} {
		b := unhex(t, tc.hex)
		boxes, err := signaling.ParsePSSH(b)
		if err != nil || len(boxes) != 1 || boxes[0].SystemID != tc.sys || boxes[0].Version != tc.version || len(boxes[0].KIDs) != tc.kids {
			t.Errorf("ParsePSSH(%s) = %+v, %v", tc.hex, boxes, err)
			continue
		}
		if again, err := signaling.MarshalPSSH(boxes); err != nil || !bytes.Equal(again, b) {
			t.Errorf("round trip %x, %v", again, err)
		}
	}
	// Concatenation of two boxes.
	two := append(unhex(t, "00000020707373680000000094ce86fb07ff4f43adb893d2fa968ca200000000"), unb64(t, tv10Box)...)
	if boxes, err := signaling.ParsePSSH(two); err != nil || len(boxes) != 2 {
		t.Errorf("two boxes: %d, %v", len(boxes), err)
	}
}
