package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "keyserver-bin")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "keyserver")
	out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput()
	if err != nil {
		os.Stderr.Write(out)
		panic(err)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// proc is a running keyserver process.
type proc struct {
	cmd    *exec.Cmd
	http   string
	grpc   string
	stderr *bytes.Buffer
}

var listening = regexp.MustCompile(`keyserver listening grpc=(\S+) http=(\S+)`)

// parseListening reads the addresses from the server's first stdout line,
// text or (--log-format json) JSON.
func parseListening(line string) (grpcAddr, httpAddr string, ok bool) {
	if strings.HasPrefix(line, "{") {
		var l struct{ Msg, GRPC, HTTP string }
		if json.Unmarshal([]byte(line), &l) != nil || l.Msg != "keyserver listening" {
			return "", "", false
		}
		return l.GRPC, l.HTTP, l.GRPC != "" && l.HTTP != ""
	}
	m := listening.FindStringSubmatch(line)
	if m == nil {
		return "", "", false
	}
	return m[1], m[2], true
}

func startProc(t *testing.T, dataDir string, extra ...string) *proc {
	t.Helper()
	return startProcEnv(t, dataDir, nil, extra...)
}

// startProcEnv is startProc with more environment variables.
func startProcEnv(t *testing.T, dataDir string, env []string, extra ...string) *proc {
	t.Helper()
	args := append([]string{"--data-dir", dataDir, "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0"}, extra...)
	cmd := exec.Command(binary, args...)
	cmd.Env = append(append(os.Environ(), "KEYSERVER_DEFAULT_TENANT=NAG0000"), env...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, stderr: &bytes.Buffer{}}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("keyserver did not start: %v\n%s", err, p.stderr)
	}
	grpcAddr, httpAddr, ok := parseListening(line)
	if !ok {
		t.Fatalf("unexpected first line %q", line)
	}
	p.grpc, p.http = grpcAddr, "http://"+httpAddr
	go io.Copy(io.Discard, stdout)
	return p
}

func (p *proc) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("keyserver exited with %v\n%s", err, p.stderr)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("keyserver did not stop within 30s of SIGTERM")
	}
}

func (p *proc) key(t *testing.T, body string) string {
	t.Helper()
	res, err := http.Post(p.http+"/ckm/v1/keyAndSignalization", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out struct {
		Status     string
		ContentKey struct{ KeyID, Key, IV string }
	}
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil || out.Status != "OK" {
		t.Fatalf("status %q, err %v", out.Status, err)
	}
	return out.ContentKey.KeyID + "|" + out.ContentKey.Key + "|" + out.ContentKey.IV
}

// TestProcess_RestartKeepsKeys runs the real binary on its embedded
// default (a fresh data dir, a generated development master key), stops it
// with SIGTERM, starts it again and gets the same keys back.
func TestProcess_RestartKeepsKeys(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	p := startProc(t, dir)
	bodies := []string{
		`{"drmContent":{"drmContentId":"movie-1","profile":{"distributionMode":"VOD"}}}`,
		`{"drmContent":{"drmContentId":"channel-7","profile":{"distributionMode":"LIVE","streamingMode":"DASH"}},"scheduledKey":{"time":"2026-11-24T10:00:00Z"}}`,
	}
	var keys []string
	for _, b := range bodies {
		keys = append(keys, p.key(t, b))
	}
	p.stop(t)
	if !strings.Contains(p.stderr.String(), "development master key") {
		t.Errorf("no development-default warning in the log:\n%s", p.stderr)
	}
	fi, err := os.Stat(filepath.Join(dir, "master.key"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("master.key mode %v, want 0600", fi.Mode().Perm())
	}
	for _, k := range keys {
		if strings.Contains(p.stderr.String(), strings.Split(k, "|")[1]) {
			t.Error("a key appears in the log")
		}
	}

	p = startProc(t, dir)
	for i, b := range bodies {
		if got := p.key(t, b); got != keys[i] {
			t.Errorf("request %d: key changed across a process restart", i)
		}
	}
	p.stop(t)
}

func TestRun_BadFlags(t *testing.T) {
	var stderr bytes.Buffer
	getenv := func(k string) string {
		if k == "KEYSERVER_LOG_FORMAT" {
			return "xml"
		}
		return ""
	}
	err := run(context.Background(), []string{"--data-dir", t.TempDir()}, getenv, io.Discard, &stderr)
	if err == nil || !strings.Contains(err.Error(), "log-format") {
		t.Errorf("KEYSERVER_LOG_FORMAT=xml: %v", err)
	}
	// A flag on the command line wins over the environment.
	o, err := parseFlags([]string{"--log-format", "json"}, getenv, io.Discard, &stderr)
	if err != nil || o.logFormat != "json" {
		t.Errorf("flag over env: %+v %v", o, err)
	}
	// A store without its master key is refused, not overwritten.
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "keys.db"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	err = run(context.Background(), []string{"--data-dir", dir}, func(string) string { return "" }, io.Discard, &stderr)
	if err == nil || !strings.Contains(err.Error(), "master key") {
		t.Errorf("missing master key next to a store: %v", err)
	}
}
