// Package storetest is the conformance suite of [keystore.Store] backends:
// every backend runs [Run] from its tests, so that all of them keep the
// Store contract the same way (get-or-create for VOD and LIVE, the pinned
// period length, one key per period under a race, supplied keys and every
// conflict, the key-id index and tenant isolation, durability across a
// reopen, the documented errors, and sealing at rest).
//
// The suite only uses the Store interface and the hooks of [Instance]; it
// knows nothing of any storage engine. It needs no master key: a backend
// seals however it is configured, and the suite checks what it can see
// (Raw bytes) for the keys it was handed.
package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/keyserver/keyserver/drm"
	"github.com/keyserver/keyserver/keystore"
	"github.com/keyserver/keyserver/rotation"
)

// Instance is one open store of the backend under test, with the hooks
// the suite needs beside the Store interface. All fields but MasterKey are
// required.
type Instance struct {
	// Store is the store under test. Its cleanup (Close, the backend's own
	// checks) is registered on the test by the Open function that made it;
	// the suite may close it earlier, so a second Close must be harmless.
	Store keystore.Store
	// Records returns every record of tenant, in an order that depends
	// only on what is stored; none for an unknown tenant. Used to assert
	// what a store holds (exactly one key per period, nothing stored by a
	// failed call).
	Records func(ctx context.Context, tenant string) ([]keystore.Record, error)
	// Reopen opens the same data again, as a new Instance with its own
	// cleanup. The suite calls it only after closing Store.
	Reopen func(t *testing.T) Instance
	// Raw returns every byte the backend holds at rest (for a file-based
	// backend, the file). The suite calls it only after closing Store.
	Raw func(t *testing.T) []byte
	// MasterKey, if not zero, is the master key the store seals under:
	// the suite checks that it does not appear in Raw either.
	MasterKey [32]byte
}

// Open opens a new, empty store of the backend under test for t.
type Open func(t *testing.T) Instance

// Run runs the whole suite against the backend, each test as a subtest of
// t with its own store from open.
func Run(t *testing.T, open Open) {
	tests := []struct {
		name string
		fn   func(*testing.T, Open)
	}{
		{"GetOrCreate_VOD", testGetOrCreate_VOD},
		{"GetOrCreate_Live", testGetOrCreate_Live},
		{"GetOrCreate_ConcurrentNewPeriod", testGetOrCreate_ConcurrentNewPeriod},
		{"GetOrCreate_ConcurrentManyPeriods", testGetOrCreate_ConcurrentManyPeriods},
		{"Reopen", testReopen},
		{"Supplied", testSupplied},
		{"Supplied_ConcurrentResend", testSupplied_ConcurrentResend},
		{"ChosenKeyID", testChosenKeyID},
		{"TenantIsolation", testTenantIsolation},
		{"GetOrCreate_Errors", testGetOrCreate_Errors},
		{"Errors_AfterCreate", testErrors_AfterCreate},
		{"Closed", testClosed},
		{"NoPlaintextKeys", testNoPlaintextKeys},
		{"Errors_NoKeyBytes", testErrors_NoKeyBytes},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open) })
	}
}

func space(tenant, content string) keystore.Space {
	return keystore.Space{Tenant: tenant, ContentID: content, Scheme: drm.SchemeCBCS}
}

// at returns a Period function selecting the period containing t.
func at(t time.Time) func(int64) (int64, error) {
	return func(p int64) (int64, error) { return rotation.Period(t, p), nil }
}

// index returns a Period function selecting period n whatever the length.
func index(n int64) func(int64) (int64, error) {
	return func(int64) (int64, error) { return n, nil }
}

func vod(sp keystore.Space) keystore.Request { return keystore.Request{Space: sp} }

func live(sp keystore.Space, p, n int64) keystore.Request {
	return keystore.Request{Space: sp, PeriodSeconds: p, Period: index(n)}
}

func mustGet(tb testing.TB, s keystore.Store, req keystore.Request) (keystore.Record, bool) {
	tb.Helper()
	rec, created, err := s.GetOrCreate(context.Background(), req)
	if err != nil {
		tb.Fatalf("GetOrCreate(%+v): %v", req.Space, err)
	}
	return rec, created
}

func mustRecords(tb testing.TB, in Instance, tenant string) []keystore.Record {
	tb.Helper()
	recs, err := in.Records(context.Background(), tenant)
	if err != nil {
		tb.Fatalf("Records(%s): %v", tenant, err)
	}
	return recs
}
