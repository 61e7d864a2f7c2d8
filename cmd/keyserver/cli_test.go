package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// runBinary runs the built keyserver with args to its end and returns its
// exit code, stdout and stderr.
func runBinary(t *testing.T, env []string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, stdout.String(), stderr.String()
	case errors.As(err, &ee):
		return ee.ExitCode(), stdout.String(), stderr.String()
	}
	t.Fatal(err)
	return 0, "", ""
}

// TestBinary_Help: -h and --help print the usage, with the environment
// form of the flags, to stdout and exit 0 (issue 20: exit 1 and "flag:
// help requested" before).
func TestBinary_Help(t *testing.T) {
	for _, arg := range []string{"-h", "--help"} {
		code, stdout, stderr := runBinary(t, nil, arg)
		if code != 0 {
			t.Errorf("%s: exit %d, want 0", arg, code)
		}
		for _, want := range []string{"Usage: keyserver", "KEYSERVER_<FLAG>", "KEYSERVER_HTTP_ADDR", "-http-addr", "-version"} {
			if !strings.Contains(stdout, want) {
				t.Errorf("%s: usage lacks %q:\n%s", arg, want, stdout)
			}
		}
		if strings.Contains(stdout+stderr, "help requested") {
			t.Errorf("%s: prints flag.ErrHelp:\n%s%s", arg, stdout, stderr)
		}
	}
}

// TestBinary_UsageError: an unknown flag is named once, with a pointer to
// -h, and exits 2.
func TestBinary_UsageError(t *testing.T) {
	code, stdout, stderr := runBinary(t, nil, "--no-such-flag")
	if code != 2 {
		t.Errorf("exit %d, want 2", code)
	}
	if n := strings.Count(stderr, "no-such-flag"); n != 1 {
		t.Errorf("the unknown flag is named %d times, want once:\n%s", n, stderr)
	}
	if !strings.Contains(stderr, "keyserver -h") || stdout != "" {
		t.Errorf("stdout %q, stderr:\n%s", stdout, stderr)
	}
}

// TestBinary_Version: --version prints one line with the version, the
// commit and the Go version, exits 0 and starts nothing; the server's first
// log line carries the same.
func TestBinary_Version(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	code, stdout, stderr := runBinary(t, nil, "--version", "--data-dir", dir)
	if code != 0 || stderr != "" {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	if !strings.HasPrefix(stdout, "keyserver ") || !strings.Contains(stdout, " commit ") || !strings.Contains(stdout, runtime.Version()) || strings.Count(stdout, "\n") != 1 {
		t.Errorf("--version printed %q", stdout)
	}
	if _, err := os.Stat(dir); err == nil {
		t.Error("--version created the data dir")
	}
	// KEYSERVER_VERSION is not a setting: the server starts.
	p := startProcEnv(t, filepath.Join(t.TempDir(), "data"), []string{"KEYSERVER_VERSION=1"}, "--log-flush-interval", "0")
	p.stop(t)
	first, _, _ := strings.Cut(p.stderr.String(), "\n")
	if !strings.Contains(first, `msg="keyserver starting"`) || !strings.Contains(first, "version=") || !strings.Contains(first, "commit=") || !strings.Contains(first, "go="+runtime.Version()) {
		t.Errorf("first log line %q, want the version", first)
	}
}

// TestRun_EnvErrors: a bad KEYSERVER_<FLAG> value is named with the
// variable, the value and the expected type; all of them at once.
func TestRun_EnvErrors(t *testing.T) {
	env := map[string]string{"KEYSERVER_MAX_IN_FLIGHT": "lots", "KEYSERVER_REQUEST_TIMEOUT": "10", "KEYSERVER_GC_PERCENT": "1.5"}
	_, err := parseFlags(nil, func(k string) string { return env[k] }, io.Discard, io.Discard)
	if err == nil {
		t.Fatal("bad environment accepted")
	}
	for _, want := range []string{
		`KEYSERVER_MAX_IN_FLIGHT="lots": want an integer`,
		`KEYSERVER_REQUEST_TIMEOUT="10": want a duration`,
		`KEYSERVER_GC_PERCENT="1.5": want an integer`,
		"--max-in-flight",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "parse error") {
		t.Errorf("error still says only %q:\n%v", "parse error", err)
	}
}

// TestLoadConfig_Errors: config mistakes name the file, the line, the key
// path and what is expected, suggest the closest key, and name no Go type.
func TestLoadConfig_Errors(t *testing.T) {
	cases := []struct {
		name, yaml string
		want       []string
	}{
		{"typo in a tenant", "tenants:\n  NAG0000:\n    cryptoPeriodSecond: 600\n",
			[]string{":3: tenants.NAG0000: unknown key \"cryptoPeriodSecond\"; did you mean \"cryptoPeriodSeconds\"?"}},
		{"typo at the top", "defaultTenant: A\ndefault:\n  horizon: 1h\n",
			[]string{":2: unknown key \"default\"; did you mean \"defaults\"?"}},
		{"nothing close", "tenants: {}\nfrobnicate: 1\n",
			[]string{":2: unknown key \"frobnicate\"; known keys here: auth, defaultTenant, defaults, tenants"}},
		{"integer", "defaults:\n  cryptoPeriodSeconds: ten\n",
			[]string{":2: defaults.cryptoPeriodSeconds: \"ten\" is not an integer"}},
		{"duration without unit", "tenants:\n  A:\n    horizon: 3600\n",
			[]string{":3: tenants.A.horizon: \"3600\" is not a duration: want a number with a unit, such as 90s"}},
		{"list for a string", "defaults:\n  licenseBaseUrl: [a, b]\n",
			[]string{":2: defaults.licenseBaseUrl: want a single value (text), not a list"}},
		{"credential key", "auth:\n  credentials:\n    - credentialId: \"1\"\n      tenantID: A\n",
			[]string{":4: auth.credentials[0]: unknown key \"tenantID\"; did you mean \"tenantId\"?"}},
		{"signer key, value hidden", "defaults:\n  widevineSigners:\n    p1: {aesKey: zz-secret-zz, aesIv: 00}\n",
			[]string{":3: defaults.widevineSigners.p1.aesKey: not hex"}},
		{"two at once", "tenants:\n  A:\n    horizn: 1h\n  B:\n    drmName: {}\n",
			[]string{":3: tenants.A: unknown key \"horizn\"; did you mean \"horizon\"?", ":5: tenants.B: unknown key \"drmName\"; did you mean \"drmNames\"?"}},
		{"not YAML", "tenants: [\n", []string{"not valid YAML", "line"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "keyserver.yaml")
			if err := os.WriteFile(path, []byte(c.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := loadConfig(path)
			if err == nil {
				t.Fatal("accepted")
			}
			msg := err.Error()
			for _, w := range c.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error lacks %q:\n%s", w, msg)
				}
			}
			if !strings.Contains(msg, "config "+path) {
				t.Errorf("error does not name the file:\n%s", msg)
			}
			for _, bad := range []string{"main.", "app.", "server.", "widevine.", "zz-secret-zz", "unmarshal"} {
				if strings.Contains(strings.ReplaceAll(msg, path, "FILE"), bad) {
					t.Errorf("error contains %q:\n%s", bad, msg)
				}
			}
		})
	}
}

// TestProcess_JSONLogs: with --log-format json every line the server
// writes, on stdout and stderr, is one JSON object (issue 20: the
// listening line on stdout was text).
func TestProcess_JSONLogs(t *testing.T) {
	cmd := exec.Command(binary, "--data-dir", filepath.Join(t.TempDir(), "data"), "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--log-format", "json")
	stdout := &firstLine{ready: make(chan struct{})}
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	select {
	case <-stdout.ready:
	case <-time.After(60 * time.Second):
		t.Fatalf("no stdout line within 60s:\n%s", stderr.String())
	}
	_, httpAddr, ok := parseListening(stdout.String())
	if !ok {
		t.Fatalf("first stdout line %q", stdout.String())
	}
	res, err := http.Get("http://" + httpAddr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit: %v\n%s", err, stderr.String())
	}
	for name, out := range map[string]string{"stdout": stdout.String(), "stderr": stderr.String()} {
		lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
		for _, l := range lines {
			var m map[string]any
			if err := json.Unmarshal([]byte(l), &m); err != nil || m["msg"] == nil {
				t.Errorf("%s line is not a JSON log record: %q", name, l)
			}
		}
	}
	if !strings.Contains(stderr.String(), `"method":"GET /healthz"`) {
		t.Errorf("no request line for /healthz:\n%s", stderr.String())
	}
}

// firstLine collects a process's stdout and closes ready at the first
// newline.
type firstLine struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	ready chan struct{}
	once  sync.Once
}

func (f *firstLine) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.buf.Write(p)
	if bytes.IndexByte(f.buf.Bytes(), '\n') >= 0 {
		f.once.Do(func() { close(f.ready) })
	}
	return len(p), nil
}

func (f *firstLine) String() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.buf.String()
}

// TestBinary_JSONStartupError: with --log-format json, the error that
// stops the server at startup is a JSON log record too, not a text line.
func TestBinary_JSONStartupError(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "keyserver.yaml")
	if err := os.WriteFile(cfg, []byte("tenants:\n  A:\n    horizn: 1h\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runBinary(t, nil, "--log-format", "json", "--config", cfg, "--data-dir", filepath.Join(t.TempDir(), "data"))
	if code != 1 || stdout != "" {
		t.Fatalf("exit %d, stdout %q", code, stdout)
	}
	lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
	for _, l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Errorf("stderr line is not JSON: %q", l)
		}
	}
	last := lines[len(lines)-1]
	if !strings.Contains(last, `"level":"ERROR"`) || !strings.Contains(last, `did you mean \"horizon\"?`) {
		t.Errorf("last line %q, want the config error", last)
	}
	// In text mode the same error stays one plain line.
	code, _, stderr = runBinary(t, nil, "--config", cfg, "--data-dir", filepath.Join(t.TempDir(), "data"))
	if code != 1 || !strings.Contains(stderr, "\nkeyserver: config "+cfg+":3: tenants.A: unknown key") {
		t.Errorf("text mode: exit %d:\n%s", code, stderr)
	}
}
