package issuer

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/keyserver/keyserver/drm"
	"github.com/keyserver/keyserver/rotation"
)

// Tenant is one tenant's key policy. Zero fields fall back to the
// Defaults of the Config, then to the built-in defaults.
type Tenant struct {
	// CryptoPeriodSeconds is the LIVE crypto period P for contents keyed
	// from now on; 0 means 3600. A content keeps the P of its first key.
	CryptoPeriodSeconds int64
	// Horizon bounds pre-generation ahead of now; 0 means 7 days.
	Horizon time.Duration
	// LicenseBaseURL is the tenant's license server base; PlayReady's
	// LA_URL and LUI_URL are <base>/prls/contentlicenseservice/v1/licenses.
	// Empty means https://{tenant lower-case}.anycast.nagra.com/{tenant}.
	LicenseBaseURL string
	// DRMNames overrides the display name of a DRM in its signaling, by
	// short DRM name (WV, PR, FPS, PRM). Names missing here fall back to
	// Defaults.DRMNames, then to the signaling package's.
	DRMNames map[string]string
}

// Validate reports every problem of t at once; where names it (e.g.
// "tenant NAG0000").
func (t Tenant) Validate(where string) error {
	var errs []error
	if err := t.policy().Validate(); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", where, err))
	}
	if t.LicenseBaseURL != "" {
		if err := validateLicenseBaseURL(t.LicenseBaseURL); err != nil {
			errs = append(errs, fmt.Errorf("%s: licenseBaseUrl %w", where, err))
		}
	}
	for short, name := range t.DRMNames {
		if sys, ok := drm.ParseSystem(short); !ok || sys.Short() != strings.ToUpper(short) {
			errs = append(errs, fmt.Errorf("%s: drmNames key %q is not WV, PR, FPS or PRM", where, short))
		}
		if name == "" || len(name) > 64 || !PrintableASCII(name) {
			errs = append(errs, fmt.Errorf("%s: drmNames[%s] must be 1-64 printable ASCII characters", where, short))
		}
	}
	return errors.Join(errs...)
}

func (t Tenant) policy() rotation.Policy {
	return rotation.Policy{PeriodSeconds: t.CryptoPeriodSeconds, Horizon: t.Horizon}
}

var tenantIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// ValidTenantID reports whether id is a well-formed tenant id:
// [A-Za-z0-9_-]{1,64}. Every front-end checks the tenant it addresses
// with it.
func ValidTenantID(id string) bool { return tenantIDPattern.MatchString(id) }

// MaxContentIDBytes bounds a content id (api.md: 1–256 bytes of UTF-8).
const MaxContentIDBytes = 256

// ContentIDProblem returns why id cannot be a content id, or "": it must
// be 1–256 bytes of UTF-8 without control characters (XML 1.0 cannot
// carry C0 controls, and a content id with line breaks or controls is
// never a CMS id: refuse rather than mangle). Front-ends put the answer
// after the name of their field.
func ContentIDProblem(id string) string {
	switch {
	case id == "":
		return "is required"
	case len(id) > MaxContentIDBytes:
		return fmt.Sprintf("is %d bytes, at most %d allowed", len(id), MaxContentIDBytes)
	case !utf8.ValidString(id):
		return "is not valid UTF-8"
	}
	for _, r := range id {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == 0xfffe || r == 0xffff {
			return fmt.Sprintf("contains control character U+%04X", r)
		}
	}
	return ""
}

// maxLicenseBaseURL bounds licenseBaseUrl so that every PlayReady header
// built from it (twice, XML-escaped, UTF-16) fits a PlayReady Object record
// with any content id, instead of failing each request.
const maxLicenseBaseURL = 1024

// validateLicenseBaseURL accepts an absolute http(s) URL with a host, of
// printable ASCII without spaces (non-ASCII must be percent-encoded, as
// in an HTTP request line), at most maxLicenseBaseURL bytes.
func validateLicenseBaseURL(s string) error {
	if len(s) > maxLicenseBaseURL {
		return fmt.Errorf("is %d bytes, at most %d allowed", len(s), maxLicenseBaseURL)
	}
	if !PrintableASCII(s) || strings.Contains(s, " ") {
		return fmt.Errorf("%q must be printable ASCII without spaces", s)
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Opaque != "" {
		return fmt.Errorf("%q is not an absolute http(s) URL", s)
	}
	return nil
}

// PrintableASCII reports whether s holds only bytes 0x20–0x7e.
func PrintableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// Settings are a tenant's effective settings.
type Settings struct {
	Policy       rotation.Policy   // with defaults applied
	LicenseBase  string            // the license server base URL, without a trailing slash
	PlayReadyURL string            // PlayReady LA_URL / LUI_URL
	DRMNames     map[string]string // display-name overrides by upper-case short name; nil: none
}

// DRMName returns the configured display name of sys, or "" for the
// signaling package's default.
func (s *Settings) DRMName(sys drm.System) string {
	if n, ok := s.DRMNames[sys.Short()]; ok {
		return n
	}
	return ""
}

// settings computes a tenant's effective settings (Issuer caches them).
func (c *Config) settings(tenant string) Settings {
	t, ok := c.Tenants[tenant]
	if !ok {
		t = c.Defaults
	}
	if t.CryptoPeriodSeconds == 0 {
		t.CryptoPeriodSeconds = c.Defaults.CryptoPeriodSeconds
	}
	if t.Horizon == 0 {
		t.Horizon = c.Defaults.Horizon
	}
	if t.LicenseBaseURL == "" {
		t.LicenseBaseURL = c.Defaults.LicenseBaseURL
	}
	base := t.LicenseBaseURL
	if base == "" {
		base = "https://" + strings.ToLower(tenant) + ".anycast.nagra.com/" + tenant
	}
	names := t.DRMNames
	if len(c.Defaults.DRMNames) > 0 && ok {
		names = make(map[string]string, 4)
		for k, v := range c.Defaults.DRMNames {
			names[strings.ToUpper(k)] = v
		}
		for k, v := range t.DRMNames {
			names[strings.ToUpper(k)] = v
		}
	}
	base = strings.TrimSuffix(base, "/")
	return Settings{
		Policy:       t.policy().WithDefaults(),
		LicenseBase:  base,
		PlayReadyURL: base + "/prls/contentlicenseservice/v1/licenses",
		DRMNames:     upperKeys(names),
	}
}

func upperKeys(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[strings.ToUpper(k)] = v
	}
	return out
}
