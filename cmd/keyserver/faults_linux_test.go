package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	bolt "go.etcd.io/bbolt"
)

// setFileSizeLimit sets the soft RLIMIT_FSIZE of process pid (prlimit(2)):
// the process can then not grow any file beyond cur bytes; writes past it
// fail with EFBIG (Go ignores SIGXFSZ), as they would on a full disk.
// cur = ^0 lifts the limit.
func setFileSizeLimit(t *testing.T, pid int, cur uint64) {
	t.Helper()
	var old syscall.Rlimit
	if _, _, e := syscall.RawSyscall6(syscall.SYS_PRLIMIT64, uintptr(pid), syscall.RLIMIT_FSIZE, 0, uintptr(unsafe.Pointer(&old)), 0, 0); e != 0 {
		t.Fatalf("prlimit get: %v", e)
	}
	lim := syscall.Rlimit{Cur: cur, Max: old.Max}
	if _, _, e := syscall.RawSyscall6(syscall.SYS_PRLIMIT64, uintptr(pid), syscall.RLIMIT_FSIZE, uintptr(unsafe.Pointer(&lim)), 0, 0, 0); e != 0 {
		t.Fatalf("prlimit set: %v", e)
	}
}

// postStatus posts one VOD request and returns the HTTP code and, for a
// complete 200, the key. (One request only: asking twice could create the
// key on the second try and lose it.)
func postStatus(t *testing.T, p *proc, content string) (int, string) {
	t.Helper()
	res, err := http.Post(p.http+"/ckm/v1/keyAndSignalization", "application/json",
		strings.NewReader(`{"drmContent":{"drmContentId":"`+content+`","profile":{"distributionMode":"VOD"}},"drmList":["WV"]}`))
	if err != nil {
		t.Fatalf("%s: %v", content, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s: HTTP %d, body cut: %v", content, res.StatusCode, err)
	}
	var out struct {
		Status       string
		ErrorMessage string
		ContentKey   struct{ KeyID, Key, IV string }
	}
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("%s: HTTP %d, incomplete body %q", content, res.StatusCode, b)
	}
	if res.StatusCode != http.StatusOK {
		if out.Status == "" || out.Status == "OK" || out.ErrorMessage == "" {
			t.Fatalf("%s: HTTP %d, malformed error body %q", content, res.StatusCode, b)
		}
		return res.StatusCode, ""
	}
	ck := out.ContentKey
	if out.Status != "OK" || len(ck.KeyID) != 36 || len(ck.Key) != 24 || len(ck.IV) != 24 {
		t.Fatalf("%s: HTTP 200 without a complete key: %q", content, b)
	}
	return http.StatusOK, ck.KeyID + "/" + ck.Key + "/" + ck.IV
}

// assertServed checks that p serves every VOD key in got, unchanged.
func assertServed(t *testing.T, p *proc, got *issued, when string) {
	t.Helper()
	for id, key := range got.keys {
		content, _, _ := strings.Cut(id, "|")
		if code, k := postStatus(t, p, content); code != http.StatusOK || k != key {
			t.Fatalf("%s %s: HTTP %d, same key %v", content, when, code, k == key)
		}
	}
}

// assertDurable checks the stopped server's store file against got,
// restarts the server on dir, checks it serves every key in got, stops it,
// and reports the errors got gathered.
func assertDurable(t *testing.T, dir string, got *issued) {
	t.Helper()
	checkStoreFile(t, dir, got)
	p := startProc(t, dir)
	assertServed(t, p, got, "after restart")
	p.stop(t)
	for _, e := range got.errs {
		t.Error(e)
	}
}

// createAll creates n new keys named prefix-0 … prefix-(n-1), each of
// which must be answered 200 (when says when, for the failure message),
// and records them in got.
func createAll(t *testing.T, p *proc, got *issued, prefix string, n int, when string) {
	t.Helper()
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("%s-%d", prefix, i)
		code, key := postStatus(t, p, id)
		if code != http.StatusOK {
			t.Fatalf("%s: HTTP %d%s", id, code, when)
		}
		got.add(id+"|0", key)
	}
}

// fillUntilRefused creates keys until the server refuses one with 503 (the
// disk is full), records the ones it handed out, then checks that further
// creations are refused while every stored key is still served.
func fillUntilRefused(t *testing.T, p *proc, got *issued) {
	t.Helper()
	refused := 0
	for i := 0; i < 100000 && refused == 0; i++ {
		id := fmt.Sprintf("fill-%d", i)
		switch code, key := postStatus(t, p, id); code {
		case http.StatusOK:
			got.add(id+"|0", key) // space bbolt had already allocated
		case http.StatusServiceUnavailable:
			refused++
		default:
			t.Fatalf("%s: HTTP %d while the disk fills", id, code)
		}
	}
	if refused == 0 {
		t.Fatal("no creation was refused: the disk never filled")
	}
	t.Logf("disk full after %d keys", len(got.keys))
	for i := 0; i < 5; i++ {
		if code, _ := postStatus(t, p, fmt.Sprintf("while-full-%d", i)); code != http.StatusServiceUnavailable {
			t.Errorf("creation while full: HTTP %d, want 503", code)
		}
	}
	assertServed(t, p, got, "while full")
}

// TestFaults_DiskFull: when the store file cannot grow (the disk is full),
// creations answer UNAVALAIBLE_SERVICE / 503 while every existing key is
// still served; the process does not crash, and once space is back new
// keys are created again without a restart. Every key handed out survives.
func TestFaults_DiskFull(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	p := startProc(t, dir)
	got := &issued{keys: map[string]string{}}
	createAll(t, p, got, "before", 20, " before the fault")
	// Restart: the keys made so far are now only in the file, not cached.
	p.stop(t)
	p = startProc(t, dir)
	fi, err := os.Stat(filepath.Join(dir, "keys.db"))
	if err != nil {
		t.Fatal(err)
	}
	setFileSizeLimit(t, p.cmd.Process.Pid, uint64(fi.Size()))

	// Fill what is left of the file until a creation fails.
	fillUntilRefused(t, p, got)

	// Space is back: creations work again, in the same process.
	setFileSizeLimit(t, p.cmd.Process.Pid, ^uint64(0))
	createAll(t, p, got, "after", 50, " after the fault cleared")
	p.stop(t) // (stderr is safe to read once the process is gone)
	if !strings.Contains(p.stderr.String(), "UNAVALAIBLE_SERVICE") {
		t.Errorf("the refusals are not logged:\n%s", p.stderr)
	}
	assertDurable(t, dir, got)
}

// TestFaults_ForeignStoreFile: the process refuses to start on a store
// path holding something else, says so, and leaves the file untouched.
func TestFaults_ForeignStoreFile(t *testing.T) {
	// A real store with keys, to corrupt and to open under another key.
	good := filepath.Join(t.TempDir(), "good")
	p := startProc(t, good)
	for i := 0; i < 200; i++ {
		postStatus(t, p, fmt.Sprintf("k-%d", i))
	}
	p.stop(t)
	real, err := os.ReadFile(filepath.Join(good, "keys.db"))
	if err != nil {
		t.Fatal(err)
	}
	garbage := make([]byte, 64<<10)
	_, _ = rand.Read(garbage)
	foreignBolt := filepath.Join(t.TempDir(), "other.db")
	db, err := bolt.Open(foreignBolt, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket([]byte("app"))
		if err != nil {
			return err
		}
		return b.Put([]byte("k"), []byte("v"))
	}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	foreign, err := os.ReadFile(foreignBolt)
	if err != nil {
		t.Fatal(err)
	}
	flipped := bytes.Clone(real)
	for i := 0; i < 64; i++ { // both meta pages
		flipped[16+i] ^= 0xff
		flipped[4096+16+i] ^= 0xff
	}

	cases := []struct {
		name      string
		file      []byte
		masterKey []byte // nil: the good store's own
		want      string
	}{
		{"random bytes", garbage, nil, "not a key-store file"},
		{"text file", []byte("hello\n"), nil, "not a key-store file"},
		{"another application's bbolt file", foreign, nil, "not a key-store file"},
		{"both meta pages damaged", flipped, nil, "not a key-store file"},
		{"truncated to its first half", real[:len(real)/2], nil, "truncated"},
		{"store of another master key", real, randomKey(), "wrong master key"},
	}
	mk, err := os.ReadFile(filepath.Join(good, "master.key"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			key := mk
			if c.masterKey != nil {
				key = c.masterKey
			}
			if err := os.WriteFile(filepath.Join(dir, "master.key"), key, 0o600); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, "keys.db")
			if err := os.WriteFile(path, c.file, 0o600); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(binary, "--data-dir", dir, "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0")
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			done := make(chan error, 1)
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			go func() { done <- cmd.Wait() }()
			select {
			case err := <-done:
				if err == nil {
					t.Fatal("started on a bad store file")
				}
			case <-time.After(30 * time.Second):
				_ = cmd.Process.Kill()
				t.Fatal("still running on a bad store file")
			}
			if !strings.Contains(stderr.String(), c.want) || !strings.Contains(stderr.String(), path) {
				t.Errorf("stderr does not say %q about %s:\n%s", c.want, path, stderr.String())
			}
			if strings.Contains(stderr.String(), "panic") || strings.Contains(stderr.String(), "goroutine ") {
				t.Errorf("crashed instead of refusing:\n%s", stderr.String())
			}
			after, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(after, c.file) {
				t.Error("the file was changed")
			}
		})
	}
}

func randomKey() []byte {
	k := make([]byte, 32)
	_, _ = rand.Read(k)
	return []byte(base64.StdEncoding.EncodeToString(k) + "\n")
}

// TestProcess_LimitFlags: the limit flags reach the server.
func TestProcess_LimitFlags(t *testing.T) {
	p := startProc(t, filepath.Join(t.TempDir(), "data"), "--max-body-bytes", "100")
	body := `{"drmContent":{"drmContentId":"` + strings.Repeat("c", 100) + `","profile":{"distributionMode":"VOD"}}}`
	res, err := http.Post(p.http+"/ckm/v1/keyAndSignalization", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("--max-body-bytes 100, body of %d bytes: HTTP %d, want 413", len(body), res.StatusCode)
	}
	p.stop(t)

	var stderr bytes.Buffer
	err = run(context.Background(), []string{"--data-dir", t.TempDir(), "--max-in-flight", "-1", "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0"},
		func(string) string { return "" }, io.Discard, &stderr)
	if err == nil || !strings.Contains(err.Error(), "limits") {
		t.Errorf("--max-in-flight -1: %v", err)
	}
}
