package signaling_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/Eyevinn/hls-m3u8/m3u8"
	"github.com/Eyevinn/mp4ff/mp4"

	"github.com/keyserver/keyserver/drm"
	"github.com/keyserver/keyserver/signaling"
)

var hostileIDs = []string{
	"channel-7",
	`a"b'c<d>e&f]]>g`,
	"line1\nline2\r\nline3\ttab",
	"ünïcödé 日本語 🎬 \u2028\u2029",
	"</ContentProtection><x>&amp;",
	strings.Repeat("&", 256),
	strings.Repeat("é", 128),
	"",
}

func testParams(contentID string, scheme drm.Scheme) signaling.Params {
	return signaling.Params{
		KID:            drm.KeyID{0x0a, 0x1b, 0x2c, 0x3d, 0x4e, 0x5f, 0x40, 0x71, 0x82, 0x93, 0xa4, 0xb5, 0xc6, 0xd7, 0xe8, 0xf9},
		Key:            drm.Key{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16},
		IV:             drm.IV{0xfb, 0xff, 0xfe, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
		ContentID:      contentID,
		Scheme:         scheme,
		PlayReadyLAURL: `https://nag0000.anycast.nagra.com/NAG0000/prls/contentlicenseservice/v1/licenses?a=1&b="2"<3>`,
	}
}

var schemes = []drm.Scheme{drm.SchemeCBCS, drm.SchemeCENC}

// payloadKID extracts the key id with our payload parsers.
func payloadKID(t *testing.T, sys drm.System, data []byte, contentID string) drm.KeyID {
	t.Helper()
	switch sys {
	case drm.Widevine:
		d, err := signaling.ParseWidevinePSSHData(data)
		if err != nil || len(d.KIDs()) != 1 || string(d.ContentID) != contentID {
			t.Fatalf("Widevine data %+v, %v", d, err)
		}
		if again, _ := d.MarshalBinary(); !bytes.Equal(again, data) {
			t.Errorf("Widevine round trip")
		}
		return d.KIDs()[0]
	case drm.PlayReady:
		o, err := signaling.ParsePlayReadyObject(data)
		if err != nil {
			t.Fatal(err)
		}
		if again, _ := o.MarshalBinary(); !bytes.Equal(again, data) {
			t.Errorf("PRO round trip")
		}
		x, err := o.WRMHeader()
		if err != nil {
			t.Fatal(err)
		}
		h, err := signaling.ParseWRMHeader(x)
		if err != nil || len(h.KIDs) != 1 || h.ContentID != contentID {
			t.Fatalf("WRMHEADER %s: %+v, %v", x, h, err)
		}
		if again, _ := signaling.NewPlayReadyObject(x); !bytes.Equal(again, data) {
			t.Errorf("NewPlayReadyObject round trip")
		}
		return h.KIDs[0].KID
	case drm.NagraPRM:
		d, err := signaling.ParseNagraPSSHData(data)
		if err != nil || d.ContentID != contentID {
			t.Fatalf("Nagra data %+v, %v", d, err)
		}
		if again, _ := d.MarshalBinary(); !bytes.Equal(again, data) {
			t.Errorf("Nagra round trip")
		}
		return d.KeyID
	}
	t.Fatalf("no payload parser for %v", sys)
	return drm.KeyID{}
}

func TestNewPSSH_AllSystems(t *testing.T) {
	for _, sys := range []drm.System{drm.Widevine, drm.PlayReady, drm.NagraPRM} {
		for _, sc := range schemes {
			for _, id := range hostileIDs {
				p := testParams(id, sc)
				box, err := signaling.NewPSSH(sys, p)
				if err != nil {
					t.Fatalf("%v %v %q: %v", sys, sc, id, err)
				}
				boxes, err := mp4.PsshBoxesFromBytes(box)
				if err != nil || len(boxes) != 1 || boxes[0].Version != 0 || boxes[0].SystemID.String() != sys.SystemID() || boxes[0].Size() != uint64(len(box)) {
					t.Fatalf("%v: mp4ff: %v", sys, err)
				}
				parsed, err := signaling.ParsePSSH(box)
				if err != nil || len(parsed) != 1 {
					t.Fatal(err)
				}
				if again, _ := parsed[0].MarshalBinary(); !bytes.Equal(again, box) {
					t.Errorf("%v: pssh round trip", sys)
				}
				if got := payloadKID(t, sys, boxes[0].Data, id); got != p.KID {
					t.Errorf("%v: payload KID %v, want %v", sys, got, p.KID)
				}
			}
		}
	}
}

func TestUnsupported(t *testing.T) {
	p := testParams("x", drm.SchemeCBCS)
	if _, err := signaling.NewPSSH(drm.FairPlay, p); !errors.Is(err, signaling.ErrUnsupportedSystem) {
		t.Errorf("FairPlay pssh: %v", err)
	}
	if _, err := signaling.NewDASH(drm.FairPlay, p); !errors.Is(err, signaling.ErrUnsupportedSystem) {
		t.Errorf("FairPlay DASH: %v", err)
	}
	if _, err := signaling.NewHLS(drm.System(98), p); !errors.Is(err, signaling.ErrUnsupportedSystem) {
		t.Errorf("PlayReady HLS: %v", err)
	}
	if _, err := signaling.NewHLS(drm.System(99), p); !errors.Is(err, signaling.ErrUnsupportedSystem) {
		t.Errorf("unknown HLS: %v", err)
	}
	p.Scheme = 0
	if _, err := signaling.NewPSSH(drm.Widevine, p); !errors.Is(err, signaling.ErrUnsupportedScheme) {
		t.Errorf("scheme 0: %v", err)
	}
	p.Scheme = drm.SchemeCENC
	if _, err := signaling.NewHLS(drm.FairPlay, p); !errors.Is(err, signaling.ErrUnsupportedScheme) {
		t.Errorf("FairPlay cenc: %v", err)
	}
}

func TestInvalidContentID(t *testing.T) {
	for _, id := range []string{"a\x00b", "bell\x07", "\xff\xfe", "x\uffff"} {
		p := testParams(id, drm.SchemeCBCS)
		if _, err := signaling.NewPSSH(drm.PlayReady, p); !errors.Is(err, signaling.ErrInvalidContentID) {
			t.Errorf("PlayReady %q: %v", id, err)
		}
		// Only XML is limited; JSON and protobuf carry controls, not bad UTF-8.
		_, err := signaling.NewHLS(drm.FairPlay, p)
		if bad := !strings.HasPrefix(id, "\xff"); bad == (err != nil) {
			t.Errorf("FairPlay %q: %v", id, err)
		}
	}
	p := testParams("ok", drm.SchemeCBCS)
	p.PlayReadyLAURL = "https://x/\x01"
	if _, err := signaling.NewDASH(drm.PlayReady, p); !errors.Is(err, signaling.ErrInvalidLAURL) {
		t.Errorf("LA URL: %v", err)
	}
}

// checkContentProtection parses the element with encoding/xml and checks
// that names resolve to the right namespaces.
func checkContentProtection(t *testing.T, sys drm.System, d signaling.DASH, kid drm.KeyID) {
	t.Helper()
	dec := xml.NewDecoder(strings.NewReader(d.ContentProtection))
	var root, psshNS, proNS, kidNS, kidVal, pssh string
	var cur string
	depth := 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("%v: XML: %v\n%s", sys, err, d.ContentProtection)
		}
		switch tt := tok.(type) {
		case xml.StartElement:
			depth++
			cur = tt.Name.Local
			if depth == 1 {
				root = tt.Name.Space + " " + tt.Name.Local
				for _, a := range tt.Attr {
					if a.Name.Local == "default_KID" {
						kidNS, kidVal = a.Name.Space, a.Value
					}
				}
			}
			switch tt.Name.Local {
			case "pssh":
				psshNS = tt.Name.Space
			case "pro":
				proNS = tt.Name.Space
			}
		case xml.CharData:
			if cur == "pssh" {
				pssh += string(tt)
			}
		case xml.EndElement:
			depth--
			cur = ""
		}
	}
	if root != "urn:mpeg:dash:schema:mpd:2011 ContentProtection" || kidNS != "urn:mpeg:cenc:2013" || kidVal != kid.String() || psshNS != "urn:mpeg:cenc:2013" {
		t.Errorf("%v: root %q default_KID %q=%q pssh ns %q", sys, root, kidNS, kidVal, psshNS)
	}
	if (sys == drm.PlayReady) != (proNS == "urn:microsoft:playready") {
		t.Errorf("%v: mspr:pro namespace %q", sys, proNS)
	}
	if pssh != base64.StdEncoding.EncodeToString(d.PSSH) {
		t.Errorf("%v: cenc:pssh is not the box", sys)
	}

	// Pasted into a minimal MPD (which binds the DASH namespace to a prefix,
	// the hard case), it is still a DASH ContentProtection with its children.
	// dash-mpd is not used: its go-deepcopy dependency is missing from go.sum.
	doc := `<?xml version="1.0" encoding="UTF-8"?><dash:MPD xmlns:dash="urn:mpeg:dash:schema:mpd:2011" type="static"><dash:Period><dash:AdaptationSet>` +
		d.ContentProtection + `</dash:AdaptationSet></dash:Period></dash:MPD>`
	var m struct {
		XMLName xml.Name `xml:"urn:mpeg:dash:schema:mpd:2011 MPD"`
		CP      []struct {
			Scheme     string `xml:"schemeIdUri,attr"`
			Value      string `xml:"value,attr"`
			DefaultKID string `xml:"urn:mpeg:cenc:2013 default_KID,attr"`
			PSSH       string `xml:"urn:mpeg:cenc:2013 pssh"`
			PRO        string `xml:"urn:microsoft:playready pro"`
		} `xml:"urn:mpeg:dash:schema:mpd:2011 Period>AdaptationSet>ContentProtection"`
	}
	if err := xml.Unmarshal([]byte(doc), &m); err != nil || len(m.CP) != 1 {
		t.Fatalf("%v: MPD: %v, %d", sys, err, len(m.CP))
	}
	cp := m.CP[0]
	if cp.Scheme != "urn:uuid:"+sys.SystemID() || cp.DefaultKID != kid.String() || cp.PSSH != pssh || (sys == drm.PlayReady) != (cp.PRO != "") {
		t.Errorf("%v: in MPD %+v", sys, cp)
	}
	if sys == drm.PlayReady && cp.Value != "MSPR 2.0" || sys == drm.NagraPRM && cp.Value != "Nagra" || sys == drm.Widevine && cp.Value != "" {
		t.Errorf("%v: value %q", sys, cp.Value)
	}
}

func TestNewDASH(t *testing.T) {
	names := map[drm.System]string{drm.Widevine: "WideVine", drm.PlayReady: "PLAYREADY", drm.NagraPRM: "PRM"}
	for sys, name := range names {
		for _, sc := range schemes {
			for _, id := range hostileIDs {
				p := testParams(id, sc)
				d, err := signaling.NewDASH(sys, p)
				if err != nil {
					t.Fatalf("%v %q: %v", sys, id, err)
				}
				if d.Name != name || d.SystemID != sys.SystemID() {
					t.Errorf("%v: name %q id %q", sys, d.Name, d.SystemID)
				}
				box, _ := signaling.NewPSSH(sys, p)
				if !bytes.Equal(box, d.PSSH) {
					t.Errorf("%v: DASH.PSSH differs from NewPSSH", sys)
				}
				checkContentProtection(t, sys, d, p.KID)
			}
		}
	}
}

func TestNewHLS(t *testing.T) {
	for _, sys := range []drm.System{drm.Widevine, drm.FairPlay, drm.NagraPRM} {
		for _, sc := range schemes {
			if sys == drm.FairPlay && sc == drm.SchemeCENC {
				continue
			}
			for _, id := range hostileIDs {
				p := testParams(id, sc)
				h, err := signaling.NewHLS(sys, p)
				if err != nil {
					t.Fatalf("%v %q: %v", sys, id, err)
				}
				wantMethod := map[drm.Scheme]string{drm.SchemeCBCS: "SAMPLE-AES", drm.SchemeCENC: "SAMPLE-AES-CTR"}[sc]
				if strings.ContainsAny(h.Line, "\r\n") || h.Method != wantMethod || h.KeyFormatVersions != "1" {
					t.Errorf("%v: %+v", sys, h)
				}
				pl := "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-TARGETDURATION:4\n#EXT-X-MEDIA-SEQUENCE:0\n" +
					h.Line + "\n#EXTINF:4.000,\nseg0.m4s\n#EXT-X-ENDLIST\n"
				list, typ, err := m3u8.DecodeFrom(strings.NewReader(pl), true)
				if err != nil || typ != m3u8.MEDIA {
					t.Fatalf("%v: hls-m3u8: %v", sys, err)
				}
				keys := list.(*m3u8.MediaPlaylist).Keys
				if len(keys) != 1 {
					t.Fatalf("%v: %d keys", sys, len(keys))
				}
				k := keys[0]
				if k.Method != h.Method || k.URI != h.URI || k.Keyformat != h.KeyFormat || k.Keyformatversions != "1" {
					t.Errorf("%v: parsed %+v, want %+v", sys, k, h)
				}
				checkHLSURI(t, sys, h, p)
			}
		}
	}
}

// checkHLSURI decodes the URI and checks what it carries.
func checkHLSURI(t *testing.T, sys drm.System, h signaling.HLS, p signaling.Params) {
	t.Helper()
	switch sys {
	case drm.Widevine:
		box, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(h.URI, "data:text/plain;base64,"))
		want, _ := signaling.NewPSSH(sys, p)
		if err != nil || !bytes.Equal(box, want) || h.KeyFormat != "urn:uuid:edef8ba9-79d6-4ace-a3c8-27dcd51d21ed" ||
			!strings.Contains(h.Line, ",KEYID=0x"+p.KID.Hex()+",") || h.Name != "WideVine" {
			t.Errorf("Widevine HLS %+v", h)
		}
	case drm.FairPlay:
		raw, err := base64.URLEncoding.DecodeString(strings.TrimPrefix(h.URI, "skd://"))
		var v struct{ ContentId, KeyId, IV string }
		if err != nil || json.Unmarshal(raw, &v) != nil || v.ContentId != p.ContentID || v.KeyId != p.KID.String() ||
			v.IV != base64.StdEncoding.EncodeToString(p.IV[:]) || h.KeyFormat != "com.apple.streamingkeydelivery" || h.Name != "FairPlay" {
			t.Errorf("FairPlay URI %s → %s %+v %v", h.URI, raw, v, err)
		}
		if !bytes.HasPrefix(raw, []byte(`{"ContentId":`)) || !bytes.Contains(raw, []byte(`,"KeyId":"`+p.KID.String()+`","IV":"`)) {
			t.Errorf("FairPlay JSON key order: %s", raw)
		}
	case drm.NagraPRM:
		raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(h.URI, "data:text/plain;base64,"))
		if err != nil || h.KeyFormat != "PRMNAGRA" || h.Name != "PRM" {
			t.Fatalf("PRM URI %s: %v", h.URI, err)
		}
		d, err := signaling.ParseNagraPSSHData(raw)
		if err != nil || d.ContentID != p.ContentID || d.KeyID != p.KID {
			t.Errorf("PRM URI JSON %s: %+v %v", raw, d, err)
		}
	}
}

func TestWidevineCryptoPeriodIndex(t *testing.T) {
	idx := uint32(300)
	data, err := signaling.NewWidevinePSSHData([]drm.KeyID{{1}, {2}}, []byte("c"), drm.SchemeCENC, &idx)
	if err != nil {
		t.Fatal(err)
	}
	d := roundTripWidevine(t, data)
	if d.CryptoPeriodIndex == nil || *d.CryptoPeriodIndex != 300 || len(d.KIDs()) != 2 {
		t.Errorf("%+v", d)
	}
	// Field 7 (38 ac 02) sits between content_id and protection_scheme.
	if !bytes.Contains(data, []byte{0x22, 0x01, 'c', 0x38, 0xac, 0x02, 0x48}) {
		t.Errorf("field order %x", data)
	}
	p := testParams("c", drm.SchemeCENC)
	p.CryptoPeriodIndex = &idx
	box, _ := signaling.NewPSSH(drm.Widevine, p)
	if !bytes.Contains(box, []byte{0x38, 0xac, 0x02}) {
		t.Errorf("Params.CryptoPeriodIndex ignored")
	}
}

func TestParsers_Reject(t *testing.T) {
	for _, b := range [][]byte{nil, {0, 0, 0, 8, 'p', 's', 's', 'h'}, bytes.Repeat([]byte{0xff}, 40),
		append([]byte{0, 0, 0, 32, 'm', 'o', 'o', 'v'}, make([]byte, 24)...),
		append([]byte{0, 0, 0, 32, 'p', 's', 's', 'h', 1}, make([]byte, 23)...),
		append([]byte{0, 0, 0, 32, 'p', 's', 's', 'h', 0}, append(make([]byte, 19), 0, 0, 0, 1)...)} {
		var pe *signaling.ParseError
		if _, err := signaling.ParsePSSH(b); !errors.As(err, &pe) {
			t.Errorf("ParsePSSH(%x) = %v", b, err)
		}
	}
	for _, b := range [][]byte{{0x12, 0x10, 1}, {0x08}, {0x0b}, {0x12, 0x00, 0x10}, {0x48, 0x80, 0x80, 0x80, 0x80, 0x10}} {
		if _, err := signaling.ParseWidevinePSSHData(b); err == nil {
			t.Errorf("ParseWidevinePSSHData(%x) accepted", b)
		}
	}
	for _, b := range [][]byte{{6, 0, 0, 0, 0}, {10, 0, 0, 0, 1, 0, 1, 0, 9, 0}, {7, 0, 0, 0, 0, 0, 0}} {
		if _, err := signaling.ParsePlayReadyObject(b); err == nil {
			t.Errorf("ParsePlayReadyObject(%x) accepted", b)
		}
	}
	for _, s := range []string{"", "e30=", "eyJjb250ZW50SWQiOjF9", `{"contentId":"a","keyId":"nope"}`} {
		if _, err := signaling.ParseNagraPSSHData([]byte(s)); err == nil {
			t.Errorf("ParseNagraPSSHData(%q) accepted", s)
		}
	}
	for _, s := range []string{"", "<WRMHEADER/>", `<WRMHEADER xmlns="http://schemas.microsoft.com/DRM/2007/03/PlayReadyHeader" version="4.0.0.0"><DATA><KID>AAAA</KID></DATA></WRMHEADER>`} {
		if _, err := signaling.ParseWRMHeader(s); err == nil {
			t.Errorf("ParseWRMHeader(%q) accepted", s)
		}
	}
}

// TestPlayReadyHLS: the tag of signaling-formats.md §4.7: the URI is the
// PlayReady Object alone (the pssh box's Data), UTF-16 hinted; METHOD per
// scheme; the session-key twin has the same attributes.
func TestPlayReadyHLS(t *testing.T) {
	for _, sc := range []drm.Scheme{drm.SchemeCBCS, drm.SchemeCENC} {
		p := testParams("content-7", sc)
		h, err := signaling.NewHLS(drm.PlayReady, p)
		if err != nil {
			t.Fatal(err)
		}
		box, err := signaling.NewPSSH(drm.PlayReady, p)
		if err != nil {
			t.Fatal(err)
		}
		boxes, err := signaling.ParsePSSH(box)
		if err != nil {
			t.Fatal(err)
		}
		method := map[drm.Scheme]string{drm.SchemeCBCS: "SAMPLE-AES", drm.SchemeCENC: "SAMPLE-AES-CTR"}[sc]
		want := `#EXT-X-KEY:METHOD=` + method + `,URI="data:text/plain;charset=UTF-16;base64,` +
			base64.StdEncoding.EncodeToString(boxes[0].Data) + `",KEYFORMATVERSIONS="1",KEYFORMAT="com.microsoft.playready"`
		if h.Line != want {
			t.Errorf("%v:\n got %s\nwant %s", sc, h.Line, want)
		}
		if got := signaling.SessionKey(h.Line); got != "#EXT-X-SESSION-KEY:"+strings.TrimPrefix(want, "#EXT-X-KEY:") {
			t.Errorf("session key %s", got)
		}
	}
	if signaling.SessionKey("#EXT-X-MAP:URI=\"x\"") != "" {
		t.Error("SessionKey of another tag")
	}
}
