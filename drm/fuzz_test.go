package drm_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/keyserver/keyserver/drm"
)

var dashedUUID = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// FuzzParseKeyID: ParseKeyID accepts exactly the dashed UUIDs (checked
// against a regular expression), and String gives the input back in lower
// case (parse and print are inverse); nothing panics.
func FuzzParseKeyID(f *testing.F) {
	for _, s := range []string{"5b1a1f4e-2c3d-4e5f-8a9b-0c1d2e3f4a5b", "EDEF8BA9-79D6-4ACE-A3C8-27DCD51D21ED",
		"00000000-0000-0000-0000-000000000000", "5b1a1f4e2c3d4e5f8a9b0c1d2e3f4a5b", "{5b1a1f4e-2c3d-4e5f-8a9b-0c1d2e3f4a5b}",
		"5b1a1f4e-2c3d-4e5f-8a9b-0c1d2e3f4a5g", "5b1a1f4e-2c3d-4e5f-8a9b+0c1d2e3f4a5b", "5b1a1f4e-2c3d-4e5f-8a9b-0c1d2e3f4a5\xff", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k, err := drm.ParseKeyID(s)
		if want := dashedUUID.MatchString(s); want != (err == nil) {
			t.Fatalf("ParseKeyID(%q): %v, want accepted=%v", s, err, want)
		}
		if err != nil {
			if k != (drm.KeyID{}) {
				t.Fatalf("ParseKeyID(%q) failed but returned %x", s, k)
			}
			return
		}
		if k.String() != strings.ToLower(s) {
			t.Fatalf("ParseKeyID(%q).String() = %q", s, k.String())
		}
		if k2, err := drm.ParseKeyID(k.String()); err != nil || k2 != k {
			t.Fatalf("re-parse of %q: %x %v", k.String(), k2, err)
		}
	})
}
