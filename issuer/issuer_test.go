package issuer_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/keyserver/keyserver/drm"
	"github.com/keyserver/keyserver/internal/testkit"
	"github.com/keyserver/keyserver/issuer"
	"github.com/keyserver/keyserver/keystore"
	"github.com/keyserver/keyserver/rotation"
)

// recorder is an Observer keeping every event.
type recorder struct {
	mu     sync.Mutex
	events []issuer.Event
}

func (r *recorder) Observe(_ context.Context, e issuer.Event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
}

var now = time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)

func newIssuer(t *testing.T, obs issuer.Observer) *issuer.Issuer {
	t.Helper()
	st, _ := testkit.NewBolt(t)
	iss, err := issuer.New(issuer.Config{
		Store: st, DefaultTenant: "T", Now: func() time.Time { return now }, Observer: obs,
		Defaults: issuer.Tenant{CryptoPeriodSeconds: 600},
		Tenants:  map[string]issuer.Tenant{"U": {CryptoPeriodSeconds: 60, DRMNames: map[string]string{"WV": "Widevine-U"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return iss
}

// TestIssue_CreateThenServe: the first request creates, the second gets
// the same key; the observer hears both, by identity, with the origin.
func TestIssue_CreateThenServe(t *testing.T) {
	rec := &recorder{}
	iss := newIssuer(t, rec)
	req := issuer.Request{Tenant: "T", ContentID: "c1", Scheme: drm.SchemeCBCS, Period: issuer.Period{Live: true},
		Origin: issuer.Origin{FrontEnd: "test", Credential: "cred-1"}}
	first, err := iss.Issue(context.Background(), &req)
	if err != nil || !first.Created {
		t.Fatalf("first: created %v, err %v", first.Created, err)
	}
	if first.Record.PeriodSeconds != 600 || first.Record.Period != rotation.Period(now, 600) {
		t.Errorf("period %d of %d s, want the current one of the tenant's 600 s", first.Record.Period, first.Record.PeriodSeconds)
	}
	again, err := iss.Issue(context.Background(), &req)
	if err != nil || again.Created || again.Record.Key != first.Record.Key {
		t.Fatalf("second: created %v, same key %v, err %v", again.Created, again.Record.Key == first.Record.Key, err)
	}
	if len(rec.events) != 2 {
		t.Fatalf("%d events, want 2", len(rec.events))
	}
	for i, e := range rec.events {
		want := issuer.Event{Kind: issuer.KindIssued, Tenant: "T", ContentID: "c1", Scheme: drm.SchemeCBCS, KeyID: first.Record.Key.KID,
			PeriodSeconds: 600, Period: first.Record.Period, Created: i == 0, Origin: req.Origin}
		if e != want {
			t.Errorf("event %d = %+v, want %+v", i, e, want)
		}
	}
	if _, err := iss.Lookup(context.Background(), "T", first.Record.Key.KID, issuer.Origin{FrontEnd: "export"}); err != nil {
		t.Fatal(err)
	}
	if e := rec.events[2]; e.Kind != issuer.KindLookedUp || e.KeyID != first.Record.Key.KID || e.Origin.FrontEnd != "export" {
		t.Errorf("lookup event %+v", e)
	}
	if _, err := iss.Lookup(context.Background(), "U", first.Record.Key.KID, issuer.Origin{}); !errors.Is(err, keystore.ErrNotFound) {
		t.Errorf("another tenant's lookup: %v, want ErrNotFound", err)
	}
}

// TestIssue_Signaling: the entries follow the outputs in order, carry the
// tenant's DRM names, and the second identical request shares the cached
// set.
func TestIssue_Signaling(t *testing.T) {
	iss := newIssuer(t, nil)
	outs := []issuer.Output{{System: drm.Widevine, Format: issuer.FormatHLS}, {System: drm.PlayReady, Format: issuer.FormatDASH}}
	req := issuer.Request{Tenant: "U", ContentID: "c", Scheme: drm.SchemeCBCS, Outputs: outs}
	var sets []*issuer.Signaling
	for range 3 {
		out, err := iss.Issue(context.Background(), &req)
		if err != nil {
			t.Fatal(err)
		}
		sets = append(sets, out.Signaling)
	}
	s := sets[0]
	if len(s.Entries) != 2 || s.Entries[0].Output != outs[0] || s.Entries[1].Output != outs[1] {
		t.Fatalf("entries %+v", s.Entries)
	}
	if s.Entries[0].HLS.Name != "Widevine-U" || s.Entries[1].DASH.Name != "PLAYREADY" {
		t.Errorf("names %q, %q: want the tenant's WV name and the default PR one", s.Entries[0].HLS.Name, s.Entries[1].DASH.Name)
	}
	if sets[0].Cached() || !sets[1].Cached() || sets[2] != sets[1] {
		t.Errorf("cache: first cached %v, second cached %v, third shares the second %v", sets[0].Cached(), sets[1].Cached(), sets[2] == sets[1])
	}
	if none, err := iss.Issue(context.Background(), &issuer.Request{Tenant: "U", ContentID: "c", Scheme: drm.SchemeCBCS}); err != nil || none.Signaling != nil {
		t.Errorf("no outputs: signaling %v, err %v", none.Signaling, err)
	}
}

// TestIssue_Refusals: invalid identities, the horizon and a period length
// that differs from the pinned one are refused.
func TestIssue_Refusals(t *testing.T) {
	iss := newIssuer(t, nil)
	ctx := context.Background()
	for name, req := range map[string]issuer.Request{
		"bad tenant":     {Tenant: "a b", ContentID: "c"},
		"no content":     {Tenant: "T"},
		"control char":   {Tenant: "T", ContentID: "a\nb"},
		"beyond horizon": {Tenant: "T", ContentID: "c", Period: issuer.Period{Live: true, At: now.Add(8 * 24 * time.Hour)}},
		"before epoch":   {Tenant: "T", ContentID: "c", Period: issuer.Period{Live: true, At: time.Unix(-1, 0)}},
	} {
		if _, err := iss.Issue(ctx, &req); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	byIndex := issuer.Request{Tenant: "T", ContentID: "w", Scheme: drm.SchemeCENC, Track: "SD", Period: issuer.Period{Live: true, ByIndex: true, Index: 5, Seconds: 10, RequireSeconds: true}}
	if out, err := iss.Issue(ctx, &byIndex); err != nil || out.Record.Period != 5 || out.Record.PeriodSeconds != 10 {
		t.Fatalf("by index: %+v, %v", out.Record, err)
	}
	byIndex.Period.Seconds = 20
	var pm *issuer.PeriodMismatchError
	if _, err := iss.Issue(ctx, &byIndex); !errors.As(err, &pm) || pm.Pinned != 10 || pm.Asked != 20 {
		t.Errorf("another period length: %v, want PeriodMismatchError 10/20", err)
	}
}

// TestIssueBatch_OrderAndBound: outcomes come back in request order, one
// distinct key per period; a batch over MaxBatch is refused.
func TestIssueBatch_OrderAndBound(t *testing.T) {
	iss := newIssuer(t, nil)
	reqs := make([]issuer.Request, 50)
	for i := range reqs {
		reqs[i] = issuer.Request{Tenant: "T", ContentID: "b", Scheme: drm.SchemeCENC, Track: "HD", Period: issuer.Period{Live: true, ByIndex: true, Index: int64(i), Seconds: 10}}
	}
	out, err := iss.IssueBatch(context.Background(), reqs)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[drm.KeyID]bool{}
	for i, o := range out {
		if o.Record.Period != int64(i) || seen[o.Record.Key.KID] {
			t.Fatalf("outcome %d: period %d, repeated key %v", i, o.Record.Period, seen[o.Record.Key.KID])
		}
		seen[o.Record.Key.KID] = true
	}
	if _, err := iss.IssueBatch(context.Background(), make([]issuer.Request, issuer.MaxBatch+1)); !errors.Is(err, issuer.ErrInvalidRequest) {
		t.Errorf("oversized batch: %v", err)
	}
}
