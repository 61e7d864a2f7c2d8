package app_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"strings"
	"testing"

	keyserverv1 "github.com/keyserver/keyserver/gen/keyserver/v1"
)

// TestTenants_SameContentDifferentKeys: the same content id in two tenants
// gives two unrelated keys, on both transports, and each tenant's store
// holds only its own.
func TestTenants_SameContentDifferentKeys(t *testing.T) {
	f := startAuth(t, true)
	for _, tr := range []string{"grpc", "rest"} {
		t.Run(tr, func(t *testing.T) {
			id := "shared-" + tr
			a := mustOK(t, call(t, f.env, tr, "NAG0000", f.tokenA(), newReq(id, keyserverv1.DistributionMode_VOD, 0, "WV"), nil)).GetContentKey()
			b := mustOK(t, call(t, f.env, tr, "NAG0001", f.tokenB(), newReq(id, keyserverv1.DistributionMode_VOD, 0, "WV"), nil)).GetContentKey()
			if a.GetKeyId() == b.GetKeyId() || a.GetKey() == b.GetKey() || a.GetIv() == b.GetIv() {
				t.Fatalf("tenants share key material: %s vs %s", a.GetKeyId(), b.GetKeyId())
			}
			// Each gets its own key again.
			a2 := mustOK(t, call(t, f.env, tr, "NAG0000", f.tokenA(), newReq(id, keyserverv1.DistributionMode_VOD, 0, "WV"), nil)).GetContentKey()
			if a2.GetKey() != a.GetKey() {
				t.Error("tenant A's key changed after tenant B's request")
			}
		})
	}
	for _, tn := range []string{"NAG0000", "NAG0001"} {
		recs, err := f.env.Store.Records(context.Background(), tn)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != 2 {
			t.Errorf("%s holds %d records, want 2", tn, len(recs))
		}
	}
}

// TestTenants_CrossTenantRefused: a valid credential of tenant B cannot
// read, create or overwrite anything of tenant A, by path, by tenantId or
// through the default-tenant route.
func TestTenants_CrossTenantRefused(t *testing.T) {
	f := startAuth(t, true)
	a := mustOK(t, call(t, f.env, "grpc", "NAG0000", f.tokenA(), newReq("secret-movie", keyserverv1.DistributionMode_VOD, 0, "WV"), nil)).GetContentKey()
	before, err := f.env.Store.Records(context.Background(), "NAG0000")
	if err != nil {
		t.Fatal(err)
	}
	key := make([]byte, 16)
	_, _ = rand.Read(key)
	overwrite := newReq("secret-movie", keyserverv1.DistributionMode_VOD, 0, "WV")
	overwrite.ScheduledKey = &keyserverv1.ScheduledKey{ContentKey: &keyserverv1.ContentKey{KeyId: a.GetKeyId(), Key: base64.StdEncoding.EncodeToString(key)}}
	for _, tr := range []string{"grpc", "rest"} {
		for _, tenant := range []string{"NAG0000", ""} {
			for name, req := range map[string]*keyserverv1.GetKeyAndSignalizationRequest{
				"read":      newReq("secret-movie", keyserverv1.DistributionMode_VOD, 0, "WV"),
				"create":    newReq("new-movie", keyserverv1.DistributionMode_LIVE, 0, "WV"),
				"overwrite": overwrite,
			} {
				r := call(t, f.env, tr, tenant, f.tokenB(), req, nil)
				if r.reason != "PERMISSION_DENIED" || r.resp != nil {
					t.Errorf("%s/%s %q with tenant B's credential: %s %s", tr, name, tenant, r.reason, r.msg)
				}
			}
		}
	}
	after, err := f.env.Store.Records(context.Background(), "NAG0000")
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(before) {
		t.Errorf("tenant A's records went from %d to %d", len(before), len(after))
	}
	again := mustOK(t, call(t, f.env, "rest", "NAG0000", f.tokenA(), newReq("secret-movie", keyserverv1.DistributionMode_VOD, 0, "WV"), nil)).GetContentKey()
	if again.GetKey() != a.GetKey() || again.GetKeyId() != a.GetKeyId() {
		t.Error("tenant A's key changed")
	}
	assertStoreEmpty(t, f.env, "NAG0001")
}

// TestTenants_SuppliedKeyIDOfAnotherTenant: a key id tenant A already uses
// is accepted for tenant B's own key, and B learns nothing of A's key; the
// key-id index is per tenant (inside B the id then conflicts as usual).
func TestTenants_SuppliedKeyIDOfAnotherTenant(t *testing.T) {
	f := startAuth(t, true)
	for _, tr := range []string{"grpc", "rest"} {
		t.Run(tr, func(t *testing.T) {
			a := mustOK(t, call(t, f.env, tr, "NAG0000", f.tokenA(), newReq("a-movie-"+tr, keyserverv1.DistributionMode_VOD, 0, "WV"), nil)).GetContentKey()
			raw := make([]byte, 16)
			_, _ = rand.Read(raw)
			bKey := base64.StdEncoding.EncodeToString(raw)
			supply := func(content string) *keyserverv1.GetKeyAndSignalizationRequest {
				r := newReq(content, keyserverv1.DistributionMode_VOD, 0, "WV")
				r.ScheduledKey = &keyserverv1.ScheduledKey{ContentKey: &keyserverv1.ContentKey{KeyId: a.GetKeyId(), Key: bKey}}
				return r
			}
			r := call(t, f.env, tr, "NAG0001", f.tokenB(), supply("b-movie-"+tr), nil)
			resp := mustOK(t, r)
			ck := resp.GetContentKey()
			if ck.GetKey() != "" || ck.GetKeyId() != a.GetKeyId() {
				t.Fatalf("B's answer carries key %q / key id %q", ck.GetKey(), ck.GetKeyId())
			}
			if ck.GetIv() == a.GetIv() {
				t.Error("B got A's IV")
			}
			// Nothing of A's key in B's signaling.
			rawA, _ := base64.StdEncoding.DecodeString(a.GetKey())
			if containsBytes(t, resp, rawA) {
				t.Error("B's signaling carries A's key")
			}
			// Idempotent for B; inside B the id is now taken.
			mustOK(t, call(t, f.env, tr, "NAG0001", f.tokenB(), supply("b-movie-"+tr), nil))
			if c := call(t, f.env, tr, "NAG0001", f.tokenB(), supply("b-other-"+tr), nil); c.reason != "KEY_CONFLICT" {
				t.Errorf("same key id for another content of B: %s, want KEY_CONFLICT", c.reason)
			}
			// A is untouched.
			a2 := mustOK(t, call(t, f.env, tr, "NAG0000", f.tokenA(), newReq("a-movie-"+tr, keyserverv1.DistributionMode_VOD, 0, "WV"), nil)).GetContentKey()
			if a2.GetKey() != a.GetKey() || a2.GetIv() != a.GetIv() {
				t.Error("A's key changed after B reused its key id")
			}
		})
	}
}

// containsBytes reports whether any string field of the response, decoded
// from base64 where it is base64, holds b.
func containsBytes(t *testing.T, resp *keyserverv1.GetKeyAndSignalizationResponse, b []byte) bool {
	t.Helper()
	for _, s := range resp.GetDrmSignalization() {
		for _, v := range []string{s.GetDash().GetPsshBox(), s.GetDash().GetManifestHeader(), s.GetHls().GetKeyUri()} {
			if d, err := base64.StdEncoding.DecodeString(v); err == nil && bytes.Contains(d, b) {
				return true
			}
			if strings.Contains(v, base64.StdEncoding.EncodeToString(b)) {
				return true
			}
		}
	}
	return false
}
