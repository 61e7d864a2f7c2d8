// Package keystore is the durable key store of the content-key server: it
// hands out at most one content key per crypto period of a key space and
// never returns a key differently once it has been returned.
//
// # Model
//
// A key space ([Space]) is (tenant, content id, encryption scheme, track).
// A VOD request (PeriodSeconds == 0) addresses the one key of the space. A
// LIVE request addresses period n of the space's crypto period length P,
// covering [n·P, (n+1)·P) in Unix seconds. P is pinned by the first LIVE key
// stored in the space and never moves afterwards; later requests propose a
// length only for spaces that have none pinned. VOD keys ignore the pin.
//
// # Guarantees
//
//   - At most one key per (space, period), whatever the concurrency: racing
//     [Store.GetOrCreate] calls for a new period all return the same key.
//   - A key is fsync'd before it is returned for the first time, and records
//     are never updated or deleted.
//   - Key ids are unique per tenant (a per-tenant key-id index); tenants never
//     see each other's records.
//   - Keys and IVs are sealed at rest with AES-256-GCM under a master key,
//     with the record's identity as additional data (see format.go).
//   - No key or IV value appears in an error. The package does not log.
//
// # Backends
//
// [Store] is backend-neutral: its methods, types and errors mention no
// storage engine. Package keystore/boltstore (bbolt, one file, one process)
// is the only backend today; a replicated backend can implement Store
// without touching callers. What every backend shares lives here, so that
// all of them store the same bytes and behave alike:
//
//   - the stored format: [Sealer] (records and the canary), [SpaceKey],
//     [PeriodKey], [PinKey], [EncodeLocation] and their decoders; the
//     format is documented in format.go;
//   - the request rules: [ValidateRequest], [ValidTenant], [CheckTenant],
//     [NewCandidate] (a creating call's key, drawn before the transaction)
//     and [MatchSupplied] (idempotent re-send or ErrConflict);
//   - the record cache, a decorator over any Store: [NewCached].
//
// Package keystore/storetest is the conformance suite every backend runs.
//
// # Errors
//
// Callers match the sentinels with [errors.Is]: [ErrNotFound],
// [ErrConflict], [ErrClosed], [ErrUnavailable], [ErrInvalidRequest],
// [ErrCorrupt] from the data path; [ErrWrongMasterKey], [ErrForeignFile],
// [ErrUnsupportedVersion], [ErrLocked], [ErrNotWritable] and
// [ErrInvalidOptions] from a backend's open function.
// Context errors are returned unwrapped, and an error returned by
// Request.Period is wrapped with %w.
package keystore
