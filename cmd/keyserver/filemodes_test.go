package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRun_FileModes (hardening defect 10): a master key that group or
// others may read is refused with a message saying how to fix it, in the
// data dir and from --master-key-file; a data dir or store open to others
// is served with a warning naming it.
func TestRun_FileModes(t *testing.T) {
	env := func(string) string { return "" }
	// A run that wrongly starts serving ends with this context instead of
	// hanging the test.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	key := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32)) + "\n"

	// --master-key-file at 0666 and 0640.
	for _, mode := range []os.FileMode{0o666, 0o640} {
		dir := t.TempDir()
		kf := filepath.Join(dir, "mk")
		if err := os.WriteFile(kf, []byte(key), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(kf, mode); err != nil {
			t.Fatal(err)
		}
		err := run(ctx, []string{"--data-dir", filepath.Join(dir, "data"), "--master-key-file", kf}, env, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "chmod 600 "+kf) {
			t.Errorf("master key file at %04o: %v, want a refusal saying chmod 600", mode, err)
		}
		if _, serr := os.Stat(filepath.Join(dir, "data", "keys.db")); serr == nil {
			t.Errorf("master key file at %04o: a store was created anyway", mode)
		}
	}

	// The development key in the data dir at 0644, after a first run made it.
	dir := t.TempDir()
	p := startProc(t, dir)
	p.stop(t)
	if err := os.Chmod(filepath.Join(dir, "master.key"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := run(ctx, []string{"--data-dir", dir}, env, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("master.key at 0644: %v, want a refusal saying chmod 600", err)
	}
	if err := os.Chmod(filepath.Join(dir, "master.key"), 0o600); err != nil {
		t.Fatal(err)
	}

	// A data dir at 0777 and a store at 0644 are served, with warnings.
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(dir, "keys.db"), 0o644); err != nil {
		t.Fatal(err)
	}
	p = startProc(t, dir)
	p.stop(t)
	for _, want := range []string{"path=" + dir + " mode=0777", "path=" + filepath.Join(dir, "keys.db") + " mode=0644"} {
		if !strings.Contains(p.stderr.String(), want) {
			t.Errorf("no warning with %q in:\n%s", want, p.stderr)
		}
	}
}
