package main

// keyctl cpix: fetch a CPIX document for a content (to hand to a packager
// that reads CPIX from a file), and decrypt an encrypted CPIX document with
// a recipient's private key (to debug encrypted delivery).

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/keyserver/keyserver/cpix"
)

const cpixUsage = `usage:
  keyctl cpix fetch -content ID [-tenant T (default: default)] [-drm WV,PR,FPS] [-scheme cbcs|cenc] [-tracks ALL|SD,HD,UHD1,UHD2,AUDIO] [-start RFC3339 -end RFC3339] [-o FILE]
  keyctl cpix decrypt -key PRIVATE-KEY.pem [-in FILE] [-o FILE]`

// runCPIX runs "keyctl cpix …" (args after "cpix").
func runCPIX(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintln(stderr, cpixUsage)
		return usagef("cpix: want fetch or decrypt")
	}
	switch args[0] {
	case "fetch":
		return cpixFetch(ctx, args[1:], stdout, stderr)
	case "decrypt":
		return cpixDecrypt(args[1:], stdout, stderr)
	}
	fmt.Fprintln(stderr, cpixUsage)
	return usagef("cpix: unknown command %q: want fetch or decrypt", args[0])
}

func cpixFetch(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("keyctl cpix fetch", flag.ContinueOnError)
	fs.SetOutput(stderr)
	server := fs.String("server", envOr("KEYCTL_SERVER", "http://127.0.0.1:8080"), "key server REST base URL (env KEYCTL_SERVER)")
	tenant := fs.String("tenant", "default", "tenant id (the key server's default tenant is named default unless configured otherwise)")
	content := fs.String("content", "", "content id, required")
	drms := fs.String("drm", "", "DRM systems, comma-separated (WV, PR, FPS, PRM); empty: the server's default")
	scheme := fs.String("scheme", "", "cbcs or cenc; empty: cbcs")
	tracks := fs.String("tracks", "", "ALL (one key) or track types SD,HD,UHD1,UHD2,AUDIO")
	start := fs.String("start", "", "live window start, RFC 3339 (with -end): one key per crypto period")
	end := fs.String("end", "", "live window end, RFC 3339")
	auth := fs.String("auth", os.Getenv("KEYCTL_AUTH"), "nv-authorizations header value (env KEYCTL_AUTH)")
	out := fs.String("o", "", "write the document to this file (mode 0600) instead of stdout")
	timeout := fs.Duration("timeout", 30*time.Second, "request timeout")
	if err := fs.Parse(args); err != nil {
		return parseError(err)
	}
	if *content == "" || fs.NArg() > 0 {
		return usagef("cpix fetch: -content is required and takes no arguments")
	}
	t := *tenant
	q := url.Values{}
	for k, v := range map[string]string{"drm": *drms, "scheme": *scheme, "tracks": *tracks, "start": *start, "end": *end} {
		if v != "" {
			q.Set(k, v)
		}
	}
	u := strings.TrimSuffix(*server, "/") + "/" + url.PathEscape(t) + "/cpix/" + url.PathEscape(*content)
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	if *auth != "" {
		req.Header.Set("nv-authorizations", *auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return &exitError{exitUnavailable, err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return &exitError{exitUnavailable, err}
	}
	if resp.StatusCode != http.StatusOK {
		return &exitError{httpExitCode(resp.StatusCode), fmt.Errorf("cpix fetch: HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(body)))}
	}
	return writeOut(*out, body, stdout)
}

func cpixDecrypt(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("keyctl cpix decrypt", flag.ContinueOnError)
	fs.SetOutput(stderr)
	keyFile := fs.String("key", "", "PEM private key (PKCS#1 or PKCS#8, RSA) of a recipient of the document, required")
	in := fs.String("in", "-", "the encrypted CPIX document; - is stdin")
	out := fs.String("o", "", "write the decrypted document to this file (mode 0600) instead of stdout")
	if err := fs.Parse(args); err != nil {
		return parseError(err)
	}
	if *keyFile == "" || fs.NArg() > 0 {
		return usagef("cpix decrypt: -key is required and takes no arguments")
	}
	priv, err := readRSAKey(*keyFile)
	if err != nil {
		return err
	}
	var doc []byte
	if *in == "-" {
		doc, err = io.ReadAll(io.LimitReader(os.Stdin, 64<<20))
	} else {
		doc, err = os.ReadFile(*in)
	}
	if err != nil {
		return err
	}
	d, err := cpix.Parse(doc, cpix.Limits{})
	if err != nil {
		return err
	}
	if err := d.Decrypt(priv); err != nil {
		return fmt.Errorf("cpix decrypt: %w", err)
	}
	b, err := d.Bytes()
	if err != nil {
		return err
	}
	return writeOut(*out, b, stdout)
}

func readRSAKey(path string) (*rsa.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, fmt.Errorf("%s: no PEM block", path)
	}
	if k, err := x509.ParsePKCS1PrivateKey(blk.Bytes); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: not a PKCS#1 or PKCS#8 private key", path)
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%s: not an RSA key", path)
	}
	return rk, nil
}

// writeOut writes b to path (created 0600: it may hold keys) or to stdout.
func writeOut(path string, b []byte, stdout io.Writer) error {
	if path == "" {
		_, err := stdout.Write(b)
		return err
	}
	return os.WriteFile(path, b, 0o600)
}
