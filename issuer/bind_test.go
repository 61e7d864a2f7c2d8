package issuer_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/keyserver/keyserver/drm"
	"github.com/keyserver/keyserver/issuer"
	"github.com/keyserver/keyserver/signaling"
)

// TestBindKeyID: a chosen key id binds one key per tenant, shared with
// the key ids other front-ends issued, refused under another content.
func TestBindKeyID(t *testing.T) {
	ctx := context.Background()
	iss := newIssuer(t, nil)
	kid := drm.GenerateContentKey().KID
	req := issuer.Request{Tenant: "T", ContentID: "channel-1", Scheme: drm.SchemeCENC,
		Outputs: []issuer.Output{{System: drm.Widevine, Format: issuer.FormatDASH}}}

	var wg sync.WaitGroup
	var mu sync.Mutex
	keys := map[drm.Key]int{}
	created := 0
	for range 24 {
		wg.Go(func() {
			r := req
			out, err := iss.BindKeyID(ctx, &r, kid)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			keys[out.Record.Key.Key]++
			if out.Created {
				created++
			}
			if out.Record.Key.KID != kid || out.Signaling == nil || len(out.Signaling.Entries) != 1 {
				t.Errorf("kid %v, signaling %v", out.Record.Key.KID, out.Signaling)
			}
		})
	}
	wg.Wait()
	if len(keys) != 1 || created != 1 {
		t.Fatalf("%d distinct keys, %d creators; want 1, 1", len(keys), created)
	}

	other := req
	other.ContentID = "channel-2"
	if _, err := iss.BindKeyID(ctx, &other, kid); !errors.Is(err, issuer.ErrKeyIDBound) {
		t.Errorf("another content: %v, want ErrKeyIDBound", err)
	}
	// Another tenant has its own key for the same key id.
	u := req
	u.Tenant = "U"
	uo, err := iss.BindKeyID(ctx, &u, kid)
	if err != nil || !uo.Created {
		t.Fatalf("tenant U: created %v, err %v", uo.Created, err)
	}
	if _, seen := keys[uo.Record.Key.Key]; seen {
		t.Error("tenant U got tenant T's key")
	}

	// A key id issued by another front-end (here the native one-key-per-
	// content request) is found, with signaling in the scheme asked for.
	native, err := iss.Issue(ctx, &issuer.Request{Tenant: "T", ContentID: "vod-1", Scheme: drm.SchemeCBCS})
	if err != nil {
		t.Fatal(err)
	}
	b := req
	b.ContentID = "vod-1"
	got, err := iss.BindKeyID(ctx, &b, native.Record.Key.KID)
	if err != nil || got.Created || got.Record.Key != native.Record.Key {
		t.Fatalf("native key id: created %v, same key %v, err %v", got.Created, got.Record.Key == native.Record.Key, err)
	}
	wantBox, err := signaling.NewPSSH(drm.Widevine, signaling.Params{KID: native.Record.Key.KID, ContentID: "vod-1", Scheme: drm.SchemeCENC})
	if err != nil {
		t.Fatal(err)
	}
	if string(got.Signaling.Entries[0].DASH.PSSH) != string(wantBox) {
		t.Error("the Widevine pssh is not the cenc one: the scheme asked for was not used")
	}
	if _, err := iss.BindKeyID(ctx, &req, drm.KeyID{}); !errors.Is(err, issuer.ErrInvalidRequest) {
		t.Errorf("zero key id: %v", err)
	}
}
