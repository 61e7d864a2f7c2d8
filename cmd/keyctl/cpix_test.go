package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyserver/keyserver/app"
	"github.com/keyserver/keyserver/app/apptest"
	"github.com/keyserver/keyserver/cpix"
)

// TestCPIXDecrypt: the DASH-IF vector encrypted for Cert1 decrypts to the
// keys its Readme lists.
func TestCPIXDecrypt(t *testing.T) {
	out := filepath.Join(t.TempDir(), "clear.xml")
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"cpix", "decrypt", "-key", "../../cpix/testdata/vectors/pem/Cert1.key.pem",
		"-in", "../../cpix/testdata/vectors/EncryptedContentKeys.xml", "-o", out}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("%v: %s", err, stderr.String())
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(out); fi.Mode().Perm() != 0o600 {
		t.Errorf("output mode %v, want 0600", fi.Mode().Perm())
	}
	for _, want := range []string{"3rWoHYasQubO6HbJGrGtLw==", "O5w9FdZiwmQK4uIXzAziaQ==", "Cwu/3hSBBRQ7SurBdZD5ow==", "FB6/Eck9Y9SXy6bY8UU/Mw=="} {
		if !bytes.Contains(b, []byte("PlainValue>"+want+"<")) {
			t.Errorf("decrypted document lacks the Readme key %s", want)
		}
	}
	if bytes.Contains(b, []byte("EncryptedValue")) || bytes.Contains(b, []byte("DeliveryDataList")) {
		t.Error("decrypted document still holds encrypted values or delivery data")
	}
	if err := run(context.Background(), []string{"cpix", "decrypt", "-key", "../../cpix/testdata/vectors/pem/Cert2.key.pem",
		"-in", "../../cpix/testdata/vectors/EncryptedContentKeys.xml"}, &stdout, &stderr); err == nil {
		t.Error("a key that is not a recipient decrypted the document")
	}
}

// TestCPIXFetch: keyctl cpix fetch writes the server's document.
func TestCPIXFetch(t *testing.T) {
	env := apptest.Start(t, app.Config{DefaultTenant: "default"})
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), []string{"cpix", "fetch", "-server", env.HTTPURL, "-content", "movie 1", "-drm", "WV,PR", "-scheme", "cenc"},
		&stdout, &stderr); err != nil {
		t.Fatalf("%v: %s", err, stderr.String())
	}
	doc, err := cpix.Parse(stdout.Bytes(), cpix.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if c, _ := cpix.Attr(doc.Root, "contentId"); c != "movie 1" {
		t.Errorf("contentId %q", c)
	}
	keys := cpix.Children(cpix.Child(doc.Root, cpix.NS, "ContentKeyList"), cpix.NS, "ContentKey")
	if len(keys) != 1 {
		t.Fatalf("%d keys", len(keys))
	}
	if v, err := doc.ContentKeyValue(keys[0], nil); err != nil || len(v) != 16 {
		t.Errorf("key: %v, %d bytes", err, len(v))
	}
	err = run(context.Background(), []string{"cpix", "fetch", "-server", env.HTTPURL, "-content", "x", "-scheme", "cens"}, &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "HTTP 400") {
		t.Errorf("bad scheme: %v", err)
	}
}
