package speke

import (
	"context"
	"crypto/sha256"
	"errors"
	"net/http"

	"github.com/keyserver/keyserver/authn"
)

// headerAuthorization carries the SSP token, as on the other front-ends.
// The Authorization header (AWS SigV4, added by API Gateway signers) is
// not read: it neither authenticates nor fails a request.
const headerAuthorization = "nv-authorizations"

type credentialKey struct{}

// authenticate checks the request before any other work: a client
// certificate bound to a credential of the tenant (mutual TLS; AWS
// encryptors cannot add headers), else the nv-authorizations token. With
// authentication optional, a request with neither passes; a token that is
// present is always checked. On success the credential id is in r's
// context (credentialOf).
func (h *Handler) authenticate(r *http.Request, tenant string) error {
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		fp := sha256.Sum256(r.TLS.PeerCertificates[0].Raw)
		if cred, ok := h.auth.ByClientCertificate(fp); ok {
			if err := authn.Authorize(cred, nil, tenant, authn.PrivilegeCKM); err != nil {
				return authError(err)
			}
			*r = *r.WithContext(context.WithValue(r.Context(), credentialKey{}, cred.ID))
			return nil
		}
	}
	cred, claims, err := h.auth.AuthN(r.Header.Values(headerAuthorization))
	if err != nil {
		return authError(err)
	}
	if err := authn.Authorize(cred, claims, tenant, authn.PrivilegeCKM); err != nil {
		return authError(err)
	}
	if cred != nil {
		*r = *r.WithContext(context.WithValue(r.Context(), credentialKey{}, cred.ID))
	}
	return nil
}

// credentialOf returns the authenticated credential id, "" if none.
func credentialOf(ctx context.Context) string {
	id, _ := ctx.Value(credentialKey{}).(string)
	return id
}

func authError(err error) error {
	var e *authn.Error
	if !errors.As(err, &e) {
		return err
	}
	code := http.StatusUnauthorized
	if e.Denied {
		code = http.StatusForbidden
	}
	return &httpError{code: code, msg: headerAuthorization + ": " + e.Msg}
}
