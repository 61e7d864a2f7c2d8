// Package e2e runs the real shaka-packager against an in-process key server
// (server/servertest: real bbolt file, real listeners on 127.0.0.1:0) and
// checks the packager's output with mp4ff: pssh boxes, tenc, and that every
// media segment decrypts with the key the server issued to exactly the
// samples of an unencrypted packaging of the same clip.
//
// The binary is found through KEYSERVER_SHAKA_PACKAGER, else at the path
// scripts/test installs it to. Without it the tests skip and say why, unless
// KEYSERVER_E2E_REQUIRED=1 (set by .ci/run) turns the skip into a failure.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/Eyevinn/mp4ff/mp4"
)

// defaultShakaPath is where scripts/test installs shaka-packager 3.4.2,
// relative to the repository root.
const defaultShakaPath = ".tools/shaka-packager-3.4.2/node_modules/shaka-packager/bin/packager-linux-x64"

// clipPath is the committed test clip (testdata/media/README.md).
var clipPath = filepath.Join("..", "testdata", "media", "clip.mp4")

// packager returns the shaka-packager binary or skips (fails under
// KEYSERVER_E2E_REQUIRED=1) with the reason.
func packager(t *testing.T) string {
	t.Helper()
	p := os.Getenv("KEYSERVER_SHAKA_PACKAGER")
	src := "KEYSERVER_SHAKA_PACKAGER"
	if p == "" {
		abs, err := filepath.Abs(filepath.Join("..", defaultShakaPath))
		if err != nil {
			t.Fatal(err)
		}
		p, src = abs, "the default path"
	}
	fi, err := os.Stat(p)
	if err == nil && (fi.IsDir() || fi.Mode()&0o111 == 0) {
		err = errors.New("not an executable file")
	}
	if err != nil {
		msg := fmt.Sprintf("shaka-packager 3.4.2 not usable at %s (%s): %v; ./scripts/test installs it from npm into .tools/, or set KEYSERVER_SHAKA_PACKAGER to the binary", p, src, err)
		if os.Getenv("KEYSERVER_E2E_REQUIRED") == "1" {
			t.Fatal(msg + " (KEYSERVER_E2E_REQUIRED=1: not skipping)")
		}
		t.Skip(msg)
	}
	return p
}

// runPackager runs shaka-packager in dir and returns its combined output.
// wantOK false expects a non-zero exit.
func runPackager(t *testing.T, bin, dir string, wantOK bool, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("shaka-packager timed out; output:\n%s", out)
	}
	if wantOK && err != nil {
		t.Fatalf("shaka-packager failed: %v; args %q; output:\n%s", err, redactArgs(args), out)
	}
	if !wantOK && err == nil {
		t.Fatalf("shaka-packager succeeded, want a failure; output:\n%s", out)
	}
	return string(out)
}

// redactArgs hides key material in failure messages.
func redactArgs(args []string) []string {
	out := slices.Clone(args)
	for i, a := range out {
		if strings.HasPrefix(a, "--keys") || strings.HasPrefix(a, "--aes_signing") {
			out[i] = strings.SplitN(a, "=", 2)[0] + "=REDACTED"
		}
	}
	return out
}

// streams returns the two stream descriptors of the clip with segment
// templates under dir-relative v/ and a/.
func streams(clip, drmLabelV, drmLabelA string) []string {
	v := "in=" + clip + ",stream=video,init_segment=v/init.mp4,segment_template=v/$Number$.m4s"
	a := "in=" + clip + ",stream=audio,init_segment=a/init.mp4,segment_template=a/$Number$.m4s"
	if drmLabelV != "" {
		v += ",drm_label=" + drmLabelV
	}
	if drmLabelA != "" {
		a += ",drm_label=" + drmLabelA
	}
	return []string{v, a}
}

// clearPackaging packages the clip without encryption into a temp dir and
// returns the directory.
func clearPackaging(t *testing.T, bin string) string {
	t.Helper()
	dir := t.TempDir()
	clip, err := filepath.Abs(clipPath)
	if err != nil {
		t.Fatal(err)
	}
	args := append(streams(clip, "", ""), "--segment_duration", "1", "--mpd_output", "clear.mpd")
	runPackager(t, bin, dir, true, args...)
	return dir
}

// track is one packaged track: its init segment and media segments in order.
type track struct {
	init *mp4.InitSegment
	segs []*mp4.MediaSegment
}

// readTrack reads <dir>/<sub>/init.mp4 and 1.m4s, 2.m4s, … until one is missing.
func readTrack(t *testing.T, dir, sub string) track {
	t.Helper()
	f := decodeFile(t, filepath.Join(dir, sub, "init.mp4"))
	if f.Init == nil {
		t.Fatalf("%s/%s/init.mp4 has no init segment", dir, sub)
	}
	tr := track{init: f.Init}
	for n := 1; ; n++ {
		p := filepath.Join(dir, sub, fmt.Sprintf("%d.m4s", n))
		if _, err := os.Stat(p); errors.Is(err, os.ErrNotExist) {
			break
		}
		sf := decodeFile(t, p)
		if len(sf.Segments) != 1 {
			t.Fatalf("%s: %d segments, want 1", p, len(sf.Segments))
		}
		tr.segs = append(tr.segs, sf.Segments[0])
	}
	if len(tr.segs) == 0 {
		t.Fatalf("%s/%s: no media segments", dir, sub)
	}
	return tr
}

func decodeFile(t *testing.T, path string) *mp4.File {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := mp4.DecodeFile(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("mp4ff: decode %s: %v", path, err)
	}
	return f
}

// samples returns the sample payloads of one media segment.
func samples(t *testing.T, seg *mp4.MediaSegment, trex *mp4.TrexBox) [][]byte {
	t.Helper()
	var out [][]byte
	for _, frag := range seg.Fragments {
		fs, err := frag.GetFullSamples(trex)
		if err != nil {
			t.Fatalf("mp4ff: samples: %v", err)
		}
		for _, s := range fs {
			out = append(out, slices.Clone(s.Data))
		}
	}
	return out
}

// tenc returns the track encryption box of an encrypted init segment.
func tenc(t *testing.T, init *mp4.InitSegment) *mp4.TencBox {
	t.Helper()
	for _, trak := range init.Moov.Traks {
		for _, c := range trak.Mdia.Minf.Stbl.Stsd.Children {
			var sinf *mp4.SinfBox
			switch se := c.(type) {
			case *mp4.VisualSampleEntryBox:
				sinf = se.Sinf
			case *mp4.AudioSampleEntryBox:
				sinf = se.Sinf
			}
			if sinf != nil && sinf.Schi != nil && sinf.Schi.Tenc != nil {
				return sinf.Schi.Tenc
			}
		}
	}
	t.Fatal("init segment has no tenc (not encrypted)")
	return nil
}

// schemeType returns the schm scheme of an encrypted init segment.
func schemeType(t *testing.T, init *mp4.InitSegment) string {
	t.Helper()
	for _, trak := range init.Moov.Traks {
		for _, c := range trak.Mdia.Minf.Stbl.Stsd.Children {
			switch se := c.(type) {
			case *mp4.VisualSampleEntryBox:
				if se.Sinf != nil {
					return se.Sinf.Schm.SchemeType
				}
			case *mp4.AudioSampleEntryBox:
				if se.Sinf != nil {
					return se.Sinf.Schm.SchemeType
				}
			}
		}
	}
	return ""
}

// initPSSH returns the encoded pssh boxes of the init segment's moov, in order.
func initPSSH(t *testing.T, init *mp4.InitSegment) [][]byte {
	t.Helper()
	var out [][]byte
	for _, p := range init.Moov.Psshs {
		out = append(out, encodeBox(t, p))
	}
	return out
}

func encodeBox(t *testing.T, b mp4.Box) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := b.Encode(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// decryptAndCompare decrypts every segment of enc with keyFor(segment index,
// segment) and compares its samples with the same segment of clear.
func decryptAndCompare(t *testing.T, name string, enc, clear track, keyFor func(i int, seg *mp4.MediaSegment) []byte) {
	t.Helper()
	if len(enc.segs) != len(clear.segs) {
		t.Fatalf("%s: %d encrypted segments, %d clear", name, len(enc.segs), len(clear.segs))
	}
	// DecryptInit modifies the init segment: decode a private copy.
	initCopy := reparseInit(t, enc.init)
	di, err := mp4.DecryptInit(initCopy)
	if err != nil {
		t.Fatalf("%s: mp4ff DecryptInit: %v", name, err)
	}
	trex := clear.init.Moov.Mvex.Trex
	for i, seg := range enc.segs {
		key := keyFor(i, seg)
		if err := mp4.DecryptSegment(seg, di, key); err != nil {
			t.Fatalf("%s segment %d: mp4ff DecryptSegment: %v", name, i+1, err)
		}
		got, want := samples(t, seg, trex), samples(t, clear.segs[i], trex)
		if len(got) != len(want) {
			t.Fatalf("%s segment %d: %d samples after decryption, %d in the clear packaging", name, i+1, len(got), len(want))
		}
		for j := range got {
			if !bytes.Equal(got[j], want[j]) {
				t.Fatalf("%s segment %d sample %d: decrypted bytes differ from the clear packaging", name, i+1, j)
			}
		}
	}
}

func reparseInit(t *testing.T, init *mp4.InitSegment) *mp4.InitSegment {
	t.Helper()
	var buf bytes.Buffer
	if err := init.Encode(&buf); err != nil {
		t.Fatal(err)
	}
	f, err := mp4.DecodeFile(&buf)
	if err != nil || f.Init == nil {
		t.Fatalf("re-decode init: %v", err)
	}
	return f.Init
}

// postJSON posts body to url and decodes the JSON answer into out; it
// returns the HTTP status.
func postJSON(t *testing.T, c *http.Client, url string, body any, out any) int {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Post(url, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	rb, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if out != nil {
		if err := json.Unmarshal(rb, out); err != nil {
			t.Fatalf("POST %s: HTTP %d, undecodable answer: %v", url, resp.StatusCode, err)
		}
	}
	return resp.StatusCode
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
