package server

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/keyserver/keyserver/drm"
	"github.com/keyserver/keyserver/keystore"
	"github.com/keyserver/keyserver/rotation"
)

// Config configures a Server. Only cmd/keyserver reads flags, environment
// and files; it fills this struct. Each field documents its zero value.
type Config struct {
	// Store holds the keys. Required. The Server does not close it.
	Store keystore.Store
	// Logger receives one line per request and internal errors; nil
	// discards. Key material and tokens are never logged.
	Logger *slog.Logger
	// DefaultTenant serves the routes without a tenant
	// (POST /ckm/v1/keyAndSignalization, or a gRPC request with an empty
	// tenantId). Empty: such requests are rejected with INVALID_REQUEST.
	DefaultTenant string
	// Defaults are the settings of tenants not listed in Tenants.
	Defaults Tenant
	// Tenants holds per-tenant settings; fields left zero fall back to
	// Defaults.
	Tenants map[string]Tenant
	// Now is the clock; nil means time.Now. Tests set it.
	Now func() time.Time
	// Auth configures nv-authorizations checking (auth.go). The zero
	// value is optional mode without credentials.
	Auth Auth
	// TLS configures transport security. The zero value serves plain
	// text (development, loopback only).
	TLS TLS
	// Limits bound request sizes, concurrency and time (limits.go). The
	// zero value means the defaults.
	Limits Limits
}

// Tenant is one tenant's settings.
type Tenant struct {
	// CryptoPeriodSeconds is the LIVE crypto period P for contents keyed
	// from now on; 0 means 3600. A content keeps the P of its first key.
	CryptoPeriodSeconds int64 `yaml:"cryptoPeriodSeconds"`
	// Horizon bounds pre-generation ahead of now; 0 means 7 days.
	Horizon time.Duration `yaml:"horizon"`
	// LicenseBaseURL is the tenant's license server base; PlayReady's
	// LA_URL and LUI_URL are <base>/prls/contentlicenseservice/v1/licenses.
	// Empty means https://{tenant lower-case}.anycast.nagra.com/{tenant}.
	LicenseBaseURL string `yaml:"licenseBaseUrl"`
	// WidevineSigners are the signers (name → credential) whose requests
	// the Widevine Common Encryption API accepts for this tenant
	// (widevine.go). Empty means Defaults.WidevineSigners; with none at
	// all the endpoint answers every request ACCESS_DENIED.
	WidevineSigners map[string]WidevineSigner `yaml:"widevineSigners"`
	// DRMNames overrides the drmName shown in drmSignalization entries, by
	// short DRM name (WV, PR, FPS, PRM). Nagra's CKM treats these as
	// server-configured display names (nagra-ckm-notes.md §2.3); the
	// defaults are the ones observed in its output: WideVine, PLAYREADY,
	// FairPlay, and PRM (not observed). Names missing here fall back to
	// Defaults.DRMNames, then to those defaults.
	DRMNames map[string]string `yaml:"drmNames"`
}

var tenantIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// ValidTenantID reports whether id is a well-formed tenant id.
func ValidTenantID(id string) bool { return tenantIDPattern.MatchString(id) }

// Validate reports every problem of c at once.
func (c *Config) Validate() error {
	var errs []error
	if c.Store == nil {
		errs = append(errs, errors.New("server: config: Store is required"))
	}
	if c.DefaultTenant != "" && !ValidTenantID(c.DefaultTenant) {
		errs = append(errs, fmt.Errorf("server: config: default tenant %q does not match [A-Za-z0-9_-]{1,64}", c.DefaultTenant))
	}
	errs = append(errs, c.Defaults.validate("defaults"))
	for id, t := range c.Tenants {
		if !ValidTenantID(id) {
			errs = append(errs, fmt.Errorf("server: config: tenant id %q does not match [A-Za-z0-9_-]{1,64}", id))
		}
		errs = append(errs, t.validate("tenant "+id))
	}
	errs = append(errs, c.Auth.validate(), c.TLS.validate(), c.Limits.validate())
	return errors.Join(errs...)
}

func (t Tenant) validate(where string) error {
	var errs []error
	if err := t.policy().Validate(); err != nil {
		errs = append(errs, fmt.Errorf("server: config: %s: %w", where, err))
	}
	if t.LicenseBaseURL != "" {
		if err := validateLicenseBaseURL(t.LicenseBaseURL); err != nil {
			errs = append(errs, fmt.Errorf("server: config: %s: licenseBaseUrl %w", where, err))
		}
	}
	errs = append(errs, validateWidevineSigners(where, t.WidevineSigners))
	for short, name := range t.DRMNames {
		if sys, ok := drm.ParseSystem(short); !ok || sys.Short() != strings.ToUpper(short) {
			errs = append(errs, fmt.Errorf("server: config: %s: drmNames key %q is not WV, PR, FPS or PRM", where, short))
		}
		if name == "" || len(name) > 64 || !printableASCII(name) {
			errs = append(errs, fmt.Errorf("server: config: %s: drmNames[%s] must be 1-64 printable ASCII characters", where, short))
		}
	}
	return errors.Join(errs...)
}

func (t Tenant) policy() rotation.Policy {
	return rotation.Policy{PeriodSeconds: t.CryptoPeriodSeconds, Horizon: t.Horizon}
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
	if !printableASCII(s) || strings.Contains(s, " ") {
		return fmt.Errorf("%q must be printable ASCII without spaces", s)
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Opaque != "" {
		return fmt.Errorf("%q is not an absolute http(s) URL", s)
	}
	return nil
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// tenantSettings is a tenant's effective settings.
type tenantSettings struct {
	policy       rotation.Policy
	playReadyURL string
	drmNames     map[string]string // configured drmName overrides by short name; nil: none
}

// drmName returns the configured display name of sys, or "" for the
// signaling package's default.
func (t *tenantSettings) drmName(sys drm.System) string {
	if n, ok := t.drmNames[sys.Short()]; ok {
		return n
	}
	return ""
}

// settings returns the effective settings of a tenant.
func (c *Config) settings(tenant string) tenantSettings {
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
	return tenantSettings{
		policy:       t.policy().WithDefaults(),
		playReadyURL: strings.TrimSuffix(base, "/") + "/prls/contentlicenseservice/v1/licenses",
		drmNames:     upperKeys(names),
	}
}
