// Package cpixtest validates CPIX documents against the DASH-IF XML schema
// in tests, with xmllint (Debian libxml2-utils; ./scripts/test installs it
// when missing).
//
// The schemas are those of cpix/testdata/schema (see SOURCE.txt there):
// cpix.xsd is CPIX 2.4, cpix-2.3.xsd is CPIX 2.3. A document is validated
// against the schema of its CPIX@version: "2.4" against 2.4, anything else
// (2.3, or none as in SPEKE v1 and the DASH-IF vectors) against 2.3, which
// also admits the 2.0-era elements (URIExtXKey, DocumentKey@Algorithm)
// that 2.4 removed. Validation runs offline (xmllint --nonet).
package cpixtest

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// ErrNoXmllint is returned by Check when xmllint is not on PATH.
var ErrNoXmllint = errors.New("cpixtest: xmllint not found (Debian package libxml2-utils; ./scripts/test installs it)")

// Validate fails t unless doc is valid against the CPIX schema of its
// version. Without xmllint it skips t, or fails it when
// KEYSERVER_E2E_REQUIRED=1 (set by .ci/run).
func Validate(t testing.TB, doc []byte) {
	t.Helper()
	err := Check(doc)
	switch {
	case errors.Is(err, ErrNoXmllint):
		if os.Getenv("KEYSERVER_E2E_REQUIRED") == "1" {
			t.Fatal(err.Error() + " (KEYSERVER_E2E_REQUIRED=1: not skipping)")
		}
		t.Skip(err.Error())
	case err != nil:
		t.Errorf("%v\ndocument:\n%s", err, truncate(doc, 4000))
	}
}

// Check validates doc against the CPIX schema of its version and returns
// nil, ErrNoXmllint, or an error carrying xmllint's report.
func Check(doc []byte) error {
	xmllint, err := exec.LookPath("xmllint")
	if err != nil {
		return ErrNoXmllint
	}
	dir, err := SchemaDir()
	if err != nil {
		return err
	}
	xsd := filepath.Join(dir, "cpix-2.3.xsd")
	if version(doc) == "2.4" {
		xsd = filepath.Join(dir, "cpix.xsd")
	}
	f, err := os.CreateTemp("", "cpixtest-*.xml")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(doc); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	out, err := exec.Command(xmllint, "--nonet", "--noout", "--schema", xsd, f.Name()).CombinedOutput()
	if err != nil {
		return fmt.Errorf("cpixtest: not valid against %s: %v\n%s", filepath.Base(xsd), err, out)
	}
	return nil
}

// SchemaDir returns the directory holding the CPIX schemas
// (cpix/testdata/schema), found from this source file or, failing that
// (a -trimpath build), from the working directory upwards.
func SchemaDir() (string, error) {
	var tried []string
	if _, file, _, ok := runtime.Caller(0); ok {
		d := filepath.Join(filepath.Dir(file), "..", "testdata", "schema")
		if isSchemaDir(d) {
			return d, nil
		}
		tried = append(tried, d)
	}
	wd, err := os.Getwd()
	if err == nil {
		for d := wd; ; d = filepath.Dir(d) {
			s := filepath.Join(d, "cpix", "testdata", "schema")
			if isSchemaDir(s) {
				return s, nil
			}
			tried = append(tried, s)
			if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil || filepath.Dir(d) == d {
				break
			}
		}
	}
	return "", fmt.Errorf("cpixtest: CPIX schema directory not found (tried %q)", tried)
}

func isSchemaDir(d string) bool {
	_, err := os.Stat(filepath.Join(d, "cpix.xsd"))
	return err == nil
}

// version returns CPIX@version of doc's root element, or "".
func version(doc []byte) string {
	dec := xml.NewDecoder(bytes.NewReader(doc))
	for {
		tok, err := dec.Token()
		if err != nil {
			return ""
		}
		if se, ok := tok.(xml.StartElement); ok {
			for _, a := range se.Attr {
				if a.Name.Space == "" && a.Name.Local == "version" {
					return a.Value
				}
			}
			return ""
		}
	}
}

func truncate(b []byte, n int) []byte {
	if len(b) <= n {
		return b
	}
	return append(b[:n:n], "…"...)
}
