// Package authn holds the tenant credentials and verifies the SSP-style
// tokens signed with them (nagra-ckm-notes.md §6): HS256 JWS compact
// tokens whose header kid names a configured credential. Every front-end
// that authenticates by token uses it and maps its errors to its own
// protocol.
//
// Error messages say what was wrong; they never carry a token or a key.
package authn

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/keyserver/keyserver/access"
	"github.com/keyserver/keyserver/issuer"
)

// Auth configures token authentication.
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

// Credential privileges known to the front-ends.
const (
	// PrivilegeCKM lets a credential ask for content keys (the Nagra API).
	PrivilegeCKM = "CKM"
)

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
	// Privileges name what the credential may do (PrivilegeCKM, …).
	Privileges []string
	// ClientCertificates are the SHA-256 fingerprints of the client
	// certificates (mutual TLS) that authenticate as this credential,
	// where a front-end accepts them (CPIX/SPEKE: AWS encryptors cannot
	// add a token header).
	ClientCertificates [][32]byte
}

// Has reports whether the credential holds privilege.
func (c *Credential) Has(privilege string) bool { return slices.Contains(c.Privileges, privilege) }

// minSigningKeyBytes: RFC 7518 §3.2 wants an HS256 key of at least the
// hash size.
const minSigningKeyBytes = 32

// Validate reports every problem of the credentials at once.
func (a *Auth) Validate() error {
	var errs []error
	seen := map[string]bool{}
	certSeen := map[[32]byte]string{}
	for i, c := range a.Credentials {
		where := fmt.Sprintf("config: auth: credentials[%d]", i)
		switch {
		case c.ID == "":
			errs = append(errs, fmt.Errorf("%s: credentialId is required", where))
		case seen[c.ID]:
			errs = append(errs, fmt.Errorf("%s: credentialId %q is listed twice", where, c.ID))
		}
		seen[c.ID] = true
		for _, fp := range c.ClientCertificates {
			if other, dup := certSeen[fp]; dup {
				errs = append(errs, fmt.Errorf("%s: a client certificate is also bound to credentialId %q", where, other))
			}
			certSeen[fp] = c.ID
		}
		if !issuer.ValidTenantID(c.Tenant) {
			errs = append(errs, fmt.Errorf("%s: tenantId %q does not match [A-Za-z0-9_-]{1,64}", where, c.Tenant))
		}
		if len(c.SigningKey) < minSigningKeyBytes && (len(c.SigningKey) > 0 || len(c.ClientCertificates) == 0) {
			// A credential of client certificates only has no signing
			// key; Verify then refuses its tokens.
			errs = append(errs, fmt.Errorf("%s: signingKey must decode to at least %d bytes", where, minSigningKeyBytes))
		}
	}
	if a.Required && len(a.Credentials) == 0 {
		errs = append(errs, errors.New("config: auth: required mode needs at least one credential"))
	}
	return errors.Join(errs...)
}

// Error is a refused token. Denied distinguishes a valid token without the
// right (tenant, privilege) from a token that does not authenticate.
type Error struct {
	Denied bool
	Msg    string
}

func (e *Error) Error() string { return e.Msg }

func unauthenticated(format string, args ...any) *Error {
	return &Error{Msg: fmt.Sprintf(format, args...)}
}

// Denied returns a permission error (a valid token lacking a right).
func Denied(format string, args ...any) *Error {
	return &Error{Denied: true, Msg: fmt.Sprintf(format, args...)}
}

// Limits on the header, so that a hostile value costs little.
const (
	maxAuthHeaderBytes = 16 << 10
	maxTokens          = 8
)

// Verifier checks tokens against the configured credentials. It is safe
// for concurrent use.
type Verifier struct {
	required bool
	creds    map[string]Credential
	leeway   time.Duration
	now      func() time.Time
	parser   *jwt.Parser
	certs    map[[32]byte]string // client certificate fingerprint → credential id
}

// NewVerifier returns a verifier of a's credentials; now is the clock exp
// is checked against (time.Now when nil).
func NewVerifier(a Auth, now func() time.Time) *Verifier {
	if now == nil {
		now = time.Now
	}
	v := &Verifier{required: a.Required, creds: make(map[string]Credential, len(a.Credentials)), leeway: a.Leeway, now: now}
	if v.leeway == 0 {
		v.leeway = DefaultLeeway
	} else if v.leeway < 0 {
		v.leeway = 0
	}
	v.certs = map[[32]byte]string{}
	for _, c := range a.Credentials {
		c.SigningKey = slices.Clone(c.SigningKey)
		c.Privileges = slices.Clone(c.Privileges)
		c.ClientCertificates = slices.Clone(c.ClientCertificates)
		v.creds[c.ID] = c
		for _, fp := range c.ClientCertificates {
			v.certs[fp] = c.ID
		}
	}
	// exp and the claims are checked by the callers of Verify, in the
	// order of §6.2; the library checks structure, alg and signature (with
	// hmac.Equal, constant time).
	v.parser = jwt.NewParser(jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithoutClaimsValidation(), jwt.WithStrictDecoding())
	return v
}

// ByClientCertificate returns the credential a client certificate (its
// SHA-256 fingerprint) is bound to.
func (v *Verifier) ByClientCertificate(fp [32]byte) (*Credential, bool) {
	id, ok := v.certs[fp]
	if !ok {
		return nil, false
	}
	c := v.creds[id]
	return &c, true
}

// Required reports whether a token is mandatory.
func (v *Verifier) Required() bool { return v.required }

// Credential returns the configured credential with that id.
func (v *Verifier) Credential(id string) (Credential, bool) {
	c, ok := v.creds[id]
	return c, ok
}

// AuthN checks the values of an nv-authorizations header (steps 1–8 of
// §6.2) and returns the AuthN token's credential and claims, or nil, nil
// when there is no token in optional mode. Errors are *Error.
func (v *Verifier) AuthN(values []string) (*Credential, *AuthNClaims, error) {
	token, err := v.pick(values, "AuthN")
	if err != nil || token == "" {
		return nil, nil, err
	}
	claims := &AuthNClaims{}
	cred, err := v.Verify(token, claims)
	if err != nil {
		return nil, nil, err
	}
	if claims.Typ != "AuthN" {
		return nil, nil, unauthenticated(`token payload typ must be "AuthN"`)
	}
	if claims.Ver != "1.0" {
		return nil, nil, unauthenticated(`token payload ver must be "1.0"`)
	}
	if err := v.CheckExp(claims.Exp); err != nil {
		return nil, nil, err
	}
	return cred, claims, nil
}

// Authorize checks an AuthN credential against the request's tenant and the
// privilege the front-end requires (steps 9–10 of §6.2). cred nil means
// optional mode without a token.
func Authorize(cred *Credential, claims *AuthNClaims, tenant, privilege string) error {
	if cred == nil {
		return nil
	}
	if cred.Tenant != tenant || (claims != nil && claims.TenantID != "" && claims.TenantID != tenant) {
		return Denied("token credential does not match tenant credentials of %s", strconv.Quote(access.Clip(tenant)))
	}
	if !cred.Has(privilege) {
		return Denied("token credential does not match tenant privileges: it lacks %s", privilege)
	}
	return nil
}

// Pick returns the token of type typ from the values of an
// nv-authorizations header: the only token, or among several
// comma-separated ones the one whose payload typ is typ. It returns ""
// without error when there is no token and tokens are optional.
func (v *Verifier) Pick(values []string, typ string) (string, error) { return v.pick(values, typ) }

func (v *Verifier) pick(values []string, typ string) (string, error) {
	if len(values) == 0 || (len(values) == 1 && strings.TrimSpace(values[0]) == "") {
		if v.required {
			return "", unauthenticated("token is missing")
		}
		return "", nil
	}
	if len(values) > 1 {
		return "", unauthenticated("header is given %d times, want once", len(values))
	}
	if len(values[0]) > maxAuthHeaderBytes {
		return "", unauthenticated("value is longer than %d bytes", maxAuthHeaderBytes)
	}
	if !issuer.PrintableASCII(values[0]) {
		// A value gRPC metadata cannot carry would be dropped on the way
		// to the service, and the request would pass as one without a
		// token: refuse it here, in both modes.
		return "", unauthenticated("value holds a byte that is not printable ASCII")
	}
	var tokens []string
	for t := range strings.SplitSeq(values[0], ",") {
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
		if payloadType(t) != typ {
			continue
		}
		if found >= 0 {
			return "", unauthenticated("holds more than one %s token", typ)
		}
		found = i
	}
	if found < 0 {
		return "", unauthenticated("none of the %d tokens is an %s token", len(tokens), typ)
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

// Claims is what Verify decodes a payload into: any struct with JSON tags
// that embeds NoStandardClaims (the library's own claim validation is off).
type Claims = jwt.Claims

// NoStandardClaims satisfies jwt.Claims for payload structs whose claims
// the callers check themselves.
type NoStandardClaims struct{}

func (NoStandardClaims) GetExpirationTime() (*jwt.NumericDate, error) { return nil, nil }
func (NoStandardClaims) GetIssuedAt() (*jwt.NumericDate, error)       { return nil, nil }
func (NoStandardClaims) GetNotBefore() (*jwt.NumericDate, error)      { return nil, nil }
func (NoStandardClaims) GetIssuer() (string, error)                   { return "", nil }
func (NoStandardClaims) GetSubject() (string, error)                  { return "", nil }
func (NoStandardClaims) GetAudience() (jwt.ClaimStrings, error)       { return nil, nil }

// AuthNClaims is the AuthN payload. Exp is kept raw: it must be an integer
// of epoch seconds in 0..2^32-1 (CheckExp).
type AuthNClaims struct {
	NoStandardClaims
	Typ      string          `json:"typ"`
	Ver      string          `json:"ver"`
	Exp      json.RawMessage `json:"exp,omitempty"`
	TenantID string          `json:"tenantId,omitempty"`
}

// Verify checks one compact token: structure, header (alg exactly HS256,
// typ JWT, kid, no crit or b64), credential and signature, and decodes its
// payload into claims. It checks no claim. Errors are *Error; an unknown
// kid and a bad signature get the same answer, so that credential ids
// cannot be enumerated.
func (v *Verifier) Verify(token string, claims Claims) (*Credential, error) {
	var cred Credential
	tok, err := v.parser.ParseWithClaims(token, claims, func(t *jwt.Token) (any, error) {
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
		c, ok := v.creds[kid]
		if !ok || len(c.SigningKey) == 0 {
			return nil, errUnverified
		}
		cred = c
		return c.SigningKey, nil
	})
	if err != nil {
		return nil, tokenError(tok, err)
	}
	return &cred, nil
}

var errExpMalformed = unauthenticated("token is malformed: exp must be integer epoch seconds")

// CheckExp checks a raw exp claim (absent is accepted): it must be integer
// epoch seconds in 0..2^32-1 and not past, within the leeway.
func (v *Verifier) CheckExp(exp json.RawMessage) error {
	if len(exp) == 0 {
		return nil
	}
	n, err := strconv.ParseUint(string(exp), 10, 32)
	if err != nil {
		return errExpMalformed
	}
	at := time.Unix(int64(n), 0)
	if !v.now().Before(at.Add(v.leeway)) {
		return unauthenticated("token is expired (exp %s)", at.UTC().Format(time.RFC3339))
	}
	return nil
}

// errUnverified answers both an unknown kid and a bad signature.
var errUnverified = unauthenticated("token does not verify with the tenant's credentials")

// tokenError turns a parse failure into a message about what was wrong;
// the library's texts are not used (they are not API).
func tokenError(tok *jwt.Token, err error) error {
	var e *Error
	if errors.As(err, &e) {
		return e
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
