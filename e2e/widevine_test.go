package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/keyserver/keyserver/app"

	"github.com/Eyevinn/mp4ff/mp4"

	"github.com/keyserver/keyserver/app/apptest"
	"github.com/keyserver/keyserver/drm"
	"github.com/keyserver/keyserver/keystore"
	"github.com/keyserver/keyserver/signaling"
)

const (
	wvTenant = "E2E"
	wvSigner = "e2e-packager"
)

// wvEnv starts a server whose default tenant trusts one AES signer and
// returns it with the signer's key and IV.
func wvEnv(t *testing.T) (*apptest.Env, []byte, []byte) {
	t.Helper()
	return wvEnvAuth(t, app.Auth{})
}

// wvEnvAuth is wvEnv with auth configured for the native API.
func wvEnvAuth(t *testing.T, auth app.Auth) (*apptest.Env, []byte, []byte) {
	t.Helper()
	key, iv := make([]byte, 32), make([]byte, 16)
	_, _ = rand.Read(key)
	_, _ = rand.Read(iv)
	env := apptest.Start(t, app.Config{
		DefaultTenant: wvTenant,
		Defaults: app.Tenant{WidevineSigners: map[string]app.WidevineSigner{
			wvSigner: {AESKey: key, AESIV: iv},
		}},
		Auth: auth,
	})
	return env, key, iv
}

// wvArgs are shaka's Widevine key-server arguments.
func wvArgs(url, contentID, signer string, key, iv []byte) []string {
	return []string{
		"--enable_widevine_encryption",
		"--key_server_url", url,
		"--content_id", hex.EncodeToString([]byte(contentID)),
		"--signer", signer,
		"--aes_signing_key", hex.EncodeToString(key),
		"--aes_signing_iv", hex.EncodeToString(iv),
		"--clear_lead", "0",
		"--segment_duration", "1",
	}
}

func lookup(t *testing.T, st keystore.Store, kid []byte) keystore.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rec, err := st.LookupKeyID(ctx, wvTenant, drm.KeyID(kid))
	if err != nil {
		t.Fatalf("keystore has no key for kid %x: %v", kid, err)
	}
	return rec
}

// TestWidevineAuthRequired: with --auth=required, shaka (which cannot
// send an nv-authorizations header) still gets its keys from the Widevine
// API: the request signature is that protocol's authentication. The
// native API on the same server refuses a request without a token.
func TestWidevineAuthRequired(t *testing.T) {
	bin := packager(t)
	signing := make([]byte, 32)
	_, _ = rand.Read(signing)
	env, key, iv := wvEnvAuth(t, app.Auth{Required: true, Credentials: []app.Credential{
		{ID: "e2e-cred", Tenant: wvTenant, SigningKey: signing, Privileges: []string{"CKM"}},
	}})
	// Required mode is on: the native API without a token is refused.
	res, err := env.HTTP.Post(env.HTTPURL+"/"+wvTenant+"/ckm/v1/keyAndSignalization", "application/json",
		strings.NewReader(`{"drmContent":{"drmContentId":"x","profile":{"distributionMode":"VOD"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("native API without a token: HTTP %d, want 401 (auth required)", res.StatusCode)
	}

	clearDir := clearPackaging(t, bin)
	const contentID = "e2e-wv-auth-required"
	dir := t.TempDir()
	clip, _ := filepath.Abs(clipPath)
	args := append(streams(clip, "", ""), wvArgs(env.HTTPURL+"/"+wvTenant+"/widevine/cenc", contentID, wvSigner, key, iv)...)
	args = append(args, "--protection_scheme", "cbcs", "--protection_systems", "Widevine", "--mpd_output", "out.mpd")
	runPackager(t, bin, dir, true, args...)
	enc, clear := readTrack(t, dir, "v"), readTrack(t, clearDir, "v")
	rec := lookup(t, env.Store, []byte(tenc(t, enc.init).DefaultKID))
	if rec.Space.ContentID != contentID {
		t.Fatalf("key record of content %q, want %q", rec.Space.ContentID, contentID)
	}
	decryptAndCompare(t, "v", enc, clear, func(int, *mp4.MediaSegment) []byte { return rec.Key.Key.Bytes() })
}

// TestWidevineVOD: shaka asks our Widevine endpoint for keys (cbcs,
// Widevine + PlayReady); video and audio get different keys, each the one
// the keystore holds for its key id, and both decrypt to the clear samples.
func TestWidevineVOD(t *testing.T) {
	bin := packager(t)
	env, key, iv := wvEnv(t)
	clearDir := clearPackaging(t, bin)
	const contentID = "e2e-wv-vod"
	dir := t.TempDir()
	clip, _ := filepath.Abs(clipPath)
	args := append(streams(clip, "", ""), wvArgs(env.HTTPURL+"/"+wvTenant+"/widevine/cenc", contentID, wvSigner, key, iv)...)
	args = append(args, "--protection_scheme", "cbcs", "--protection_systems", "Widevine,PlayReady",
		"--mpd_output", "out.mpd", "--hls_master_playlist_output", "master.m3u8")
	runPackager(t, bin, dir, true, args...)

	wantTrack := map[string]string{"v": "SD", "a": "AUDIO"}
	kids := map[string][]byte{}
	for _, sub := range []string{"v", "a"} {
		enc, clear := readTrack(t, dir, sub), readTrack(t, clearDir, sub)
		if st := schemeType(t, enc.init); st != "cbcs" {
			t.Fatalf("%s: scheme %q, want cbcs", sub, st)
		}
		te := tenc(t, enc.init)
		kid := []byte(te.DefaultKID)
		kids[sub] = kid
		rec := lookup(t, env.Store, kid)
		if rec.Space.ContentID != contentID || rec.Space.Track != wantTrack[sub] || rec.Space.Scheme != drm.SchemeCBCS || rec.PeriodSeconds != 0 {
			t.Fatalf("%s: key record space %+v period %d, want content %q track %s cbcs VOD", sub, rec.Space, rec.PeriodSeconds, contentID, wantTrack[sub])
		}
		if !bytes.Equal(te.DefaultConstantIV, rec.Key.IV[:]) {
			t.Fatalf("%s: tenc constant IV is not the keystore's IV", sub)
		}
		checkInitPSSH(t, sub, enc.init, drm.KeyID(kid), rec.Key.Key, contentID, drm.SchemeCBCS, nil)
		decryptAndCompare(t, sub, enc, clear, func(int, *mp4.MediaSegment) []byte { return rec.Key.Key.Bytes() })
	}
	if bytes.Equal(kids["v"], kids["a"]) {
		t.Fatal("video and audio share a key id; want a key per track type")
	}
}

// checkInitPSSH checks that an init segment carries a Widevine pssh naming
// kid (with our content id, scheme and period index) and a PlayReady pssh
// naming kid.
func checkInitPSSH(t *testing.T, where string, init *mp4.InitSegment, kid drm.KeyID, key drm.Key, contentID string, scheme drm.Scheme, period *uint32) {
	t.Helper()
	var boxes []byte
	for _, b := range initPSSH(t, init) {
		boxes = append(boxes, b...)
	}
	checkPSSHBoxes(t, where, boxes, kid, contentID, scheme, period)
}

// checkPSSHBoxes parses concatenated boxes; the Widevine one must be exactly
// the box our signaling package builds for kid, and the PlayReady one must
// name kid.
func checkPSSHBoxes(t *testing.T, where string, boxes []byte, kid drm.KeyID, contentID string, scheme drm.Scheme, period *uint32) {
	t.Helper()
	ps, err := signaling.ParsePSSH(boxes)
	if err != nil {
		t.Fatalf("%s: pssh: %v", where, err)
	}
	var wv, pr bool
	for _, p := range ps {
		switch p.SystemID {
		case drm.SystemIDWidevine:
			d, err := signaling.ParseWidevinePSSHData(p.Data)
			if err != nil {
				t.Fatalf("%s: Widevine pssh data: %v", where, err)
			}
			if k := d.KIDs(); len(k) != 1 || k[0] != kid {
				t.Fatalf("%s: Widevine pssh names %v, want %s", where, k, kid)
			}
			if string(d.ContentID) != contentID {
				t.Fatalf("%s: Widevine pssh content id %q, want %q", where, d.ContentID, contentID)
			}
			if d.ProtectionScheme == nil || *d.ProtectionScheme != scheme.FourCC() {
				t.Fatalf("%s: Widevine pssh protection_scheme %v, want %s", where, d.ProtectionScheme, scheme)
			}
			if (period == nil) != (d.CryptoPeriodIndex == nil) || (period != nil && *period != *d.CryptoPeriodIndex) {
				t.Fatalf("%s: Widevine pssh crypto_period_index %v, want %v", where, d.CryptoPeriodIndex, period)
			}
			wv = true
		case drm.SystemIDPlayReady:
			pro, err := signaling.ParsePlayReadyObject(p.Data)
			if err != nil {
				t.Fatalf("%s: PlayReady object: %v", where, err)
			}
			x, err := pro.WRMHeader()
			if err != nil {
				t.Fatal(err)
			}
			h, err := signaling.ParseWRMHeader(x)
			if err != nil {
				t.Fatalf("%s: WRMHEADER: %v", where, err)
			}
			found := false
			for _, k := range h.KIDs {
				found = found || k.KID == kid
			}
			if !found {
				t.Fatalf("%s: PlayReady header does not name %s", where, kid)
			}
			pr = true
		}
	}
	if !wv || !pr {
		t.Fatalf("%s: pssh boxes Widevine %v PlayReady %v, want both", where, wv, pr)
	}
}

// liveRun is one live packaging with key rotation: per track, the key id of
// every segment.
type liveRun struct {
	dir  string
	kids map[string][]drm.KeyID
}

// livePeriod is the crypto period in seconds: with 1 s segments the 8 s
// clip spans 4 crypto periods.
const livePeriod = 2

func packageLive(t *testing.T, bin string, env *apptest.Env, key, iv []byte, contentID string) liveRun {
	t.Helper()
	dir := t.TempDir()
	clip, _ := filepath.Abs(clipPath)
	args := append(streams(clip, "", ""), wvArgs(env.HTTPURL+"/widevine/cenc", contentID, wvSigner, key, iv)...)
	args = append(args, "--protection_scheme", "cenc", "--protection_systems", "Widevine,PlayReady",
		"--crypto_period_duration", fmt.Sprint(livePeriod), "--mpd_output", "out.mpd")
	runPackager(t, bin, dir, true, args...)
	return liveRun{dir: dir, kids: map[string][]drm.KeyID{}}
}

// TestWidevineLiveRotation: with --crypto_period_duration the clip spans 4
// periods; each period's segments carry a new key id whose keystore record
// is that period's, the moof pssh names it, every segment decrypts with the
// keystore's key, and a second packaging (after a server restart) gets the
// same key ids and keys.
func TestWidevineLiveRotation(t *testing.T) {
	bin := packager(t)
	env, key, iv := wvEnv(t)
	clearDir := clearPackaging(t, bin)
	const contentID = "e2e-wv-live"
	wantTrack := map[string]string{"v": "SD", "a": "AUDIO"}

	check := func(run liveRun) {
		t.Helper()
		for _, sub := range []string{"v", "a"} {
			enc, clear := readTrack(t, run.dir, sub), readTrack(t, clearDir, sub)
			if st := schemeType(t, enc.init); st != "cenc" {
				t.Fatalf("%s: scheme %q, want cenc", sub, st)
			}
			periods := map[int64]drm.KeyID{}
			keys := make([][]byte, len(enc.segs))
			var lastPeriod int64
			for i, seg := range enc.segs {
				where := fmt.Sprintf("%s segment %d", sub, i+1)
				kid := segmentKID(t, where, seg)
				rec := lookup(t, env.Store, kid[:])
				if rec.Space.ContentID != contentID || rec.Space.Track != wantTrack[sub] || rec.Space.Scheme != drm.SchemeCENC ||
					rec.PeriodSeconds != livePeriod {
					t.Fatalf("%s: key record %+v P=%d, want %q %s cenc P=%d",
						where, rec.Space, rec.PeriodSeconds, contentID, wantTrack[sub], livePeriod)
				}
				// shaka's index is floor(segment start DTS / period): the
				// segments of one period are consecutive, periods ascend
				// from 0 by one.
				switch {
				case i == 0 && rec.Period != 0:
					t.Fatalf("%s: first segment in period %d, want 0", where, rec.Period)
				case i > 0 && rec.Period != lastPeriod && rec.Period != lastPeriod+1:
					t.Fatalf("%s: period %d follows period %d", where, rec.Period, lastPeriod)
				}
				lastPeriod = rec.Period
				if prev, ok := periods[rec.Period]; ok && prev != kid {
					t.Fatalf("%s: two key ids in period %d", where, rec.Period)
				}
				periods[rec.Period] = kid
				// The moof's pssh boxes name this period's key.
				var boxes []byte
				for _, f := range seg.Fragments {
					for _, p := range f.Moof.Psshs {
						boxes = append(boxes, encodeBox(t, p)...)
					}
				}
				if len(boxes) == 0 {
					t.Fatalf("%s: no pssh in moof", where)
				}
				idx := uint32(rec.Period)
				checkPSSHBoxes(t, where, boxes, kid, contentID, drm.SchemeCENC, &idx)
				keys[i] = rec.Key.Key.Bytes()
				run.kids[sub] = append(run.kids[sub], kid)
			}
			if len(periods) < 4 {
				t.Fatalf("%s: %d crypto periods, want at least 4", sub, len(periods))
			}
			seen := map[drm.KeyID]bool{}
			for _, k := range periods {
				if seen[k] {
					t.Fatalf("%s: a key id is reused across periods", sub)
				}
				seen[k] = true
			}
			decryptAndCompare(t, sub, enc, clear, func(i int, _ *mp4.MediaSegment) []byte { return keys[i] })
		}
		for i := range run.kids["v"] {
			for j := range run.kids["a"] {
				if run.kids["v"][i] == run.kids["a"][j] {
					t.Fatal("video and audio share a key id")
				}
			}
		}
	}

	first := packageLive(t, bin, env, key, iv, contentID)
	check(first)
	keysOf := func(run liveRun) map[drm.KeyID][]byte {
		out := map[drm.KeyID][]byte{}
		for _, ks := range run.kids {
			for _, k := range ks {
				out[k] = lookup(t, env.Store, k[:]).Key.Key.Bytes()
			}
		}
		return out
	}
	firstKeys := keysOf(first)

	env.Restart()
	second := packageLive(t, bin, env, key, iv, contentID)
	check(second)
	for _, sub := range []string{"v", "a"} {
		if fmt.Sprint(first.kids[sub]) != fmt.Sprint(second.kids[sub]) {
			t.Fatalf("%s: second run key ids %v, first %v", sub, second.kids[sub], first.kids[sub])
		}
	}
	for k, v := range keysOf(second) {
		if !bytes.Equal(firstKeys[k], v) {
			t.Fatalf("key of %s changed between runs", k)
		}
	}
}

// segmentKID returns the key id of a segment's samples: the seig sample
// group of its trafs (key rotation), which must agree across fragments.
func segmentKID(t *testing.T, where string, seg *mp4.MediaSegment) drm.KeyID {
	t.Helper()
	var kid *drm.KeyID
	for _, f := range seg.Fragments {
		for _, traf := range f.Moof.Trafs {
			if traf.Sgpd == nil || traf.Sgpd.GroupingType != "seig" || len(traf.Sgpd.SampleGroupEntries) != 1 {
				t.Fatalf("%s: traf has no single seig sample group", where)
			}
			e, ok := traf.Sgpd.SampleGroupEntries[0].(*mp4.SeigSampleGroupEntry)
			if !ok {
				t.Fatalf("%s: seig entry of type %T", where, traf.Sgpd.SampleGroupEntries[0])
			}
			k := drm.KeyID(e.KID)
			if kid != nil && *kid != k {
				t.Fatalf("%s: fragments with different key ids", where)
			}
			kid = &k
		}
	}
	if kid == nil {
		t.Fatalf("%s: no traf", where)
	}
	return *kid
}

// TestWidevineErrors: a wrong signature, an unknown signer and a malformed
// envelope get the documented protocol statuses in a 200 answer; shaka
// reports the first two and fails.
func TestWidevineErrors(t *testing.T) {
	bin := packager(t)
	env, key, iv := wvEnv(t)
	clip, _ := filepath.Abs(clipPath)
	url := env.HTTPURL + "/widevine/cenc"

	wrongKey := bytes.Clone(key)
	wrongKey[0] ^= 0xff
	for _, tc := range []struct {
		name, signer string
		key          []byte
		want         string
	}{
		{"bad signature", wvSigner, wrongKey, "SIGNATURE_FAILED"},
		{"unknown signer", "nobody", key, "SIGNATURE_FAILED"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			args := append(streams(clip, "", ""), wvArgs(url, "e2e-wv-denied", tc.signer, tc.key, iv)...)
			args = append(args, "--protection_scheme", "cbcs", "--mpd_output", "out.mpd")
			out := runPackager(t, bin, dir, false, args...)
			// shaka logs the raw answer it refused; its inner response
			// carries the status.
			m := regexp.MustCompile(`Received non-OK license response: \{"response":"([A-Za-z0-9+/=]+)"\}`).FindStringSubmatch(out)
			if m == nil {
				t.Fatalf("shaka did not report a non-OK license response:\n%s", out)
			}
			inner, err := base64.StdEncoding.DecodeString(m[1])
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(inner), `"status":"`+tc.want+`"`) {
				t.Fatalf("shaka reported %s, want status %s", inner, tc.want)
			}
		})
	}

	// Malformed JSON cannot come from shaka: post it directly.
	for _, tc := range []struct{ name, body, want string }{
		{"envelope not JSON", `{"request":`, "MALFORMED_REQUEST"},
		{"request not base64", `{"request":"%%%","signature":"AAAA","signer":"` + wvSigner + `"}`, "MALFORMED_REQUEST"},
		{"inner not JSON", string(apptest.Envelope(t, &apptest.WVCred{Name: wvSigner, Key: key, IV: iv}, `{"content_id":`)), "MALFORMED_REQUEST"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := env.HTTP.Post(url, "application/json", strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("HTTP %d, want 200 with a protocol status", resp.StatusCode)
			}
			var outer struct {
				Response string `json:"response"`
			}
			b := new(bytes.Buffer)
			_, _ = b.ReadFrom(resp.Body)
			if err := jsonUnmarshal(b.Bytes(), &outer); err != nil {
				t.Fatal(err)
			}
			inner, err := base64.StdEncoding.DecodeString(outer.Response)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(inner), `"status":"`+tc.want+`"`) {
				t.Fatalf("inner response %s, want status %s", inner, tc.want)
			}
		})
	}
}
