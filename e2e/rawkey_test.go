package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyserver/keyserver/app"

	"github.com/Eyevinn/mp4ff/mp4"

	"github.com/keyserver/keyserver/app/apptest"
	"github.com/keyserver/keyserver/drm"
	"github.com/keyserver/keyserver/signaling"
)

// buildKeyctl builds cmd/keyctl into a temp dir.
func buildKeyctl(t *testing.T) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "keyctl")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "../cmd/keyctl")
	cmd.Env = append(os.Environ(), "GOTOOLCHAIN=local")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build keyctl: %v\n%s", err, b)
	}
	return out
}

// restKey is the REST answer as the test reads it, independently of keyctl.
type restKey struct {
	Status     string `json:"status"`
	ContentKey struct {
		KeyID string `json:"keyId"`
		Key   string `json:"key"`
		IV    string `json:"iv"`
	} `json:"contentKey"`
	DrmSignalization []struct {
		Dash *struct {
			DrmSystemID string `json:"drmSystemId"`
			PsshBox     string `json:"psshBox"`
		} `json:"dash"`
		HLS *struct {
			DrmSystemID string `json:"drmSystemId"`
			KeyURI      string `json:"keyUri"`
		} `json:"hls"`
	} `json:"drmSignalization"`
}

// TestRawKey: keyctl prints shaka-packager's raw-key arguments straight from
// the REST API; shaka packages DASH and HLS with them; the init segments
// carry exactly our Widevine, PlayReady and PRM pssh boxes and our key id,
// and every segment decrypts with our key and IV to the clear samples.
func TestRawKey(t *testing.T) {
	bin := packager(t)
	keyctl := buildKeyctl(t)
	env := apptest.Start(t, app.Config{DefaultTenant: "E2E"})
	const contentID = "e2e-raw-movie"

	// keyctl against the default-tenant route.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	kc := exec.CommandContext(ctx, keyctl, "-server", env.HTTPURL, "-content", contentID, "-drm", "WV,PR,PRM,FPS")
	var stderr bytes.Buffer
	kc.Stderr = &stderr
	out, err := kc.Output()
	if err != nil {
		t.Fatalf("keyctl: %v\n%s", err, stderr.String())
	}
	args := strings.Fields(string(out))

	// The same content asked for independently over REST (tenant route):
	// a VOD key is durable, so this is the key keyctl printed.
	var rk restKey
	if code := postJSON(t, env.HTTP, env.HTTPURL+"/E2E/ckm/v1/keyAndSignalization", map[string]any{
		"drmContent": map[string]any{"drmContentId": contentID, "profile": map[string]any{"distributionMode": "VOD"}},
		"drmList":    []string{"WV", "PR", "PRM", "FPS"},
	}, &rk); code != 200 || rk.Status != "OK" {
		t.Fatalf("REST: HTTP %d status %q", code, rk.Status)
	}
	kid, err := drm.ParseKeyID(rk.ContentKey.KeyID)
	if err != nil {
		t.Fatal(err)
	}
	key := mustB64(t, rk.ContentKey.Key)
	iv := mustB64(t, rk.ContentKey.IV)
	// The pssh boxes the server signals for DASH, in its order, and the
	// FairPlay key URI.
	var wantBoxes [][]byte
	var systems []string
	skd := ""
	for _, s := range rk.DrmSignalization {
		if s.Dash != nil {
			wantBoxes = append(wantBoxes, mustB64(t, s.Dash.PsshBox))
			systems = append(systems, s.Dash.DrmSystemID)
		}
		if s.HLS != nil && s.HLS.DrmSystemID == drm.SystemIDFairPlay {
			skd = s.HLS.KeyURI
		}
	}
	// drmList order.
	wantSystems := []string{drm.SystemIDWidevine, drm.SystemIDPlayReady, drm.SystemIDNagraPRM}
	if strings.Join(systems, ",") != strings.Join(wantSystems, ",") {
		t.Fatalf("DASH systems %v, want %v", systems, wantSystems)
	}
	wantArgs := []string{
		"--enable_raw_key_encryption",
		"--protection_scheme=cbcs",
		"--keys=label=:key_id=" + hex.EncodeToString(kid[:]) + ":key=" + hex.EncodeToString(key) + ":iv=" + hex.EncodeToString(iv),
		"--pssh=" + hex.EncodeToString(bytes.Join(wantBoxes, nil)),
		"--protection_systems=FairPlay",
		"--hls_key_uri=" + skd,
	}
	if strings.Join(args, "\n") != strings.Join(wantArgs, "\n") {
		t.Fatalf("keyctl printed %d args that differ from the REST answer (values not shown: they hold the key)", len(args))
	}
	if !strings.HasPrefix(skd, "skd://") {
		t.Fatalf("FairPlay key URI %q is not skd://", skd)
	}

	clearDir := clearPackaging(t, bin)
	dir := t.TempDir()
	clip, _ := filepath.Abs(clipPath)
	pargs := append(streams(clip, "", ""), args...)
	pargs = append(pargs, "--clear_lead", "0", "--segment_duration", "1",
		"--mpd_output", "out.mpd", "--hls_master_playlist_output", "master.m3u8")
	runPackager(t, bin, dir, true, pargs...)

	for _, sub := range []string{"v", "a"} {
		enc, clear := readTrack(t, dir, sub), readTrack(t, clearDir, sub)
		if st := schemeType(t, enc.init); st != "cbcs" {
			t.Fatalf("%s: scheme %q, want cbcs", sub, st)
		}
		te := tenc(t, enc.init)
		if !bytes.Equal(te.DefaultKID, kid[:]) {
			t.Fatalf("%s: tenc default KID %x, want our key id %s", sub, []byte(te.DefaultKID), kid)
		}
		if !bytes.Equal(te.DefaultConstantIV, iv) {
			t.Fatalf("%s: tenc constant IV differs from our IV (len %d)", sub, len(te.DefaultConstantIV))
		}
		got := initPSSH(t, enc.init)
		if len(got) != len(wantBoxes) {
			t.Fatalf("%s: init has %d pssh boxes, want our %d", sub, len(got), len(wantBoxes))
		}
		for i := range got {
			if !bytes.Equal(got[i], wantBoxes[i]) {
				t.Fatalf("%s: init pssh %d differs from ours", sub, i)
			}
		}
		// Our boxes parse as what they claim: Widevine names our key id.
		ps, err := signaling.ParsePSSH(bytes.Join(got, nil))
		if err != nil {
			t.Fatal(err)
		}
		wv, err := signaling.ParseWidevinePSSHData(ps[0].Data)
		if err != nil || len(wv.KIDs()) != 1 || wv.KIDs()[0] != kid {
			t.Fatalf("%s: Widevine pssh does not name our key id: %v", sub, err)
		}
		for i, seg := range enc.segs {
			if n := len(seg.Fragments); n == 0 {
				t.Fatalf("%s segment %d has no fragments", sub, i+1)
			}
		}
		decryptAndCompare(t, sub, enc, clear, func(int, *mp4.MediaSegment) []byte { return key })
	}

	// HLS: the media playlists signal our FairPlay key URI and our
	// Widevine box, both SAMPLE-AES.
	wvURI := "data:text/plain;base64," + base64.StdEncoding.EncodeToString(wantBoxes[0])
	for _, name := range []string{"stream_0.m3u8", "stream_1.m3u8"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{
			`#EXT-X-KEY:METHOD=SAMPLE-AES,URI="` + skd + `",KEYFORMATVERSIONS="1",KEYFORMAT="com.apple.streamingkeydelivery"`,
			`#EXT-X-KEY:METHOD=SAMPLE-AES,URI="` + wvURI + `",KEYID=0x` + kid.Hex(),
		} {
			if !strings.Contains(string(b), want) {
				t.Fatalf("%s lacks %q:\n%s", name, want, b)
			}
		}
	}
	// DASH: the MPD names our default KID.
	mpd, err := os.ReadFile(filepath.Join(dir, "out.mpd"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(mpd), `cenc:default_KID="`+kid.String()+`"`) {
		t.Fatalf("out.mpd lacks cenc:default_KID=%q", kid)
	}
}

func mustB64(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatalf("base64 %q: %v", s, err)
	}
	return b
}
