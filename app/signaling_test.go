package app_test

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"io"
	"strings"
	"testing"

	m3u8 "github.com/Eyevinn/hls-m3u8/m3u8"
	"github.com/Eyevinn/mp4ff/mp4"

	"github.com/keyserver/keyserver/drm"
	keyserverv1 "github.com/keyserver/keyserver/gen/keyserver/v1"
	"github.com/keyserver/keyserver/signaling"
)

// TestSignaling_ParsesBack checks every entry the API returns with
// independent parsers: mp4ff for pssh boxes, encoding/xml with namespaces
// for manifestHeader, hls-m3u8 for the EXT-X-KEY line.
func TestSignaling_ParsesBack(t *testing.T) {
	env, _ := start(t)
	for _, tr := range transports {
		for _, id := range []string{"plain-id", `hostile <"&'> ]]> id`, "ünïcödé-☃"} {
			t.Run(tr.name+"/"+id, func(t *testing.T) {
				resp := mustOK(t, tr.call(t, env, "NAG0000", newReq(id, keyserverv1.DistributionMode_VOD, 0)))
				kid, err := drm.ParseKeyID(resp.GetContentKey().GetKeyId())
				if err != nil {
					t.Fatal(err)
				}
				if len(resp.GetDrmSignalization()) != 6 {
					t.Fatalf("%d entries", len(resp.GetDrmSignalization()))
				}
				for _, s := range resp.GetDrmSignalization() {
					if d := s.GetDash(); d != nil {
						checkPSSH(t, d.GetDrmSystemId(), d.GetPsshBox(), kid, id)
						checkContentProtection(t, d, kid)
					}
					if h := s.GetHls(); h != nil {
						checkHLS(t, h)
					}
				}
			})
		}
	}
}

func checkPSSH(t *testing.T, systemID, b64 string, kid drm.KeyID, contentID string) {
	t.Helper()
	boxes, err := mp4.PsshBoxesFromBase64(b64)
	if err != nil || len(boxes) != 1 {
		t.Fatalf("%s: pssh does not parse with mp4ff: %v", systemID, err)
	}
	box := boxes[0]
	if box.SystemID.String() != systemID || box.Version != 0 {
		t.Fatalf("pssh system %s version %d, want %s v0", box.SystemID, box.Version, systemID)
	}
	switch systemID {
	case drm.SystemIDWidevine:
		wv, err := signaling.ParseWidevinePSSHData(box.Data)
		if err != nil || len(wv.KeyIDs) != 1 || !bytes.Equal(wv.KeyIDs[0], kid[:]) || string(wv.ContentID) != contentID {
			t.Errorf("Widevine payload: %v kids=%x content=%q", err, wv.KeyIDs, wv.ContentID)
		}
		if wv.ProtectionScheme == nil || *wv.ProtectionScheme != 0x63626373 {
			t.Error("Widevine payload lacks protection_scheme cbcs")
		}
	case drm.SystemIDPlayReady:
		pro, err := signaling.ParsePlayReadyObject(box.Data)
		if err != nil || len(pro.Records) != 1 {
			t.Fatalf("PlayReady object: %v", err)
		}
		h, err := signaling.ParseWRMHeader(utf16le(pro.Records[0].Value))
		if err != nil || len(h.KIDs) != 1 || h.KIDs[0].KID != kid || h.KIDs[0].AlgID != "AESCBC" || h.Version != "4.3.0.0" {
			t.Errorf("WRMHEADER: %v %+v", err, h)
		}
		if h.ContentID != contentID || !strings.HasSuffix(h.LAURL, "/prls/contentlicenseservice/v1/licenses") ||
			!strings.HasPrefix(h.LAURL, "https://nag0000.anycast.nagra.com/NAG0000/") || h.LUIURL != h.LAURL {
			t.Errorf("WRMHEADER content id %q LA_URL %q LUI_URL %q", h.ContentID, h.LAURL, h.LUIURL)
		}
	case drm.SystemIDNagraPRM:
		prm, err := signaling.ParseNagraPSSHData(box.Data)
		if err != nil || prm.KeyID != kid || prm.ContentID != contentID {
			t.Errorf("PRM payload: %v %+v", err, prm)
		}
	default:
		t.Errorf("unexpected pssh system %s", systemID)
	}
}

func utf16le(b []byte) string {
	r := make([]rune, 0, len(b)/2)
	for i := 0; i+1 < len(b); i += 2 {
		r = append(r, rune(uint16(b[i])|uint16(b[i+1])<<8))
	}
	return string(r)
}

// checkContentProtection parses the element alone: every prefix must be
// declared on it, cenc:default_KID must be our key id and cenc:pssh our box.
func checkContentProtection(t *testing.T, d *keyserverv1.DashSignalization, kid drm.KeyID) {
	t.Helper()
	dec := xml.NewDecoder(strings.NewReader(d.GetManifestHeader()))
	dec.Strict = true
	var root xml.StartElement
	var pssh, pro string
	var cur xml.Name
	depth := 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("%s manifestHeader is not XML: %v\n%s", d.GetDrmName(), err, d.GetManifestHeader())
		}
		switch e := tok.(type) {
		case xml.StartElement:
			if depth == 0 {
				root = e
			}
			cur = e.Name
			depth++
			for _, a := range e.Attr {
				if a.Name.Space != "" && a.Name.Space != "xmlns" && !strings.Contains(a.Name.Space, ":") {
					t.Errorf("undeclared attribute prefix %q", a.Name.Space)
				}
			}
			if e.Name.Space == "" || !strings.Contains(e.Name.Space, ":") {
				if depth > 1 {
					t.Errorf("element %s has no resolved namespace", e.Name.Local)
				}
			}
		case xml.CharData:
			switch cur {
			case xml.Name{Space: "urn:mpeg:cenc:2013", Local: "pssh"}:
				pssh += string(e)
			case xml.Name{Space: "urn:microsoft:playready", Local: "pro"}:
				pro += string(e)
			}
		case xml.EndElement:
			depth--
			cur = xml.Name{}
		}
	}
	if root.Name.Local != "ContentProtection" {
		t.Fatalf("root element %v", root.Name)
	}
	var defaultKID, scheme string
	for _, a := range root.Attr {
		switch {
		case a.Name == xml.Name{Space: "urn:mpeg:cenc:2013", Local: "default_KID"}:
			defaultKID = a.Value
		case a.Name.Local == "schemeIdUri" && a.Name.Space == "":
			scheme = a.Value
		}
	}
	if defaultKID != kid.String() {
		t.Errorf("%s cenc:default_KID %q, want %s", d.GetDrmName(), defaultKID, kid)
	}
	if scheme != "urn:uuid:"+d.GetDrmSystemId() {
		t.Errorf("schemeIdUri %q", scheme)
	}
	if pssh != d.GetPsshBox() {
		t.Errorf("%s cenc:pssh differs from psshBox", d.GetDrmName())
	}
	if d.GetDrmSystemId() == drm.SystemIDPlayReady {
		box, _ := base64.StdEncoding.DecodeString(d.GetPsshBox())
		if want := base64.StdEncoding.EncodeToString(box[32:]); pro != want {
			t.Error("mspr:pro is not the PlayReady object of the pssh")
		}
	}
}

// checkHLS parses the EXT-X-KEY line in a playlist with hls-m3u8.
func checkHLS(t *testing.T, h *keyserverv1.HlsSignalization) {
	t.Helper()
	pl := "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-TARGETDURATION:4\n#EXT-X-MAP:URI=\"init.mp4\"\n" + h.GetExtXKey() + "\n#EXTINF:4.0,\nseg1.m4s\n#EXT-X-ENDLIST\n"
	p, typ, err := m3u8.DecodeFrom(strings.NewReader(pl), true)
	if err != nil || typ != m3u8.MEDIA {
		t.Fatalf("%s: EXT-X-KEY line does not parse: %v\n%s", h.GetDrmName(), err, h.GetExtXKey())
	}
	mp := p.(*m3u8.MediaPlaylist)
	if len(mp.Segments) == 0 || mp.Segments[0] == nil || len(mp.Segments[0].Keys) != 1 {
		t.Fatalf("%s: no key parsed from %s", h.GetDrmName(), h.GetExtXKey())
	}
	k := mp.Segments[0].Keys[0]
	if k.Method != h.GetMethod() || k.URI != h.GetKeyUri() || k.Keyformat != h.GetKeyFormat() || k.Keyformatversions != h.GetKeyFormatVersions() {
		t.Errorf("%s: parsed %+v, response says method=%s uri=%s format=%s versions=%s", h.GetDrmName(), k, h.GetMethod(), h.GetKeyUri(), h.GetKeyFormat(), h.GetKeyFormatVersions())
	}
	if h.GetMethod() != "SAMPLE-AES" || h.GetKeyFormatVersions() != "1" {
		t.Errorf("%s: method %s versions %s", h.GetDrmName(), h.GetMethod(), h.GetKeyFormatVersions())
	}
	want := map[string]string{drm.SystemIDFairPlay: "com.apple.streamingkeydelivery", drm.SystemIDWidevine: "urn:uuid:" + drm.SystemIDWidevine, drm.SystemIDNagraPRM: "PRMNAGRA"}
	if h.GetKeyFormat() != want[h.GetDrmSystemId()] {
		t.Errorf("%s: KEYFORMAT %q", h.GetDrmName(), h.GetKeyFormat())
	}
}
