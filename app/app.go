// Package app assembles the product from its parts: the issuer over a key
// store, the front-ends over the issuer (the Nagra-CMAF API and the
// Widevine Common Encryption API), and the server that mounts them. Its
// Config is the whole server's configuration as cmd/keyserver reads it
// from flags and the YAML file; [New] splits it among the parts. It is
// the only package that knows every front-end.
package app

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/keyserver/keyserver/drm"
	"github.com/keyserver/keyserver/frontend/nagra"
	"github.com/keyserver/keyserver/frontend/speke"
	"github.com/keyserver/keyserver/frontend/widevine"
	"github.com/keyserver/keyserver/issuer"
	"github.com/keyserver/keyserver/keystore"
	"github.com/keyserver/keyserver/server"
)

// The parts' configuration types, under the names the whole server's
// configuration uses.
type (
	// Auth configures the Nagra API's nv-authorizations check.
	Auth = nagra.Auth
	// Credential is one SSP tenant credential.
	Credential = nagra.Credential
	// TLS configures transport security for both listeners.
	TLS = server.TLS
	// Limits bound request sizes, concurrency and time.
	Limits = server.Limits
	// WidevineSigner is one signer of the Widevine Common Encryption API.
	WidevineSigner = widevine.Signer
)

// Config configures the whole server. Each field documents its zero value.
type Config struct {
	// Store holds the keys. Required. The server does not close it.
	Store keystore.Store
	// Logger receives one line per request and internal errors; nil
	// discards. Key material and tokens are never logged.
	Logger *slog.Logger
	// DefaultTenant serves the routes without a tenant
	// (POST /ckm/v1/keyAndSignalization, a gRPC request with an empty
	// tenantId, POST /widevine/cenc). Empty: such requests are refused.
	DefaultTenant string
	// Defaults are the settings of tenants not listed in Tenants.
	Defaults Tenant
	// Tenants holds per-tenant settings; fields left zero fall back to
	// Defaults.
	Tenants map[string]Tenant
	// Now is the clock; nil means time.Now. Tests set it.
	Now func() time.Time
	// Auth configures nv-authorizations checking. The zero value is
	// optional mode without credentials.
	Auth Auth
	// TLS configures transport security. The zero value serves plain
	// text (development, loopback only).
	TLS TLS
	// Limits bound request sizes, concurrency and time. The zero value
	// means the defaults.
	Limits Limits
	// Observer is told of every key issued or looked up (metrics, audit);
	// nil: nobody.
	Observer issuer.Observer
	// CPIXRecipient, if set, is this server's certificate and private key
	// for CPIX documents that bring keys encrypted to it.
	CPIXRecipient *speke.Recipient
}

// Tenant is one tenant's settings, as the YAML file writes them.
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
	// the Widevine Common Encryption API accepts for this tenant. Empty
	// means Defaults.WidevineSigners; with none at all the endpoint answers
	// every request ACCESS_DENIED.
	WidevineSigners map[string]WidevineSigner `yaml:"widevineSigners"`
	// DRMNames overrides the drmName shown in signaling, by short DRM name
	// (WV, PR, FPS, PRM); missing names fall back to Defaults.DRMNames,
	// then to WideVine, PLAYREADY, FairPlay, PRM (nagra-ckm-notes.md §2.3).
	DRMNames map[string]string `yaml:"drmNames"`
	// CPIXRequireEncryption refuses CPIX/SPEKE documents that name no
	// recipient: the tenant's keys are never sent in the clear there.
	CPIXRequireEncryption bool `yaml:"cpixRequireEncryption"`
	// CPIXMACDialect is the MACMethod form of encrypted CPIX answers:
	// aws, dashif or pskc; empty means aws on the SPEKE routes and
	// dashif on /cpix (frontend/speke).
	CPIXMACDialect string `yaml:"cpixMacDialect"`
}

func (t Tenant) policy() issuer.Tenant {
	return issuer.Tenant{CryptoPeriodSeconds: t.CryptoPeriodSeconds, Horizon: t.Horizon, LicenseBaseURL: t.LicenseBaseURL, DRMNames: t.DRMNames}
}

// Validate reports every problem of c at once, without building anything.
func (c *Config) Validate() error {
	ic, wc := c.parts()
	var errs []error
	errs = append(errs, ic.Validate(), c.Auth.Validate(), c.TLS.Validate(), c.Limits.Validate())
	errs = append(errs, widevine.ValidateSigners("defaults", wc.DefaultSigners))
	for id, s := range wc.Signers {
		errs = append(errs, widevine.ValidateSigners("tenant "+id, s))
	}
	errs = append(errs, validateDialect("defaults", c.Defaults.CPIXMACDialect))
	for id, t := range c.Tenants {
		errs = append(errs, validateDialect("tenant "+id, t.CPIXMACDialect))
	}
	return errors.Join(errs...)
}

func validateDialect(where, d string) error {
	switch d {
	case "", "aws", "dashif", "pskc":
		return nil
	}
	return fmt.Errorf("config: %s: cpixMacDialect %q: want aws, dashif or pskc", where, d)
}

// cpixConfig is the CPIX front-end's configuration (Issuer left unset).
func (c *Config) cpixConfig() speke.Config {
	tenant := func(t Tenant) speke.Tenant {
		return speke.Tenant{RequireEncryption: t.CPIXRequireEncryption, MACDialect: t.CPIXMACDialect}
	}
	sc := speke.Config{Auth: c.Auth, Defaults: tenant(c.Defaults), Tenants: map[string]speke.Tenant{},
		Recipient: c.CPIXRecipient, Logger: c.Logger, Now: c.Now}
	for id, t := range c.Tenants {
		d := tenant(t)
		if !t.CPIXRequireEncryption {
			d.RequireEncryption = c.Defaults.CPIXRequireEncryption
		}
		if d.MACDialect == "" {
			d.MACDialect = c.Defaults.CPIXMACDialect
		}
		sc.Tenants[id] = d
	}
	return sc
}

// parts splits c into the issuer's and the Widevine front-end's
// configuration (Issuer left unset).
func (c *Config) parts() (issuer.Config, widevine.Config) {
	ic := issuer.Config{Store: c.Store, DefaultTenant: c.DefaultTenant, Defaults: c.Defaults.policy(), Now: c.Now, Observer: c.Observer}
	wc := widevine.Config{DefaultSigners: c.Defaults.WidevineSigners, Logger: c.Logger}
	if len(c.Tenants) > 0 {
		ic.Tenants = make(map[string]issuer.Tenant, len(c.Tenants))
		wc.Signers = make(map[string]map[string]widevine.Signer)
	}
	for id, t := range c.Tenants {
		ic.Tenants[id] = t.policy()
		if len(t.WidevineSigners) > 0 {
			wc.Signers[id] = t.WidevineSigners
		}
	}
	return ic, wc
}

// New validates cfg and builds the server with every front-end mounted.
// Every problem of cfg is reported at once.
func New(cfg Config) (*server.Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	ic, wc := cfg.parts()
	iss, err := issuer.New(ic)
	if err != nil {
		return nil, err
	}
	wc.Issuer = iss
	if cfg.Auth.Required {
		known := map[string]bool{}
		for _, c := range cfg.Auth.Credentials {
			known[c.Tenant] = true
		}
		for id := range wc.Signers {
			known[id] = true
		}
		wc.KnownTenant = func(t string) bool { return known[t] }
	}
	api, err := nagra.New(nagra.Config{Issuer: iss, Auth: cfg.Auth, Logger: cfg.Logger, Now: cfg.Now})
	if err != nil {
		return nil, err
	}
	wv, err := widevine.New(wc)
	if err != nil {
		return nil, err
	}
	sc := cfg.cpixConfig()
	sc.Issuer = iss
	sc.KeyURL = func(tenant string, kid drm.KeyID) string {
		return iss.LicenseBaseURL(tenant) + "/ckls/contentlicenseservice/v1/keys/" + kid.String()
	}
	cp, err := speke.New(sc)
	if err != nil {
		return nil, err
	}
	return server.New(server.Config{
		Logger: cfg.Logger,
		TLS:    cfg.TLS,
		Limits: cfg.Limits,
		GRPC: []server.GRPCService{{
			Name: nagra.FrontEnd, ServiceName: nagra.ServiceName,
			Register: api.RegisterGRPC, Codec: api.GRPCCodec(), Refuse: api.RefuseGRPC,
		}},
		HTTP: []server.Mount{
			{Name: nagra.FrontEnd, Patterns: nagra.Patterns, Handler: api.HTTPHandler(), Refuse: api.RefuseHTTP, OpenAPI: nagra.OpenAPI()},
			{Name: widevine.FrontEnd, Patterns: widevine.Patterns, Handler: wv, Refuse: wv.RefuseHTTP, MaxBody: widevine.MaxBody, OpenAPI: widevine.OpenAPI},
			{Name: speke.FrontEnd, Patterns: speke.Patterns, Handler: cp, Refuse: cp.RefuseHTTP, MaxBody: speke.MaxBody, OpenAPI: speke.OpenAPI},
		},
		Readiness: storeReadiness(cfg.Store),
	})
}
