package app_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/keyserver/keyserver/app/apptest"
	keyserverv1 "github.com/keyserver/keyserver/gen/keyserver/v1"
)

func assertStoreEmpty(t *testing.T, env *apptest.Env, tenant string) {
	t.Helper()
	recs, err := env.Store.Records(context.Background(), tenant)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 0 {
		t.Errorf("store holds %d records for %s, want none", len(recs), tenant)
	}
}

func keyOf(t *testing.T, r result) string {
	t.Helper()
	ck := mustOK(t, r).GetContentKey()
	return ck.GetKeyId() + "/" + ck.GetKey() + "/" + ck.GetIv()
}

// TestRotation: t and t+P differ, t and t+P/2 match, a pre-generated future
// key is what "now" returns later, VOD ignores time.
func TestRotation(t *testing.T) {
	env, clk := start(t)
	const live = keyserverv1.DistributionMode_LIVE
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			clk.Set(t0)
			id := "rot-" + tr.name
			p := 3600 * time.Second
			at := t0.Add(7 * time.Minute)
			k1 := keyOf(t, tr.call(t, env, "NAG0000", withTime(newReq(id, live, 0, "WV"), at)))
			kHalf := keyOf(t, tr.call(t, env, "NAG0000", withTime(newReq(id, live, 0, "WV"), at.Add(p/2))))
			kNext := keyOf(t, tr.call(t, env, "NAG0000", withTime(newReq(id, live, 0, "WV"), at.Add(p))))
			if k1 != kHalf {
				t.Error("t and t+P/2 (same period) gave different keys")
			}
			if k1 == kNext {
				t.Error("t and t+P gave the same key")
			}
			// No scheduledKey: the period of now (t0 is in the period of at).
			if kNow := keyOf(t, tr.call(t, env, "NAG0000", newReq(id, live, 0, "WV"))); kNow != k1 {
				t.Error("now-request in the period of t gave another key")
			}
			// Pre-generate two days ahead, then let time pass.
			future := t0.Add(48*time.Hour + 30*time.Minute)
			kFuture := keyOf(t, tr.call(t, env, "NAG0000", withTime(newReq(id, live, 0, "WV"), future)))
			clk.Set(future.Add(10 * time.Minute))
			if kLater := keyOf(t, tr.call(t, env, "NAG0000", newReq(id, live, 0, "WV"))); kLater != kFuture {
				t.Error("pre-generated key differs from the later now-request's key")
			}
			// VOD ignores time.
			vid := "vod-" + tr.name
			v1 := keyOf(t, tr.call(t, env, "NAG0000", withTime(newReq(vid, keyserverv1.DistributionMode_VOD, 0), t0)))
			v2 := keyOf(t, tr.call(t, env, "NAG0000", withTime(newReq(vid, keyserverv1.DistributionMode_VOD, 0), t0.Add(72*time.Hour))))
			if v1 != v2 {
				t.Error("VOD key changed with time")
			}
		})
	}
}

// TestConcurrentNewPeriod: 64 concurrent requests for a brand-new period
// all get the same key; the store holds exactly one key for it.
func TestConcurrentNewPeriod(t *testing.T) {
	env, _ := start(t)
	const n = 64
	keys := make([]string, n)
	var wg sync.WaitGroup
	startGate := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-startGate
			tr := transports[i%2]
			keys[i] = keyOf(t, tr.call(t, env, "NAG0000", withTime(newReq("storm", keyserverv1.DistributionMode_LIVE, 0, "WV"), t0.Add(time.Hour))))
		}()
	}
	close(startGate)
	wg.Wait()
	for i := range keys {
		if keys[i] != keys[0] {
			t.Fatalf("request %d got a different key", i)
		}
	}
	recs, err := env.Store.Records(context.Background(), "NAG0000")
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 {
		t.Fatalf("store holds %d keys, want exactly 1", len(recs))
	}
}

// TestRestart: every key comes back byte-identical after the store is
// closed and reopened under a new server.
func TestRestart(t *testing.T) {
	env, _ := start(t)
	before := map[string]string{}
	reqs := map[string]*keyserverv1.GetKeyAndSignalizationRequest{}
	for i, id := range []string{"a", "b", "c", "d"} {
		reqs["vod-"+id] = newReq("vod-"+id, keyserverv1.DistributionMode_VOD, 0)
		reqs["live-"+id] = withTime(newReq("live-"+id, keyserverv1.DistributionMode_LIVE, 0), t0.Add(time.Duration(i)*time.Hour))
	}
	for name, req := range reqs {
		before[name] = keyOf(t, callGRPC(t, env, "NAG0000", req))
	}
	env.Restart()
	for name, req := range reqs {
		for _, tr := range transports {
			if got := keyOf(t, tr.call(t, env, "NAG0000", req)); got != before[name] {
				t.Errorf("%s over %s: key changed across restart", name, tr.name)
			}
		}
	}
}

// TestSuppliedKeys: stored, signaled, idempotent, KEY_CONFLICT otherwise,
// MISSING_* when half given, never echoed.
func TestSuppliedKeys(t *testing.T) {
	env, _ := start(t)
	key := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0x5b, 0x7d}, 8))
	iv := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0x11}, 16))
	other := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0x22}, 16))
	supplied := func(content, kid, key, iv string) *keyserverv1.GetKeyAndSignalizationRequest {
		r := withTime(newReq(content, keyserverv1.DistributionMode_LIVE, 0), t0)
		r.ScheduledKey.ContentKey = &keyserverv1.ContentKey{KeyId: kid, Key: key, Iv: iv}
		return r
	}
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			content := "sup-" + tr.name
			kid := map[string]string{"grpc": "5b4640d2-2e99-4a31-bc34-e35cfd70dc58", "rest": "5b4640d2-2e99-4a31-bc34-e35cfd70dc59"}[tr.name]
			r := tr.call(t, env, "NAG0000", supplied(content, kid, key, iv))
			resp := mustOK(t, r)
			if resp.GetContentKey() != nil {
				t.Errorf("contentKey returned although key and IV were supplied: keyId=%q key set=%v", resp.GetContentKey().GetKeyId(), resp.GetContentKey().GetKey() != "")
			}
			if len(resp.GetDrmSignalization()) == 0 {
				t.Error("no signaling for a supplied key")
			}
			for _, s := range resp.GetDrmSignalization() {
				if d := s.GetDash(); d != nil && !bytes.Contains([]byte(d.GetManifestHeader()), []byte(kid)) {
					t.Errorf("%s DASH signaling does not carry the supplied key id", d.GetDrmName())
				}
			}
			// Idempotent re-send, with and without IV.
			mustOK(t, tr.call(t, env, "NAG0000", supplied(content, kid, key, iv)))
			noIV := mustOK(t, tr.call(t, env, "NAG0000", supplied(content, kid, key, "")))
			if ck := noIV.GetContentKey(); ck.GetKey() != "" || ck.GetIv() != iv || ck.GetKeyId() != kid {
				t.Errorf("re-send without IV: keyId=%q iv=%q key echoed=%v", ck.GetKeyId(), ck.GetIv(), ck.GetKey() != "")
			}
			// The period's key is now the supplied one for everyone.
			plain := mustOK(t, tr.call(t, env, "NAG0000", withTime(newReq(content, keyserverv1.DistributionMode_LIVE, 0), t0)))
			if plain.GetContentKey().GetKeyId() != kid || plain.GetContentKey().GetKey() != key {
				t.Error("plain request for the period did not return the supplied key")
			}
			// Conflicts.
			for name, req := range map[string]*keyserverv1.GetKeyAndSignalizationRequest{
				"different key":   supplied(content, kid, other, iv),
				"different IV":    supplied(content, kid, key, other),
				"another content": supplied(content+"-2", kid, key, iv),
				"period taken":    supplied(content, "0a0b0c0d-0000-4000-8000-000000000001", key, iv),
			} {
				r := tr.call(t, env, "NAG0000", req)
				if r.reason != "KEY_CONFLICT" {
					t.Errorf("%s: %s, want KEY_CONFLICT (%s)", name, r.reason, r.msg)
				}
				if tr.name == "rest" && r.httpCode != 409 {
					t.Errorf("%s: HTTP %d, want 409", name, r.httpCode)
				}
				if bytes.Contains([]byte(r.msg), []byte(other)) || bytes.Contains([]byte(r.msg), []byte(key)) {
					t.Errorf("%s: error message echoes a key", name)
				}
			}
			// Half given.
			for name, c := range map[string]struct {
				req    *keyserverv1.GetKeyAndSignalizationRequest
				reason string
			}{
				"key without id": {supplied(content+"-h", "", key, iv), "MISSING_KEY_ID"},
				"id without key": {supplied(content+"-h", kid, "", iv), "MISSING_CONTENT_KEY"},
				"bad key length": {supplied(content+"-h", kid, base64.StdEncoding.EncodeToString([]byte("short")), iv), "INVALID_REQUEST"},
				"bad kid":        {supplied(content+"-h", "not-a-uuid", key, iv), "INVALID_REQUEST"},
			} {
				if r := tr.call(t, env, "NAG0000", c.req); r.reason != c.reason {
					t.Errorf("%s: %s, want %s (%s)", name, r.reason, c.reason, r.msg)
				}
			}
		})
	}
	// A supplied key without IV gets a generated one.
	r := withTime(newReq("sup-noiv", keyserverv1.DistributionMode_LIVE, 0), t0)
	r.ScheduledKey.ContentKey = &keyserverv1.ContentKey{KeyId: "11111111-2222-4333-8444-555555555555", Key: key}
	resp := mustOK(t, callGRPC(t, env, "NAG0000", r))
	if ck := resp.GetContentKey(); ck.GetKey() != "" || len(ck.GetIv()) != 24 {
		t.Errorf("supplied key without IV: key echoed=%v iv=%q", ck.GetKey() != "", ck.GetIv())
	}
}

// TestNoRawKeysInFile: the bbolt file never holds a key or IV in the clear.
func TestNoRawKeysInFile(t *testing.T) {
	env, _ := start(t)
	var secrets [][]byte
	for i := range 20 {
		resp := mustOK(t, callGRPC(t, env, "NAG0000", withTime(newReq("raw", keyserverv1.DistributionMode_LIVE, 0), t0.Add(time.Duration(i)*time.Hour))))
		for _, s := range []string{resp.GetContentKey().GetKey(), resp.GetContentKey().GetIv()} {
			b, err := base64.StdEncoding.DecodeString(s)
			if err != nil || len(b) != 16 {
				t.Fatalf("bad key material in response")
			}
			secrets = append(secrets, b)
		}
	}
	env.Restart() // flush and reopen, so the file is complete
	file, err := os.ReadFile(env.StorePath)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range secrets {
		if bytes.Contains(file, s) {
			t.Fatal("a key or IV appears in the clear in the bbolt file")
		}
		if bytes.Contains(file, []byte(base64.StdEncoding.EncodeToString(s))) {
			t.Fatal("a key or IV appears base64-encoded in the bbolt file")
		}
	}
}
