package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// target is the keyserver under test: a process keybench started (cmd
// set) or one given with --target-grpc/--target-http.
type target struct {
	grpcAddr  string
	httpAddr  string
	pprofAddr string
	pid       int // 0: unknown (no memory scenario)
	cmd       *exec.Cmd
	exited    chan error
	logPath   string
}

// Tenants of the configuration keybench writes for the server it starts.
// With --target, the server must have them: PREGEN with a 10 s crypto
// period (the pregen scenario's 24 h of 10-second periods). BENCH's LIVE
// keys rotate daily (at 00:00 UTC): the hit scenario checks every answer
// against the key first returned, and hourly periods made a run that
// crossed the hour fail every request after it.
const (
	benchTenant  = "BENCH"
	pregenTenant = "PREGEN"
)

const benchConfig = `defaultTenant: BENCH
tenants:
  BENCH:
    cryptoPeriodSeconds: 86400
  PREGEN:
    cryptoPeriodSeconds: 10
    horizon: 48h
`

var listeningLine = regexp.MustCompile(`^keyserver listening grpc=(\S+) http=(\S+)(?: pprof=(\S+))?`)

// buildKeyserver builds cmd/keyserver into dir and returns its path.
func buildKeyserver(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "keyserver")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/keyserver/keyserver/cmd/keyserver")
	cmd.Env = append(os.Environ(), "GOTOOLCHAIN=local")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build cmd/keyserver (run keybench inside the module, or pass --keyserver): %v\n%s", err, out)
	}
	return bin, nil
}

// prepareDataDir writes a master key and the bench configuration into dir
// (the master key only if absent, so a prepared store stays readable).
func prepareDataDir(dir string) (masterKey [32]byte, err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return masterKey, err
	}
	mkPath := filepath.Join(dir, "bench-master.key")
	if b, err := os.ReadFile(mkPath); err == nil {
		d, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
		if err != nil || len(d) != 32 {
			return masterKey, fmt.Errorf("%s: not a base64 master key", mkPath)
		}
		copy(masterKey[:], d)
	} else {
		_, _ = rand.Read(masterKey[:])
		if err := os.WriteFile(mkPath, []byte(base64.StdEncoding.EncodeToString(masterKey[:])+"\n"), 0o600); err != nil {
			return masterKey, err
		}
	}
	return masterKey, os.WriteFile(filepath.Join(dir, "bench-config.yaml"), []byte(benchConfig), 0o600)
}

// startServer runs bin on dir with 127.0.0.1:0 listeners and waits for its
// first stdout line, which names the addresses. Server logs go to
// dir/server.log.
func startServer(bin, dir, logLevel string, pprof bool) (*target, error) {
	args := []string{
		"--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0",
		"--data-dir", dir,
		"--master-key-file", filepath.Join(dir, "bench-master.key"),
		"--config", filepath.Join(dir, "bench-config.yaml"),
		"--log-level", logLevel,
	}
	if pprof {
		args = append(args, "--pprof-addr", "127.0.0.1:0")
	}
	t := &target{logPath: filepath.Join(dir, "server.log"), exited: make(chan error, 1)}
	logf, err := os.OpenFile(t.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	defer logf.Close() // the child holds its own descriptor
	t.cmd = exec.Command(bin, args...)
	t.cmd.Stderr = logf
	stdout, err := t.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := t.cmd.Start(); err != nil {
		return nil, err
	}
	t.pid = t.cmd.Process.Pid
	lines := make(chan string, 1)
	go func() {
		r := bufio.NewReader(stdout)
		line, _ := r.ReadString('\n')
		lines <- line
		_, _ = io.Copy(io.Discard, r)
		t.exited <- t.cmd.Wait()
	}()
	select {
	case line := <-lines:
		m := listeningLine.FindStringSubmatch(line)
		if m == nil {
			t.kill()
			return nil, fmt.Errorf("keyserver did not start: first line %q; log %s:\n%s", line, t.logPath, tail(t.logPath))
		}
		t.grpcAddr, t.httpAddr, t.pprofAddr = m[1], m[2], m[3]
		return t, nil
	case <-time.After(60 * time.Second):
		t.kill()
		return nil, errors.New("keyserver printed no listening line within 60s")
	}
}

// stop sends SIGTERM and waits (bounded) for a clean exit.
func (t *target) stop() error {
	if t.cmd == nil {
		return nil
	}
	_ = t.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-t.exited:
		t.cmd = nil
		if err != nil {
			return fmt.Errorf("keyserver exited with %v; log %s:\n%s", err, t.logPath, tail(t.logPath))
		}
		return nil
	case <-time.After(30 * time.Second):
		t.kill()
		return errors.New("keyserver did not stop within 30s of SIGTERM")
	}
}

func (t *target) kill() {
	if t.cmd == nil {
		return
	}
	_ = t.cmd.Process.Kill()
	<-t.exited
	t.cmd = nil
}

// rssKiB reads VmRSS of pid from /proc.
func rssKiB(pid int) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(v)
			if len(f) == 2 && f[1] == "kB" {
				return strconv.ParseInt(f[0], 10, 64)
			}
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}

func tail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(bytes.TrimSpace(b))
}
