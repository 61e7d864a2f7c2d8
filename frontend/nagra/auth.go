package nagra

// Authentication: the nv-authorizations header (HTTP) or metadata (gRPC)
// carries an SSP-style AuthN JWT, verified by package authn against the
// configured credentials; this file maps its refusals to the API's
// statuses.

import (
	"context"
	"errors"
	"time"

	"google.golang.org/grpc/metadata"

	"github.com/keyserver/keyserver/authn"
	keyserverv1 "github.com/keyserver/keyserver/gen/keyserver/v1"
)

// Auth configures request authentication (package authn).
type Auth = authn.Auth

// Credential is one SSP tenant credential (package authn).
type Credential = authn.Credential

// DefaultLeeway is the exp leeway when Auth.Leeway is 0.
const DefaultLeeway = authn.DefaultLeeway

// PrivilegeCKM is the credential privilege this service requires.
const PrivilegeCKM = authn.PrivilegeCKM

// authError maps an authn refusal to the API's status.
func authError(err error) error {
	var e *authn.Error
	if !errors.As(err, &e) {
		return err
	}
	st := keyserverv1.Status_UNAUTHENTICATED
	if e.Denied {
		st = keyserverv1.Status_PERMISSION_DENIED
	}
	return reject(st, headerAuthorization, "%s", e.Msg)
}

// authenticator checks AuthN tokens and answers in the API's statuses.
type authenticator struct{ v *authn.Verifier }

func newAuthenticator(a Auth, now func() time.Time) *authenticator {
	return &authenticator{v: authn.NewVerifier(a, now)}
}

// authenticate checks the header values (steps 1–8 of §6.2) and returns
// the token's credential, or nil when there is no token in optional mode.
func (au *authenticator) authenticate(values []string) (*Credential, *authn.AuthNClaims, error) {
	cred, claims, err := au.v.AuthN(values)
	if err != nil {
		return nil, nil, authError(err)
	}
	return cred, claims, nil
}

// authenticate checks the request's nv-authorizations (gRPC metadata;
// the REST routes put the header there) against tenant, before any other
// work. It returns the credential's id ("" without a token in optional
// mode).
func (a *API) authenticate(ctx context.Context, tenant string) (string, error) {
	cred, claims, err := a.auth.authenticate(metadata.ValueFromIncomingContext(ctx, headerAuthorization))
	if err != nil {
		return "", err
	}
	if err := authn.Authorize(cred, claims, tenant, authn.PrivilegeCKM); err != nil {
		return "", authError(err)
	}
	if cred == nil {
		return "", nil
	}
	return cred.ID, nil
}
