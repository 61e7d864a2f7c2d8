// Package issuer is the one use case behind every protocol: a request for
// the key of (tenant, content, scheme, track, period) goes through tenant
// policy, rotation, the key store's get-or-create and, when the caller
// asks for it, the DRM signaling of the key. Front-ends (the Nagra API,
// the Widevine Common Encryption API, CPIX, license and export services)
// parse their protocol into a [Request], call [Issuer.Issue],
// [Issuer.IssueBatch] or [Issuer.Lookup], and render the result in their
// protocol. The package imports no transport, no generated API code and
// no wire format.
//
// # Contracts
//
//   - A returned key is durable (the store committed it) and is the only
//     key of its period: the store's guarantees, unchanged.
//   - Errors are domain errors: the keystore sentinels, rotation's
//     ErrBeyondHorizon / ErrBeforeEpoch, [ErrInvalidRequest] (a field a
//     front-end should have validated, named in the message),
//     [*PeriodMismatchError], signaling errors, ctx errors. Front-ends map
//     them to their protocol; none carries key bytes.
//   - The [Observer] is told of every key issued or looked up, after the
//     fact, with identities only, never key bytes.
//   - Signaling sets ([Signaling]) are immutable and may be shared by many
//     answers; the issuer caches the sets asked for more than once.
package issuer

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/keyserver/keyserver/drm"
	"github.com/keyserver/keyserver/keystore"
	"github.com/keyserver/keyserver/rotation"
)

// ErrInvalidRequest is returned for a request that names no valid tenant,
// content id, scheme or period; the message names the problem.
var ErrInvalidRequest = errors.New("issuer: invalid request")

// PeriodMismatchError is returned when a request insists on a crypto
// period length (Request.RequirePeriodSeconds) and the content was first
// keyed with another one.
type PeriodMismatchError struct{ Pinned, Asked int64 }

func (e *PeriodMismatchError) Error() string {
	return fmt.Sprintf("crypto_period_seconds %d differs from the %d s this content was first keyed with", e.Asked, e.Pinned)
}

// Config configures an Issuer. Each field documents its zero value.
type Config struct {
	// Store holds the keys. Required. The Issuer does not close it.
	Store keystore.Store
	// DefaultTenant is the tenant of the front-ends' routes without one;
	// empty: such requests are refused by the front-ends.
	DefaultTenant string
	// Defaults are the settings of tenants not listed in Tenants.
	Defaults Tenant
	// Tenants holds per-tenant settings; fields left zero fall back to
	// Defaults.
	Tenants map[string]Tenant
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Observer is told of every key issued or looked up; nil: nobody.
	Observer Observer
}

// Validate reports every problem of c at once.
func (c *Config) Validate() error {
	var errs []error
	if c.Store == nil {
		errs = append(errs, errors.New("issuer: config: Store is required"))
	}
	if c.DefaultTenant != "" && !ValidTenantID(c.DefaultTenant) {
		errs = append(errs, fmt.Errorf("issuer: config: default tenant %q does not match [A-Za-z0-9_-]{1,64}", c.DefaultTenant))
	}
	errs = append(errs, c.Defaults.Validate("config: defaults"))
	for id, t := range c.Tenants {
		if !ValidTenantID(id) {
			errs = append(errs, fmt.Errorf("config: tenant id %q does not match [A-Za-z0-9_-]{1,64}", id))
		}
		errs = append(errs, t.Validate("config: tenant "+id))
	}
	return errors.Join(errs...)
}

// Issuer issues keys and their signaling. It is safe for concurrent use.
type Issuer struct {
	cfg  Config
	now  func() time.Time
	obs  Observer
	sigs sigCache
}

// New validates cfg and returns an Issuer.
func New(cfg Config) (*Issuer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Issuer{cfg: cfg, now: cfg.Now, obs: cfg.Observer}, nil
}

// DefaultTenant returns the configured default tenant ("" if none).
func (i *Issuer) DefaultTenant() string { return i.cfg.DefaultTenant }

// LicenseBaseURL returns a tenant's license server base URL (its
// licenseBaseUrl, or Nagra's default for it), without a trailing slash.
func (i *Issuer) LicenseBaseURL(tenant string) string { return i.cfg.settings(tenant).LicenseBase }

// Period addresses a LIVE key. The zero value is VOD: the one key of the
// space.
type Period struct {
	// Live selects a LIVE key.
	Live bool
	// ByIndex addresses period Index directly (the Widevine API's
	// crypto_period_index); otherwise the period holding At (zero: now),
	// checked against the tenant's horizon.
	ByIndex bool
	Index   int64
	At      time.Time
	// Seconds is the crypto period length proposed for a content that has
	// none pinned yet; 0 means the tenant's.
	Seconds int64
	// RequireSeconds makes a pinned length other than Seconds a
	// *PeriodMismatchError instead of using the pinned one.
	RequireSeconds bool
}

// Origin says who asked, for the Observer.
type Origin struct {
	FrontEnd   string // e.g. "nagra", "widevine"
	Credential string // the authenticated credential or signer; "" if none
}

// Request asks for one key.
type Request struct {
	Tenant    string
	ContentID string
	Scheme    drm.Scheme
	Track     string // "" for the native API's one key per content
	Period    Period
	// Supplied, if not nil, is stored for the period instead of a
	// generated key (the store's conflict rules apply).
	Supplied *keystore.Supplied
	// Outputs are the signaling entries wanted, in order; none: no
	// signaling is built.
	Outputs []Output
	Origin  Origin
}

// Issued is the outcome of one Request.
type Issued struct {
	Record  keystore.Record
	Created bool // this request stored the key
	// Signaling holds the entries of Request.Outputs, in order; nil when
	// none were asked for. It is shared and must not be modified.
	Signaling *Signaling
}

// Issue returns the key of req's period, creating it if needed, and its
// signaling.
func (i *Issuer) Issue(ctx context.Context, req *Request) (Issued, error) {
	set := i.cfg.settings(req.Tenant)
	ksReq, err := i.storeRequest(req, &set)
	if err != nil {
		return Issued{}, err
	}
	rec, created, err := i.cfg.Store.GetOrCreate(ctx, ksReq)
	if err != nil {
		return Issued{}, err
	}
	out := Issued{Record: rec, Created: created}
	if len(req.Outputs) > 0 {
		if out.Signaling, err = i.signaling(&rec, req.Outputs, &set); err != nil {
			return Issued{}, err
		}
	}
	if i.obs != nil {
		i.obs.Observe(ctx, eventOf(KindIssued, &rec, created, req.Origin))
	}
	return out, nil
}

// storeRequest validates req and builds the keystore request.
func (i *Issuer) storeRequest(req *Request, set *Settings) (keystore.Request, error) {
	if !ValidTenantID(req.Tenant) {
		return keystore.Request{}, fmt.Errorf("%w: tenant must match [A-Za-z0-9_-]{1,64}", ErrInvalidRequest)
	}
	if p := ContentIDProblem(req.ContentID); p != "" {
		return keystore.Request{}, fmt.Errorf("%w: content id %s", ErrInvalidRequest, p)
	}
	ks := keystore.Request{
		Space:    keystore.Space{Tenant: req.Tenant, ContentID: req.ContentID, Scheme: req.Scheme, Track: req.Track},
		Supplied: req.Supplied,
	}
	p := req.Period
	if !p.Live {
		return ks, nil
	}
	ks.PeriodSeconds = p.Seconds
	if ks.PeriodSeconds == 0 {
		ks.PeriodSeconds = set.Policy.PeriodSeconds
	}
	if p.ByIndex {
		index, asked, require := p.Index, p.Seconds, p.RequireSeconds
		ks.Period = func(pinned int64) (int64, error) {
			if require && pinned != asked {
				return 0, &PeriodMismatchError{Pinned: pinned, Asked: asked}
			}
			return index, nil
		}
		return ks, nil
	}
	now := i.now()
	at := p.At
	if at.IsZero() {
		at = now
	}
	if err := set.Policy.Check(at, now); err != nil {
		return keystore.Request{}, err
	}
	ks.Period = func(pinned int64) (int64, error) { return rotation.Period(at, pinned), nil }
	return ks, nil
}

// MaxBatch bounds the requests of one IssueBatch call.
const MaxBatch = 1000

// batchParallel bounds the concurrent store calls of one IssueBatch.
const batchParallel = 8

// IssueBatch issues every request, at most batchParallel at once, and
// returns the outcomes in request order. The first error (in request
// order) is returned; keys issued before it stay issued (each is durable
// on its own), and the caller answers only the error.
func (i *Issuer) IssueBatch(ctx context.Context, reqs []Request) ([]Issued, error) {
	if len(reqs) > MaxBatch {
		return nil, fmt.Errorf("%w: %d keys in one batch, at most %d", ErrInvalidRequest, len(reqs), MaxBatch)
	}
	out := make([]Issued, len(reqs))
	errs := make([]error, len(reqs))
	sem := make(chan struct{}, batchParallel)
	var wg sync.WaitGroup
	for n := range reqs {
		if err := ctx.Err(); err != nil {
			errs[n] = err
			break
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			out[n], errs[n] = i.Issue(ctx, &reqs[n])
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Lookup returns a tenant's key by key id (keystore.ErrNotFound if the
// tenant has none, also when another tenant has it).
func (i *Issuer) Lookup(ctx context.Context, tenant string, kid drm.KeyID, origin Origin) (keystore.Record, error) {
	rec, err := i.cfg.Store.LookupKeyID(ctx, tenant, kid)
	if err != nil {
		return keystore.Record{}, err
	}
	if i.obs != nil {
		i.obs.Observe(ctx, eventOf(KindLookedUp, &rec, false, origin))
	}
	return rec, nil
}
