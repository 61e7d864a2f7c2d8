package nagra

// Authentication: the nv-authorizations header (HTTP) or metadata (gRPC)
// carries an SSP-style AuthN JWT, HS256-signed with the signing key of a
// configured credential (nagra-ckm-notes.md §6). The checks run in the
// order of §6.2 and the first failure wins. Error messages say what was
// wrong; they never carry the token or a key.

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"google.golang.org/grpc/metadata"

	"github.com/keyserver/keyserver/access"
	keyserverv1 "github.com/keyserver/keyserver/gen/keyserver/v1"
	"github.com/keyserver/keyserver/issuer"
)

// Auth configures request authentication.
type Auth struct {
	// Required refuses requests without a token (cloud mode). False is
	// optional mode (on-premise): a request without a token passes, but a
	// token that is present is still fully checked.
	Required bool
	// Credentials are the accepted signing credentials. With Required, a
	// tenant exists only through its credentials.
	Credentials []Credential
	// Leeway tolerates clock skew when checking exp; 0 means
	// DefaultLeeway, a negative value means none.
	Leeway time.Duration
}

// DefaultLeeway is the exp leeway when Auth.Leeway is 0.
const DefaultLeeway = 60 * time.Second

// PrivilegeCKM is the credential privilege this service requires.
const PrivilegeCKM = "CKM"

// Credential is one SSP tenant credential. Tokens name it by ID in their
// header's kid.
type Credential struct {
	// ID is the credentialId, matched against the token header's kid.
	ID string
	// Tenant is the tenantId the credential belongs to.
	Tenant string
	// SigningKey is the HMAC-SHA256 key (the base64-decoded signingKey),
	// at least 32 bytes. It is never logged.
	SigningKey []byte
	// Privileges must include PrivilegeCKM for requests to pass.
	Privileges []string
}

// minSigningKeyBytes: RFC 7518 §3.2 wants an HS256 key of at least the
// hash size.
const minSigningKeyBytes = 32

// Validate reports every problem of the credentials at once.
func (a *Auth) Validate() error {
	var errs []error
	seen := map[string]bool{}
	for i, c := range a.Credentials {
		where := fmt.Sprintf("config: auth: credentials[%d]", i)
		switch {
		case c.ID == "":
			errs = append(errs, fmt.Errorf("%s: credentialId is required", where))
		case seen[c.ID]:
			errs = append(errs, fmt.Errorf("%s: credentialId %q is listed twice", where, c.ID))
		}
		seen[c.ID] = true
		if !issuer.ValidTenantID(c.Tenant) {
			errs = append(errs, fmt.Errorf("%s: tenantId %q does not match [A-Za-z0-9_-]{1,64}", where, c.Tenant))
		}
		if len(c.SigningKey) < minSigningKeyBytes {
			errs = append(errs, fmt.Errorf("%s: signingKey must decode to at least %d bytes", where, minSigningKeyBytes))
		}
	}
	if a.Required && len(a.Credentials) == 0 {
		errs = append(errs, errors.New("config: auth: required mode needs at least one credential"))
	}
	return errors.Join(errs...)
}

// Limits on the header, so that a hostile value costs little.
const (
	maxAuthHeaderBytes = 16 << 10
	maxTokens          = 8
)

// authenticator checks tokens against the configured credentials.
type authenticator struct {
	required bool
	creds    map[string]Credential
	leeway   time.Duration
	now      func() time.Time
	parser   *jwt.Parser
}

func newAuthenticator(a Auth, now func() time.Time) *authenticator {
	au := &authenticator{required: a.Required, creds: make(map[string]Credential, len(a.Credentials)), leeway: a.Leeway, now: now}
	if au.leeway == 0 {
		au.leeway = DefaultLeeway
	} else if au.leeway < 0 {
		au.leeway = 0
	}
	for _, c := range a.Credentials {
		c.SigningKey = slices.Clone(c.SigningKey)
		au.creds[c.ID] = c
	}
	// exp and the AuthN claims are checked by verify itself, in the order
	// of §6.2; the library checks structure, alg and signature (with
	// hmac.Equal, constant time).
	au.parser = jwt.NewParser(jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithoutClaimsValidation(), jwt.WithStrictDecoding())
	return au
}

func unauthenticated(format string, args ...any) *requestError {
	return reject(keyserverv1.Status_UNAUTHENTICATED, headerAuthorization, format, args...)
}

func permissionDenied(format string, args ...any) *requestError {
	return reject(keyserverv1.Status_PERMISSION_DENIED, headerAuthorization, format, args...)
}

// authenticate checks the header values (steps 1–8 of §6.2) and returns
// the token's credential, or nil when there is no token in optional mode.
func (au *authenticator) authenticate(values []string) (*Credential, *authnClaims, error) {
	if len(values) == 0 || (len(values) == 1 && strings.TrimSpace(values[0]) == "") {
		if au.required {
			return nil, nil, unauthenticated("token is missing")
		}
		return nil, nil, nil
	}
	if len(values) > 1 {
		return nil, nil, unauthenticated("header is given %d times, want once", len(values))
	}
	if len(values[0]) > maxAuthHeaderBytes {
		return nil, nil, unauthenticated("value is longer than %d bytes", maxAuthHeaderBytes)
	}
	if !issuer.PrintableASCII(values[0]) {
		// A value gRPC metadata cannot carry would be dropped on the way
		// to the service, and the request would pass as one without a
		// token: refuse it here, in both modes.
		return nil, nil, unauthenticated("value holds a byte that is not printable ASCII")
	}
	token, err := pickAuthN(values[0])
	if err != nil {
		return nil, nil, err
	}
	return au.verify(token)
}

// pickAuthN splits a comma-separated value and returns its AuthN token: the
// only token, or among several the one whose payload typ is AuthN.
func pickAuthN(value string) (string, error) {
	var tokens []string
	for t := range strings.SplitSeq(value, ",") {
		if t = strings.TrimSpace(t); t != "" {
			tokens = append(tokens, t)
		}
	}
	switch {
	case len(tokens) == 0:
		return "", unauthenticated("token is missing")
	case len(tokens) == 1:
		return tokens[0], nil
	case len(tokens) > maxTokens:
		return "", unauthenticated("holds %d tokens, at most %d are accepted", len(tokens), maxTokens)
	}
	found := -1
	for i, t := range tokens {
		if payloadType(t) != "AuthN" {
			continue
		}
		if found >= 0 {
			return "", unauthenticated("holds more than one AuthN token")
		}
		found = i
	}
	if found < 0 {
		return "", unauthenticated("none of the %d tokens is an AuthN token", len(tokens))
	}
	return tokens[found], nil
}

// payloadType returns the typ claim of a JWS compact token without
// verifying it (only to pick the token to verify), or "".
func payloadType(token string) string {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return ""
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return ""
	}
	var p struct {
		Typ string `json:"typ"`
	}
	if json.Unmarshal(b, &p) != nil {
		return ""
	}
	return p.Typ
}

// authnClaims is the AuthN payload. exp is kept raw: it must be an integer
// of epoch seconds in 0..2^32-1.
type authnClaims struct {
	Typ      string          `json:"typ"`
	Ver      string          `json:"ver"`
	Exp      json.RawMessage `json:"exp,omitempty"`
	TenantID string          `json:"tenantId,omitempty"`
}

// The library's own claim validation is off (WithoutClaimsValidation);
// these only satisfy jwt.Claims.
func (*authnClaims) GetExpirationTime() (*jwt.NumericDate, error) { return nil, nil }
func (*authnClaims) GetIssuedAt() (*jwt.NumericDate, error)       { return nil, nil }
func (*authnClaims) GetNotBefore() (*jwt.NumericDate, error)      { return nil, nil }
func (*authnClaims) GetIssuer() (string, error)                   { return "", nil }
func (*authnClaims) GetSubject() (string, error)                  { return "", nil }
func (*authnClaims) GetAudience() (jwt.ClaimStrings, error)       { return nil, nil }

// verify checks one token: structure, header (alg exactly HS256, typ JWT,
// kid), credential, signature, AuthN claims, exp.
func (au *authenticator) verify(token string) (*Credential, *authnClaims, error) {
	claims := &authnClaims{}
	var cred Credential
	tok, err := au.parser.ParseWithClaims(token, claims, func(t *jwt.Token) (any, error) {
		if alg, _ := t.Header["alg"].(string); alg != jwt.SigningMethodHS256.Alg() {
			return nil, unauthenticated("token alg must be HS256")
		}
		if typ, _ := t.Header["typ"].(string); typ != "JWT" {
			return nil, unauthenticated(`token header typ must be "JWT"`)
		}
		for _, name := range [...]string{"crit", "b64"} {
			// RFC 7515 §4.1.11: a crit this verifier does not understand
			// must be refused; b64 (RFC 7797) changes what was signed.
			if _, ok := t.Header[name]; ok {
				return nil, unauthenticated("token header %s is not supported", name)
			}
		}
		kid, _ := t.Header["kid"].(string)
		if kid == "" {
			return nil, unauthenticated("token header has no kid")
		}
		c, ok := au.creds[kid]
		if !ok {
			// The same answer as a bad signature, so that credential ids
			// cannot be enumerated.
			return nil, errUnverified
		}
		cred = c
		return c.SigningKey, nil
	})
	if err != nil {
		return nil, nil, tokenError(tok, err)
	}
	if claims.Typ != "AuthN" {
		return nil, nil, unauthenticated(`token payload typ must be "AuthN"`)
	}
	if claims.Ver != "1.0" {
		return nil, nil, unauthenticated(`token payload ver must be "1.0"`)
	}
	if len(claims.Exp) > 0 {
		exp, perr := strconv.ParseUint(string(claims.Exp), 10, 32)
		if perr != nil {
			return nil, nil, unauthenticated("token is malformed: exp must be integer epoch seconds")
		}
		at := time.Unix(int64(exp), 0)
		if !au.now().Before(at.Add(au.leeway)) {
			return nil, nil, unauthenticated("token is expired (exp %s)", at.UTC().Format(time.RFC3339))
		}
	}
	return &cred, claims, nil
}

// errUnverified answers both an unknown kid and a bad signature.
var errUnverified = unauthenticated("token does not verify with the tenant's credentials")

// tokenError turns a parse failure into a message about what was wrong;
// the library's texts are not used (they are not API).
func tokenError(tok *jwt.Token, err error) error {
	var re *requestError
	if errors.As(err, &re) {
		return re
	}
	if errors.Is(err, jwt.ErrTokenMalformed) {
		return unauthenticated("token is malformed: want three base64url segments holding JSON header and payload")
	}
	if tok != nil {
		if alg, _ := tok.Header["alg"].(string); alg != jwt.SigningMethodHS256.Alg() {
			return unauthenticated("token alg must be HS256")
		}
	}
	if errors.Is(err, jwt.ErrTokenSignatureInvalid) {
		return errUnverified
	}
	return unauthenticated("token cannot be verified")
}

// authorize checks the credential against the request's tenant (steps
// 9–10 of §6.2). cred nil means optional mode without a token.
func authorize(cred *Credential, claims *authnClaims, tenant string) error {
	if cred == nil {
		return nil
	}
	if cred.Tenant != tenant || (claims.TenantID != "" && claims.TenantID != tenant) {
		return permissionDenied("token credential does not match tenant credentials of %s", strconv.Quote(access.Clip(tenant)))
	}
	if !slices.Contains(cred.Privileges, PrivilegeCKM) {
		return permissionDenied("token credential does not match tenant privileges: it lacks %s", PrivilegeCKM)
	}
	return nil
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
	if err := authorize(cred, claims, tenant); err != nil {
		return "", err
	}
	if cred == nil {
		return "", nil
	}
	return cred.ID, nil
}
