package issuer

import (
	"context"
	"errors"
	"fmt"

	"github.com/keyserver/keyserver/drm"
	"github.com/keyserver/keyserver/keystore"
)

// ErrKeyIDBound is returned by BindKeyID for a key id the tenant already
// uses for another content.
var ErrKeyIDBound = errors.New("issuer: key id is bound to another content")

// BindKeyID returns the key of a key id the packager chose (CPIX and SPEKE
// encryptors choose key ids; the server chooses keys). Within a tenant a
// key id names one key, whichever front-end issued it:
//
//   - the tenant has a key with that id for req.ContentID (from any
//     front-end): that key, not created;
//   - the tenant has it for another content: ErrKeyIDBound (wrapped with
//     the key id), nothing stored;
//   - none: a new key is generated and bound to the key id durably, in
//     its own key space of the content (VOD, track = the key id in hex),
//     once under concurrent calls.
//
// req gives Tenant, ContentID, Scheme (for the new key's space and its
// signaling), Outputs and Origin; its Track, Period and Supplied are
// ignored.
func (i *Issuer) BindKeyID(ctx context.Context, req *Request, kid drm.KeyID) (Issued, error) {
	if kid.IsZero() {
		return Issued{}, fmt.Errorf("%w: key id is zero", ErrInvalidRequest)
	}
	if p := ContentIDProblem(req.ContentID); p != "" {
		return Issued{}, fmt.Errorf("%w: content id %s", ErrInvalidRequest, p)
	}
	rec, err := i.cfg.Store.LookupKeyID(ctx, req.Tenant, kid)
	switch {
	case err == nil:
		return i.bound(ctx, req, &rec)
	case !errors.Is(err, keystore.ErrNotFound):
		return Issued{}, err
	}
	bind := *req
	bind.Track = kid.Hex()
	bind.Period = Period{}
	bind.Supplied = &keystore.Supplied{KID: kid, GenerateKey: true}
	out, err := i.Issue(ctx, &bind)
	if errors.Is(err, keystore.ErrConflict) {
		// Another content bound the key id meanwhile, or this content
		// did through another space: answer as if it had been first.
		if rec, lerr := i.cfg.Store.LookupKeyID(ctx, req.Tenant, kid); lerr == nil {
			return i.bound(ctx, req, &rec)
		}
	}
	return out, err
}

// bound answers an existing record of the key id.
func (i *Issuer) bound(ctx context.Context, req *Request, rec *keystore.Record) (Issued, error) {
	if rec.Space.ContentID != req.ContentID {
		return Issued{}, fmt.Errorf("%w: %s", ErrKeyIDBound, rec.Key.KID)
	}
	out := Issued{Record: *rec}
	if len(req.Outputs) > 0 {
		// Signaled in the scheme asked for: the key may have been issued
		// for another (CPIX wants one document per scheme).
		set := i.cfg.settings(req.Tenant)
		sr := *rec
		sr.Space.Scheme = req.Scheme
		var err error
		if out.Signaling, err = i.signaling(&sr, req.Outputs, &set); err != nil {
			return Issued{}, err
		}
	}
	if i.obs != nil {
		i.obs.Observe(ctx, eventOf(KindIssued, rec, false, req.Origin))
	}
	return out, nil
}
