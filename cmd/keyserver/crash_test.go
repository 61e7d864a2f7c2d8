package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/keyserver/keyserver/drm"
	"github.com/keyserver/keyserver/keystore/boltstore"
)

// crashRounds is the number of kill -9 / restart rounds of TestCrash_Kill9.
const crashRounds = 20

// crashClients is the number of concurrent clients per round.
const crashClients = 64

// issued remembers every key a client received, by what it asked for.
type issued struct {
	mu   sync.Mutex
	keys map[string]string // "content|period" → "kid/key/iv"
	errs []string
}

// add records a received key; a different key for the same content and
// period is an error at once.
func (s *issued) add(id, key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.keys[id]; ok && old != key {
		s.errs = append(s.errs, fmt.Sprintf("%s: two different keys were handed out", id))
		return
	}
	s.keys[id] = key
}

// crashRequest is one request of the crash workload: its identity and body.
type crashRequest struct{ id, body string }

// nextCrashRequest mixes new VOD contents, VOD contents shared by all
// clients, and LIVE contents shared by all clients over 160 future
// periods (well inside the 7-day pre-generation horizon, also for the
// mid-period re-request after restart), so that new contents, new periods and races for the same
// period all happen while the process may die.
func nextCrashRequest(r *rand.Rand, base time.Time, round, client, i int) crashRequest {
	switch r.IntN(3) {
	case 0:
		c := fmt.Sprintf("vod-%d-%d-%d", round, client, i)
		return crashRequest{c + "|0", `{"drmContent":{"drmContentId":"` + c + `","profile":{"distributionMode":"VOD"}},"drmList":["WV"]}`}
	case 1:
		c := fmt.Sprintf("vod-shared-%d", r.IntN(64))
		return crashRequest{c + "|0", `{"drmContent":{"drmContentId":"` + c + `","profile":{"distributionMode":"VOD"}},"drmList":["WV"]}`}
	}
	c := fmt.Sprintf("live-%d", r.IntN(16))
	k := r.IntN(160)
	at := base.Add(time.Duration(k)*time.Hour + time.Duration(r.IntN(3600))*time.Second)
	return crashRequest{fmt.Sprintf("%s|%d", c, at.Unix()/3600), // the period index of P = 3600
		`{"drmContent":{"drmContentId":"` + c + `","profile":{"distributionMode":"LIVE","streamingMode":"DASH"}},"drmList":["WV"],"scheduledKey":{"time":"` + at.Format(time.RFC3339) + `"}}`}
}

// postKey sends one request; ok is false for anything but a complete 200
// with a key.
func postKey(c *http.Client, url, body string) (key string, ok bool) {
	key, _, err := postKeyChecked(c, url, body)
	return key, err == nil && key != ""
}

// postKeyChecked sends one request. answered reports whether an HTTP
// response arrived; err is set for no answer and for an answer that is not
// a complete 200 with a key nor a complete {status, errorMessage} body.
func postKeyChecked(c *http.Client, url, body string) (key string, answered bool, err error) {
	res, err := c.Post(url+"/ckm/v1/keyAndSignalization", "application/json", strings.NewReader(body))
	if err != nil {
		return "", false, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return "", true, fmt.Errorf("HTTP %d, body cut: %v", res.StatusCode, err)
	}
	var out struct {
		Status       string
		ErrorMessage string
		ContentKey   struct{ KeyID, Key, IV string }
	}
	if err := json.Unmarshal(b, &out); err != nil {
		return "", true, fmt.Errorf("HTTP %d, incomplete body %q: %v", res.StatusCode, b, err)
	}
	if res.StatusCode != http.StatusOK {
		if out.Status == "" || out.Status == "OK" || out.ErrorMessage == "" {
			return "", true, fmt.Errorf("HTTP %d, malformed error body %q", res.StatusCode, b)
		}
		return "", true, nil
	}
	ck := out.ContentKey
	if out.Status != "OK" || len(ck.KeyID) != 36 || len(ck.Key) != 24 || len(ck.IV) != 24 {
		return "", true, fmt.Errorf("HTTP 200 without a complete key: %q", b)
	}
	return ck.KeyID + "/" + ck.Key + "/" + ck.IV, true, nil
}

// TestCrash_Kill9 runs 64 clients against the real binary and kills it
// with SIGKILL after a random number of answers, crashRounds times. After
// every kill the store file must pass bbolt's consistency check and hold
// every key handed out, byte-identical, and no period may hold two keys;
// at the end the restarted server must return every key again.
func TestCrash_Kill9(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test: skipped with -short")
	}
	dir := filepath.Join(t.TempDir(), "data")
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	// LIVE times from the next whole hour on, at most 160 h ahead: inside
	// the 7-day (168 h) horizon for the whole run.
	base := time.Now().UTC().Truncate(time.Hour).Add(time.Hour)
	got := &issued{keys: map[string]string{}}
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: crashClients}}
	var answered int64

	for round := 0; round < crashRounds; round++ {
		p := startProc(t, dir)
		killAt := int64(1 + rng.IntN(400))
		var n atomic.Int64
		killed := make(chan struct{})
		var once sync.Once
		kill := func() {
			once.Do(func() {
				_ = p.cmd.Process.Kill() // SIGKILL
				close(killed)
			})
		}
		var wg sync.WaitGroup
		for c := 0; c < crashClients; c++ {
			wg.Add(1)
			r := rand.New(rand.NewPCG(seed, uint64(round*crashClients+c+1)))
			go func() {
				defer wg.Done()
				for i := 0; ; i++ {
					select {
					case <-killed:
						return
					default:
					}
					req := nextCrashRequest(r, base, round, c, i)
					key, ok := postKey(client, p.http, req.body)
					if !ok {
						continue // the process died under it (or is dying)
					}
					got.add(req.id, key)
					if n.Add(1) >= killAt {
						kill()
					}
				}
			}()
		}
		wg.Wait()
		_ = p.cmd.Wait()
		answered += n.Load()
		client.CloseIdleConnections()
		checkStoreFile(t, dir, got)
		if t.Failed() {
			t.Fatalf("round %d (killed after %d answers)", round, killAt)
		}
	}
	got.mu.Lock()
	defer got.mu.Unlock()
	for _, e := range got.errs {
		t.Error(e)
	}
	t.Logf("%d kill -9 rounds, %d answers, %d distinct keys handed out", crashRounds, answered, len(got.keys))

	// The restarted server returns every key handed out.
	p := startProc(t, dir)
	var wg sync.WaitGroup
	ids := make(chan string)
	var mismatches atomic.Int64
	for c := 0; c < crashClients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := range ids {
				if key, ok := postKey(client, p.http, bodyOf(id)); !ok || key != got.keys[id] {
					mismatches.Add(1)
					t.Errorf("%s: after restart got %q (ok %v)", id, key, ok)
				}
			}
		}()
	}
	for id := range got.keys {
		ids <- id
	}
	close(ids)
	wg.Wait()
	p.stop(t)
}

// bodyOf rebuilds a request from its identity "content|period".
func bodyOf(id string) string {
	c, k, _ := strings.Cut(id, "|")
	if strings.HasPrefix(c, "vod-") {
		return `{"drmContent":{"drmContentId":"` + c + `","profile":{"distributionMode":"VOD"}},"drmList":["WV"]}`
	}
	n, _ := strconv.ParseInt(k, 10, 64)
	at := time.Unix(n*3600+1800, 0).UTC()
	return `{"drmContent":{"drmContentId":"` + c + `","profile":{"distributionMode":"LIVE","streamingMode":"DASH"}},"drmList":["WV"],"scheduledKey":{"time":"` + at.Format(time.RFC3339) + `"}}`
}

// checkStoreFile opens the killed server's store read-only: bbolt's
// consistency check passes, every period holds one key, and every key
// handed out is stored byte-identical.
func checkStoreFile(t *testing.T, dir string, got *issued) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "master.key"))
	if err != nil {
		t.Fatal(err)
	}
	var mk [32]byte
	if err := parseMasterKey(b, &mk); err != nil {
		t.Fatal(err)
	}
	st, err := boltstore.Open(filepath.Join(dir, "keys.db"), &boltstore.Options{MasterKey: mk, ReadOnly: true})
	if err != nil {
		t.Fatalf("opening the store after kill -9: %v", err)
	}
	defer st.Close()
	if err := st.Check(); err != nil {
		t.Fatalf("bbolt check after kill -9: %v", err)
	}
	recs, err := st.Records(context.Background(), "NAG0000")
	if err != nil {
		t.Fatal(err)
	}
	stored := map[string]string{}
	for _, r := range recs {
		id := r.Space.ContentID + "|0"
		if r.PeriodSeconds > 0 {
			id = fmt.Sprintf("%s|%d", r.Space.ContentID, r.Period)
		}
		if _, dup := stored[id]; dup {
			t.Errorf("%s: the store holds two keys", id)
		}
		stored[id] = keyText(r.Key)
	}
	got.mu.Lock()
	defer got.mu.Unlock()
	for id, key := range got.keys {
		if s, ok := stored[id]; !ok {
			t.Errorf("%s: a key handed out is not in the store", id)
		} else if s != key {
			t.Errorf("%s: the stored key differs from the one handed out", id)
		}
	}
}

func keyText(k drm.ContentKey) string {
	return k.KID.String() + "/" + base64.StdEncoding.EncodeToString(k.Key[:]) + "/" + base64.StdEncoding.EncodeToString(k.IV[:])
}

// TestShutdown_SIGTERMUnderLoad sends SIGTERM while 64 clients are busy
// creating keys: the process exits cleanly, every answer a client got is
// complete (a whole key or a whole error body), and every key handed out
// is in the store and returned again after a restart.
func TestShutdown_SIGTERMUnderLoad(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	base := time.Now().UTC().Truncate(time.Hour).Add(time.Hour)
	got := &issued{keys: map[string]string{}}
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: crashClients}}
	p := startProc(t, dir)
	var n atomic.Int64
	var after atomic.Int64 // answers that arrived after SIGTERM was sent
	termed := make(chan struct{})
	var once sync.Once
	var wg sync.WaitGroup
	for c := 0; c < crashClients; c++ {
		wg.Add(1)
		r := rand.New(rand.NewPCG(7, uint64(c)))
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				req := nextCrashRequest(r, base, 0, c, i)
				key, answered, err := postKeyChecked(client, p.http, req.body)
				if err != nil && answered {
					t.Errorf("client %d: %v", c, err)
					return
				}
				if !answered {
					select {
					case <-termed:
						return // the server is gone: done
					default:
						t.Errorf("client %d: no answer before SIGTERM: %v", c, err)
						return
					}
				}
				if key != "" {
					got.add(req.id, key)
				}
				select {
				case <-termed:
					after.Add(1)
				default:
				}
				if n.Add(1) == 300 {
					once.Do(func() {
						close(termed)
						if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
							t.Error(err)
						}
					})
				}
			}
		}()
	}
	wg.Wait()
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("keyserver exited with %v after SIGTERM\n%s", err, p.stderr)
	}
	t.Logf("%d answers, %d of them after SIGTERM, %d keys", n.Load(), after.Load(), len(got.keys))
	for _, e := range got.errs {
		t.Error(e)
	}
	checkStoreFile(t, dir, got)
	p = startProc(t, dir)
	for id, key := range got.keys {
		if k, ok := postKey(client, p.http, bodyOf(id)); !ok || k != key {
			t.Fatalf("%s: after restart got %q", id, k)
		}
	}
	p.stop(t)
}
