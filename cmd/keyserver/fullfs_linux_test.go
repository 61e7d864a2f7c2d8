package main

import (
	"errors"
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
)

// zeros is an endless reader of zero bytes.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// mountTmpfs mounts a tmpfs of the given size on a temp dir for the test
// (skipping it, with the reason, where mounting is not permitted).
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here (needs root and mount permission): %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", "-l", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", mnt, err, out)
		}
	})
	return mnt
}

// TestFaults_FullFilesystem runs the real binary on a small tmpfs and fills
// the filesystem with another file until writes fail with ENOSPC: new keys
// are refused with 503 while existing keys are served; once the filler is
// deleted, keys are created again without a restart, and every key handed
// out survives a restart. (TestFaults_DiskFull covers the same through a
// file-size limit; this is the real "no space left on device".)
func TestFaults_FullFilesystem(t *testing.T) {
	mnt := mountTmpfs(t, "8m")
	dir := filepath.Join(mnt, "data")
	p := startProc(t, dir)
	got := &issued{keys: map[string]string{}}
	createAll(t, p, got, "before", 20, " before the fault")

	// Fill the filesystem.
	filler := filepath.Join(mnt, "filler")
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.Copy(f, zeros{})
	f.Close()
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("filling the tmpfs: %v, want ENOSPC", err)
	}

	fillUntilRefused(t, p, got)

	// Space is back: creations work again in the same process.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	createAll(t, p, got, "after", 50, " after space came back")
	p.stop(t)
	assertDurable(t, dir, got)
}

// TestFaults_ReadOnlyFilesystem: the data directory's filesystem is
// read-only when the server starts. It starts anyway, serves every existing
// key, answers new keys 503 UNAVALAIBLE_SERVICE, and once the filesystem is
// writable again creates keys without a restart. (Linux refuses to remount
// a filesystem read-only while a process holds a file open for writing, so
// the fault is set between two runs of the server.)
func TestFaults_ReadOnlyFilesystem(t *testing.T) {
	mnt := mountTmpfs(t, "16m")
	remount := func(mode string) {
		t.Helper()
		if out, err := exec.Command("mount", "-o", "remount,"+mode, mnt).CombinedOutput(); err != nil {
			t.Fatalf("remount %s: %v: %s", mode, err, out)
		}
	}
	dir := filepath.Join(mnt, "data")
	p := startProc(t, dir)
	got := &issued{keys: map[string]string{}}
	createAll(t, p, got, "before", 20, "")
	p.stop(t)

	remount("ro")
	p = startProc(t, dir, "--store-retry-interval", "50ms")
	assertServed(t, p, got, "on a read-only filesystem")
	for i := 0; i < 5; i++ {
		if code, _ := postStatus(t, p, fmt.Sprintf("while-ro-%d", i)); code != http.StatusServiceUnavailable {
			t.Fatalf("creation on a read-only filesystem: HTTP %d, want 503", code)
		}
	}

	// Writable again: a later creation reopens the store read-write. Poll
	// (each attempt is a real request) until it succeeds, bounded.
	remount("rw")
	deadline := time.Now().Add(30 * time.Second)
	for i := 0; ; i++ {
		id := fmt.Sprintf("after-%d", i)
		code, key := postStatus(t, p, id)
		if code == http.StatusOK {
			got.add(id+"|0", key)
			break
		}
		if code != http.StatusServiceUnavailable || time.Now().After(deadline) {
			t.Fatalf("after the filesystem became writable: HTTP %d", code)
		}
	}
	createAll(t, p, got, "later", 20, " after recovery")
	p.stop(t)
	if !strings.Contains(p.stderr.String(), "not writable") {
		t.Errorf("no warning about the read-only store in the log:\n%s", p.stderr)
	}
	assertDurable(t, dir, got)
}

// TestFaults_ReadOnlyReadiness: on a read-only filesystem the server is
// alive and healthy (stored keys are served) but not ready for new keys:
// /readyz answers 503 with the reason. When the filesystem is writable
// again, the readiness probes alone (no request for a new key reaches a
// server a load balancer took out of the pool) bring the store back.
func TestFaults_ReadOnlyReadiness(t *testing.T) {
	mnt := mountTmpfs(t, "16m")
	remount := func(mode string) {
		t.Helper()
		if out, err := exec.Command("mount", "-o", "remount,"+mode, mnt).CombinedOutput(); err != nil {
			t.Fatalf("remount %s: %v: %s", mode, err, out)
		}
	}
	dir := filepath.Join(mnt, "data")
	p := startProc(t, dir)
	got := &issued{keys: map[string]string{}}
	createAll(t, p, got, "before", 3, "")
	p.stop(t)

	remount("ro")
	p = startProc(t, dir, "--store-retry-interval", "50ms")
	get := func(path string) (int, string) {
		t.Helper()
		res, err := http.Get(p.http + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	if code, body := get("/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "read-only") {
		t.Errorf("/readyz on a read-only store: %d %s", code, body)
	}
	for _, path := range []string{"/livez", "/healthz"} {
		if code, body := get(path); code != http.StatusOK {
			t.Errorf("%s on a read-only store: %d %s", path, code, body)
		}
	}
	assertServed(t, p, got, "on a read-only filesystem")

	remount("rw")
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, body := get("/readyz")
		if code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz still %d %s 30s after the filesystem became writable", code, body)
		}
	}
	createAll(t, p, got, "after", 3, " after recovery")
	p.stop(t)
	assertDurable(t, dir, got)
}
