package app_test

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"fmt"
	"hash"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/keyserver/keyserver/app"

	"google.golang.org/grpc/codes"

	"github.com/keyserver/keyserver/app/apptest"
	keyserverv1 "github.com/keyserver/keyserver/gen/keyserver/v1"
)

// Tokens in these tests are minted by hand with crypto/hmac (not with the
// JWT library the server uses), so they check the server independently.

func b64url(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// mintWith signs header.payload (raw JSON) with key using h.
func mintWith(h func() hash.Hash, header, payload string, key []byte) string {
	signing := b64url(header) + "." + b64url(payload)
	mac := hmac.New(h, key)
	mac.Write([]byte(signing))
	return signing + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// mint makes a valid-looking AuthN token for kid, signed with key.
func mint(kid string, key []byte, exp time.Time) string {
	return mintWith(sha256.New, `{"kid":"`+kid+`","typ":"JWT","alg":"HS256"}`,
		fmt.Sprintf(`{"ver":"1.0","typ":"AuthN","exp":%d}`, exp.Unix()), key)
}

func newSigningKey(t *testing.T) []byte {
	t.Helper()
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

// authFixture is a server with three credentials: a good one for NAG0000,
// a good one for NAG0001, and one of NAG0000 without the CKM privilege.
type authFixture struct {
	env                     *apptest.Env
	clk                     *clock
	keyA, keyB, keyNoPriv   []byte
	credA, credB, credNoPrv string
}

func startAuth(t *testing.T, required bool, opts ...func(*app.Config)) *authFixture {
	t.Helper()
	f := &authFixture{clk: &clock{t: t0}, keyA: newSigningKey(t), keyB: newSigningKey(t), keyNoPriv: newSigningKey(t),
		credA: "482182", credB: "cred-b", credNoPrv: "cred-sms"}
	cfg := app.Config{
		DefaultTenant: "NAG0000",
		Now:           f.clk.Now,
		Auth: app.Auth{
			Required: required,
			Leeway:   time.Minute,
			Credentials: []app.Credential{
				{ID: f.credA, Tenant: "NAG0000", SigningKey: f.keyA, Privileges: []string{"SMS", "CKM"}},
				{ID: f.credB, Tenant: "NAG0001", SigningKey: f.keyB, Privileges: []string{"CKM"}},
				{ID: f.credNoPrv, Tenant: "NAG0000", SigningKey: f.keyNoPriv, Privileges: []string{"SMS"}},
			},
		},
	}
	for _, o := range opts {
		o(&cfg)
	}
	f.env = apptest.Start(t, cfg)
	return f
}

func (f *authFixture) tokenA() string { return mint(f.credA, f.keyA, t0.Add(time.Hour)) }
func (f *authFixture) tokenB() string { return mint(f.credB, f.keyB, t0.Add(time.Hour)) }

func assertNoRecords(t *testing.T, env *apptest.Env, tenants ...string) {
	t.Helper()
	for _, tn := range tenants {
		assertStoreEmpty(t, env, tn)
	}
}

// TestAuth_Rejections walks every token rejection over gRPC and REST: the
// status, the HTTP code, a message saying what was wrong without the
// token, and nothing stored.
func TestAuth_Rejections(t *testing.T) {
	f := startAuth(t, true)
	hdr := func(kid, alg string) string { return `{"kid":"` + kid + `","typ":"JWT","alg":"` + alg + `"}` }
	payload := fmt.Sprintf(`{"ver":"1.0","typ":"AuthN","exp":%d}`, t0.Add(time.Hour).Unix())
	other := newSigningKey(t)
	contentAuthZ := mintWith(sha256.New, hdr(f.credA, "HS256"), `{"ver":"1.0","typ":"ContentAuthZ","exp":9999999999}`, f.keyA)
	unsigned := b64url(hdr(f.credA, "none")) + "." + b64url(payload) + "."

	cases := []struct {
		name, tenant, token string
		code                codes.Code
		msg                 string
	}{
		{"missing", "NAG0000", "", codes.Unauthenticated, "token is missing"},
		{"only commas", "NAG0000", " , ", codes.Unauthenticated, "token is missing"},
		{"two segments", "NAG0000", "eyJhbGciOiJIUzI1NiJ9.eyJ0eXAiOiJBdXRoTiJ9", codes.Unauthenticated, "malformed"},
		{"not base64", "NAG0000", "a$b.c$d.e$f", codes.Unauthenticated, "malformed"},
		{"header not JSON", "NAG0000", b64url("nope") + "." + b64url(payload) + ".c2ln", codes.Unauthenticated, "malformed"},
		{"alg none", "NAG0000", unsigned, codes.Unauthenticated, "alg must be HS256"},
		{"alg none signed", "NAG0000", mintWith(sha256.New, hdr(f.credA, "none"), payload, f.keyA), codes.Unauthenticated, "alg must be HS256"},
		{"alg HS512", "NAG0000", mintWith(sha512.New, hdr(f.credA, "HS512"), payload, f.keyA), codes.Unauthenticated, "alg must be HS256"},
		{"alg lower case", "NAG0000", mintWith(sha256.New, hdr(f.credA, "hs256"), payload, f.keyA), codes.Unauthenticated, "alg must be HS256"},
		{"alg RS256", "NAG0000", mintWith(sha256.New, hdr(f.credA, "RS256"), payload, f.keyA), codes.Unauthenticated, "alg must be HS256"},
		{"header typ", "NAG0000", mintWith(sha256.New, `{"kid":"`+f.credA+`","typ":"JWE","alg":"HS256"}`, payload, f.keyA), codes.Unauthenticated, `typ must be "JWT"`},
		{"no kid", "NAG0000", mintWith(sha256.New, `{"typ":"JWT","alg":"HS256"}`, payload, f.keyA), codes.Unauthenticated, "no kid"},
		{"unknown credential", "NAG0000", mint("999999", f.keyA, t0.Add(time.Hour)), codes.Unauthenticated, "token does not verify with the tenant's credentials"},
		{"bad signature", "NAG0000", mint(f.credA, other, t0.Add(time.Hour)), codes.Unauthenticated, "token does not verify with the tenant's credentials"},
		{"crit header", "NAG0000", mintWith(sha256.New, `{"kid":"`+f.credA+`","typ":"JWT","alg":"HS256","crit":["exp"]}`, payload, f.keyA), codes.Unauthenticated, "header crit is not supported"},
		{"b64 header", "NAG0000", mintWith(sha256.New, `{"kid":"`+f.credA+`","typ":"JWT","alg":"HS256","b64":true}`, payload, f.keyA), codes.Unauthenticated, "header b64 is not supported"},
		{"signature of another credential", "NAG0000", mint(f.credA, f.keyB, t0.Add(time.Hour)), codes.Unauthenticated, "token does not verify with the tenant's credentials"},
		{"payload typ", "NAG0000", contentAuthZ, codes.Unauthenticated, `typ must be "AuthN"`},
		{"payload ver", "NAG0000", mintWith(sha256.New, hdr(f.credA, "HS256"), `{"ver":"2.0","typ":"AuthN"}`, f.keyA), codes.Unauthenticated, `ver must be "1.0"`},
		{"exp not an integer", "NAG0000", mintWith(sha256.New, hdr(f.credA, "HS256"), `{"ver":"1.0","typ":"AuthN","exp":"soon"}`, f.keyA), codes.Unauthenticated, "exp must be integer"},
		{"expired beyond leeway", "NAG0000", mint(f.credA, f.keyA, t0.Add(-61*time.Second)), codes.Unauthenticated, "expired"},
		{"no AuthN among several", "NAG0000", contentAuthZ + "," + contentAuthZ, codes.Unauthenticated, "none of the 2 tokens is an AuthN token"},
		{"two AuthN", "NAG0000", f.tokenA() + "," + f.tokenA(), codes.Unauthenticated, "more than one AuthN"},
		{"credential of another tenant", "NAG0000", f.tokenB(), codes.PermissionDenied, `does not match tenant credentials of "NAG0000"`},
		{"other tenant on default route", "", f.tokenB(), codes.PermissionDenied, "does not match tenant credentials"},
		{"tenant claim mismatch", "NAG0000", mintWith(sha256.New, hdr(f.credA, "HS256"), `{"ver":"1.0","typ":"AuthN","tenantId":"NAG0001"}`, f.keyA), codes.PermissionDenied, "does not match tenant credentials"},
		{"no CKM privilege", "NAG0000", mint(f.credNoPrv, f.keyNoPriv, t0.Add(time.Hour)), codes.PermissionDenied, "does not match tenant privileges"},
	}
	for _, tc := range cases {
		for _, tr := range []string{"grpc", "rest"} {
			t.Run(tc.name+"/"+tr, func(t *testing.T) {
				r := call(t, f.env, tr, tc.tenant, tc.token, newReq("movie-"+tr, keyserverv1.DistributionMode_VOD, 0, "WV"), nil)
				wantReason, wantHTTP := "UNAUTHENTICATED", http.StatusUnauthorized
				if tc.code == codes.PermissionDenied {
					wantReason, wantHTTP = "PERMISSION_DENIED", http.StatusForbidden
				}
				if r.reason != wantReason {
					t.Fatalf("status %s (%s), want %s", r.reason, r.msg, wantReason)
				}
				if tr == "grpc" && r.code != tc.code {
					t.Errorf("gRPC code %v, want %v", r.code, tc.code)
				}
				if tr == "rest" && r.httpCode != wantHTTP {
					t.Errorf("HTTP %d, want %d", r.httpCode, wantHTTP)
				}
				if !strings.Contains(r.msg, tc.msg) || !strings.Contains(r.msg, "nv-authorizations") {
					t.Errorf("message %q does not say %q about nv-authorizations", r.msg, tc.msg)
				}
				for _, seg := range strings.Split(tc.token, ".") {
					if len(seg) > 8 && strings.Contains(r.msg, seg) {
						t.Errorf("message %q echoes the token", r.msg)
					}
				}
				if r.header.Get("X-Correlation-Id") == "" {
					t.Error("rejection carries no correlation id")
				}
				assertNoRecords(t, f.env, "NAG0000", "NAG0001")
			})
		}
	}
}

// TestAuth_Accepted: the good token, the default-tenant route, exp within
// the leeway, no exp, and the AuthN token among others.
func TestAuth_Accepted(t *testing.T) {
	f := startAuth(t, true)
	kc := b64url(`{"alg":"dir","enc":"A128CBC-HS256","kid":"k"}`) + "..aXY.Y3Q.dGFn" // a Kc JWE: not AuthN
	contentAuthZ := mintWith(sha256.New, `{"kid":"x","typ":"JWT","alg":"HS256"}`, `{"ver":"1.0","typ":"ContentAuthZ"}`, f.keyB)
	tokens := map[string]string{
		"valid":             f.tokenA(),
		"within leeway":     mint(f.credA, f.keyA, t0.Add(-59*time.Second)),
		"no exp":            mintWith(sha256.New, `{"kid":"`+f.credA+`","typ":"JWT","alg":"HS256"}`, `{"ver":"1.0","typ":"AuthN"}`, f.keyA),
		"matching claim":    mintWith(sha256.New, `{"kid":"`+f.credA+`","typ":"JWT","alg":"HS256"}`, `{"ver":"1.0","typ":"AuthN","tenantId":"NAG0000"}`, f.keyA),
		"among several":     contentAuthZ + ", " + f.tokenA() + "," + kc,
		"surrounding space": "  " + f.tokenA() + " ",
	}
	var keyIDs []string
	for name, tok := range tokens {
		for _, tr := range []string{"grpc", "rest"} {
			for _, tenant := range []string{"NAG0000", ""} {
				t.Run(name+"/"+tr+"/"+tenant, func(t *testing.T) {
					r := call(t, f.env, tr, tenant, tok, newReq("movie", keyserverv1.DistributionMode_VOD, 0, "WV"), nil)
					keyIDs = append(keyIDs, mustOK(t, r).GetContentKey().GetKeyId())
				})
			}
		}
	}
	for _, id := range keyIDs {
		if id != keyIDs[0] {
			t.Fatalf("the same content gave key ids %s and %s", keyIDs[0], id)
		}
	}
	// The gRPC health service and /healthz stay open without a token.
	res, err := f.env.HTTP.Get(f.env.HTTPURL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Errorf("/healthz without a token: HTTP %d", res.StatusCode)
	}
}

// TestAuth_BeforeWork: in required mode a REST request without a token is
// refused before its body is read, so a broken body still gets 401.
func TestAuth_BeforeWork(t *testing.T) {
	f := startAuth(t, true)
	r := postJSON(t, f.env, "NAG0000", `{"drmContent":`, nil)
	if r.httpCode != http.StatusUnauthorized || r.reason != "UNAUTHENTICATED" {
		t.Errorf("broken body without token: HTTP %d %s (%s), want 401 UNAUTHENTICATED", r.httpCode, r.reason, r.msg)
	}
	// gRPC: an invalid request with a bad token is refused for the token.
	r = call(t, f.env, "grpc", "NAG0000", "x.y.z", newReq("", 0, 0, "NOPE"), nil)
	if r.code != codes.Unauthenticated {
		t.Errorf("invalid request with bad token: %v %s", r.code, r.msg)
	}
}

// TestAuth_Optional: without a token requests pass (any tenant); a token
// that is present is still fully checked.
func TestAuth_Optional(t *testing.T) {
	f := startAuth(t, false)
	for _, tr := range []string{"grpc", "rest"} {
		t.Run(tr, func(t *testing.T) {
			mustOK(t, call(t, f.env, tr, "ONPREM7", "", newReq("m", keyserverv1.DistributionMode_VOD, 0), nil))
			mustOK(t, call(t, f.env, tr, "NAG0000", f.tokenA(), newReq("m", keyserverv1.DistributionMode_VOD, 0), nil))
			bad := []struct {
				token, reason string
			}{
				{mint(f.credA, f.keyB, t0.Add(time.Hour)), "UNAUTHENTICATED"},
				{mint(f.credA, f.keyA, t0.Add(-time.Hour)), "UNAUTHENTICATED"},
				{"garbage", "UNAUTHENTICATED"},
				{f.tokenB(), "PERMISSION_DENIED"},
			}
			for _, b := range bad {
				r := call(t, f.env, tr, "NAG0000", b.token, newReq("o-"+tr, keyserverv1.DistributionMode_VOD, 0), nil)
				if r.reason != b.reason {
					t.Errorf("bad token in optional mode: %s (%s), want %s", r.reason, r.msg, b.reason)
				}
			}
		})
	}
	recs, err := f.env.Store.Records(context.Background(), "NAG0000")
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 { // "m" only; no "o-…" record
		t.Errorf("NAG0000 holds %d records, want 1", len(recs))
	}
}

func TestAuth_ConfigValidation(t *testing.T) {
	short := make([]byte, 31)
	cases := []struct {
		name string
		auth app.Auth
		want string
	}{
		{"required without credentials", app.Auth{Required: true}, "at least one credential"},
		{"short key", app.Auth{Credentials: []app.Credential{{ID: "a", Tenant: "T", SigningKey: short}}}, "at least 32 bytes"},
		{"bad tenant", app.Auth{Credentials: []app.Credential{{ID: "a", Tenant: "a b", SigningKey: newSigningKey(t)}}}, "tenantId"},
		{"no id", app.Auth{Credentials: []app.Credential{{Tenant: "T", SigningKey: newSigningKey(t)}}}, "credentialId is required"},
		{"duplicate id", app.Auth{Credentials: []app.Credential{
			{ID: "a", Tenant: "T", SigningKey: newSigningKey(t)}, {ID: "a", Tenant: "U", SigningKey: newSigningKey(t)}}}, "listed twice"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := app.Config{Auth: tc.auth} // (Store missing too: Validate reports every problem)
			err := cfg.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate() = %v, want %q", err, tc.want)
			}
			if strings.Contains(err.Error(), base64.StdEncoding.EncodeToString(short)) {
				t.Error("error shows the signing key")
			}
		})
	}
}
