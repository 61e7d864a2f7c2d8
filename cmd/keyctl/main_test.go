package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/keyserver/keyserver/app"
	"github.com/keyserver/keyserver/app/apptest"
)

// keyctl runs keyctl's run with args and returns its exit code and output.
func keyctl(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	err := run(context.Background(), args, &out, &errb)
	return exitCode(err), out.String(), errb.String()
}

// keysLine returns the --keys= line of keyctl's output.
func keysLine(t *testing.T, out string) string {
	t.Helper()
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "--keys=") {
			return l
		}
	}
	t.Fatalf("no --keys line in %q", out)
	return ""
}

// TestRun_Label: -label names the streams the content's key is for and
// says on stderr that it is the content's one key (issue 20: the README
// promised one stream's key; the Nagra API has one key per content).
func TestRun_Label(t *testing.T) {
	t.Setenv("KEYCTL_AUTH", "")
	env := apptest.Start(t, app.Config{DefaultTenant: "NAG0000"})
	code, plain, errPlain := keyctl(t, "-server", env.HTTPURL, "-content", "movie-42")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errPlain)
	}
	code, sd, errSD := keyctl(t, "-server", env.HTTPURL, "-content", "movie-42", "-label", "SD")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errSD)
	}
	kp, ks := keysLine(t, plain), keysLine(t, sd)
	if !strings.HasPrefix(kp, "--keys=label=:key_id=") || !strings.HasPrefix(ks, "--keys=label=SD:key_id=") {
		t.Errorf("labels: %q / %q", kp, ks)
	}
	if strings.TrimPrefix(kp, "--keys=label=") != strings.TrimPrefix(ks, "--keys=label=SD") {
		t.Errorf("-label SD changed the key: %q / %q", kp, ks)
	}
	if errPlain != "" {
		t.Errorf("stderr without -label: %q", errPlain)
	}
	if !strings.Contains(errSD, "label SD gets the content's one key") {
		t.Errorf("no note about the one key on stderr: %q", errSD)
	}
}

// TestExitCodes: help and version exit 0; usage errors 2; a refusal by
// the server (HTTP 4xx) 3; a server or network that is unavailable
// (connection refused, timeout, HTTP 5xx) 4 (issue 20: every failure was 2).
func TestExitCodes(t *testing.T) {
	t.Setenv("KEYCTL_AUTH", "")
	required := apptest.Start(t, app.Config{DefaultTenant: "NAG0000", Auth: app.Auth{Required: true, Credentials: []app.Credential{
		{ID: "1", Tenant: "NAG0000", SigningKey: bytes.Repeat([]byte{7}, 32), Privileges: []string{"CKM"}},
	}}})

	// A port nobody listens on.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := "http://" + l.Addr().String()
	l.Close()

	// A server that accepts connections and never answers.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { silent.Close() })
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
		}
	}()

	// A server that answers 503 as the key server does when busy.
	busyL, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	busy := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(`{"status":"UNAVALAIBLE_SERVICE","errorMessage":"busy"}`))
	})}
	go func() { _ = busy.Serve(busyL) }()
	t.Cleanup(func() { busy.Close() })

	cases := []struct {
		name string
		args []string
		want int
		out  string // in stdout (exit 0) or stderr
	}{
		{"help", []string{"-h"}, exitOK, "Exit status"},
		{"version", []string{"--version"}, exitOK, "keyctl "},
		{"unknown flag", []string{"-bogus"}, exitUsage, "keyctl -h"},
		{"no content", []string{"-server", required.HTTPURL}, exitUsage, ""},
		{"bad -at", []string{"-content", "c", "-live", "-at", "yesterday"}, exitUsage, ""},
		{"unauthenticated", []string{"-server", required.HTTPURL, "-content", "c"}, exitRefused, ""},
		{"connection refused", []string{"-server", refused, "-content", "c"}, exitUnavailable, ""},
		{"timeout", []string{"-server", "http://" + silent.Addr().String(), "-content", "c", "-timeout", "200ms"}, exitUnavailable, ""},
		{"HTTP 503", []string{"-server", "http://" + busyL.Addr().String(), "-content", "c"}, exitUnavailable, ""},
		{"cpix without command", []string{"cpix"}, exitUsage, "keyctl cpix fetch"},
		{"cpix fetch unknown flag", []string{"cpix", "fetch", "-bogus"}, exitUsage, "bogus"},
		{"cpix fetch refused", []string{"cpix", "fetch", "-server", required.HTTPURL, "-tenant", "NAG0000", "-content", "c"}, exitRefused, ""},
		{"cpix fetch connection refused", []string{"cpix", "fetch", "-server", refused, "-content", "c"}, exitUnavailable, ""},
		{"cpix fetch HTTP 503", []string{"cpix", "fetch", "-server", "http://" + busyL.Addr().String(), "-content", "c"}, exitUnavailable, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			err := run(context.Background(), c.args, &out, &errb)
			if got := exitCode(err); got != c.want {
				t.Errorf("exit %d, want %d (err %v)", got, c.want, err)
			}
			if !strings.Contains(out.String()+errb.String(), c.out) {
				t.Errorf("output lacks %q: %q %q", c.out, out.String(), errb.String())
			}
		})
	}
	if exitCode(nil) != exitOK {
		t.Error("nil error is not exit 0")
	}
}
