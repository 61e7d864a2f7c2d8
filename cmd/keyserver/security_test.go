package main

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyserver/keyserver/internal/testcert"
)

// hs256 mints an AuthN token by hand (independent of the server's JWT
// library).
func hs256(kid string, key []byte, exp time.Time) string {
	enc := base64.RawURLEncoding.EncodeToString
	s := enc([]byte(`{"kid":"`+kid+`","typ":"JWT","alg":"HS256"}`)) + "." +
		enc([]byte(fmt.Sprintf(`{"ver":"1.0","typ":"AuthN","exp":%d}`, exp.Unix())))
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(s))
	return s + "." + enc(mac.Sum(nil))
}

// TestProcess_AuthAndMutualTLS runs the binary with --auth=required,
// credentials from the config file and from --credentials-file, and mutual
// TLS, then checks who gets a key and that no secret reaches the log. The
// server certificate is not valid for client authentication (REST calls
// the key service in process), and the deprecated --gateway-* flags are
// accepted with a warning, not read.
func TestProcess_AuthAndMutualTLS(t *testing.T) {
	dir := t.TempDir()
	ca := testcert.NewCA(t, "test CA")
	certFile, keyFile := testcert.WritePair(t, ca.Issue(t, "keyserver", testcert.Server), dir, "server")
	caFile := ca.WriteCA(t, dir, "ca.pem")
	client := ca.Issue(t, "packager", testcert.Client)

	keyA, keyB := make([]byte, 32), make([]byte, 32)
	_, _ = rand.Read(keyA)
	_, _ = rand.Read(keyB)
	b64A, b64B := base64.StdEncoding.EncodeToString(keyA), base64.StdEncoding.EncodeToString(keyB)
	cfgFile := filepath.Join(dir, "keyserver.yaml")
	writeFile(t, cfgFile, "defaultTenant: NAG0000\nauth:\n  leeway: 30s\n  credentials:\n"+
		"    - {credentialId: \"482182\", tenantId: NAG0000, signingKey: \""+b64A+"\", privilege: [CKM]}\n")
	credFile := filepath.Join(dir, "creds.json")
	writeFile(t, credFile, `{"tenantId":"NAG0001","credentialName":"packager","credentialId":"777","signingKey":"`+b64B+`","privilege":["SMS","CKM"],"encryptionKey":"ignored"}`)

	p := startProc(t, filepath.Join(dir, "data"), "--config", cfgFile, "--auth=required", "--credentials-file", credFile,
		"--tls-cert-file", certFile, "--tls-key-file", keyFile, "--client-ca-file", caFile, "--log-level", "debug",
		"--gateway-cert-file", filepath.Join(dir, "absent.pem"), "--gateway-key-file", filepath.Join(dir, "absent-key.pem"))
	base := "https://" + strings.TrimPrefix(p.http, "http://")
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool, Certificates: []tls.Certificate{client}}}}
	post := func(c *http.Client, path, token string) (int, string, error) {
		req, _ := http.NewRequest(http.MethodPost, base+path, strings.NewReader(`{"drmContent":{"drmContentId":"m","profile":{"distributionMode":"VOD"}}}`))
		if token != "" {
			req.Header.Set("nv-authorizations", token)
		}
		res, err := c.Do(req)
		if err != nil {
			return 0, "", err
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b), nil
	}
	tokA, tokB := hs256("482182", keyA, time.Now().Add(time.Hour)), hs256("777", keyB, time.Now().Add(time.Hour))
	checks := []struct {
		path, token string
		want        int
	}{
		{"/ckm/v1/keyAndSignalization", tokA, 200},
		{"/NAG0001/ckm/v1/keyAndSignalization", tokB, 200},
		{"/NAG0000/ckm/v1/keyAndSignalization", "", 401},
		{"/NAG0000/ckm/v1/keyAndSignalization", tokB, 403},
		{"/NAG0000/ckm/v1/keyAndSignalization", hs256("482182", keyA, time.Now().Add(-time.Minute)), 401},
	}
	for _, c := range checks {
		code, body, err := post(hc, c.path, c.token)
		if err != nil || code != c.want {
			t.Errorf("POST %s: %d %s %v, want %d", c.path, code, body, err, c.want)
		}
	}
	noCert := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool}}}
	if code, _, err := post(noCert, "/ckm/v1/keyAndSignalization", tokA); err == nil {
		t.Errorf("client without certificate got HTTP %d", code)
	}
	p.stop(t)
	logs := p.stderr.String()
	if !strings.Contains(logs, "serving TLS") || strings.Contains(logs, "plain text") {
		t.Errorf("startup log does not say TLS:\n%s", logs)
	}
	if !strings.Contains(logs, "--gateway-cert-file and --gateway-key-file are ignored") {
		t.Errorf("no warning about the ignored --gateway-* flags:\n%s", logs)
	}
	if !strings.Contains(logs, "credentials=2") {
		t.Errorf("log does not count the two credentials:\n%s", logs)
	}
	for _, s := range []string{b64A, b64B, tokA, tokB, strings.Split(tokA, ".")[2]} {
		if strings.Contains(logs, s) {
			t.Errorf("log holds a secret")
		}
	}
}

func TestRun_SecurityFlagErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	writeFile(t, bad, "- {credentialId: a, tenantId: T, signingKey: \"sec ret!\", privilege: [CKM]}\n")
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--auth=sometimes"}, "--auth"},
		{[]string{"--auth=required"}, "at least one credential"},
		{[]string{"--tls-cert-file", "x.pem"}, "go together"},
		{[]string{"--client-ca-file", "ca.pem"}, "needs --tls-cert-file"},
		{[]string{"--credentials-file", bad}, "signingKey is not standard base64"},
		{[]string{"--credentials-file", filepath.Join(dir, "missing.yaml")}, "--credentials-file"},
	}
	done, cancel := context.WithCancel(context.Background())
	cancel() // should a case wrongly start serving, it stops at once
	for _, c := range cases {
		args := append([]string{"--data-dir", filepath.Join(dir, "data"), "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0"}, c.args...)
		err := run(done, args, func(string) string { return "" }, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want %q", c.args, err, c.want)
			continue
		}
		if strings.Contains(err.Error(), "sec ret") {
			t.Errorf("%v: error shows the signing key: %v", c.args, err)
		}
	}
}

func writeFile(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}
