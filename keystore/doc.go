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
//     with the record's identity as additional data (see schema.go).
//   - No key or IV value appears in an error. The package does not log.
//
// # Backends
//
// [Store] is backend-neutral: its methods, types and errors mention no
// storage engine. [Bolt] (bbolt, one file, one process) is the only backend
// today; a replicated backend can implement Store without touching callers.
//
// # Errors
//
// Callers match the sentinels with [errors.Is]: [ErrNotFound],
// [ErrConflict], [ErrClosed], [ErrUnavailable], [ErrInvalidRequest],
// [ErrCorrupt] from the data path; [ErrWrongMasterKey], [ErrForeignFile],
// [ErrUnsupportedVersion], [ErrLocked] and [ErrInvalidOptions] from [Open].
// Context errors are returned unwrapped, and an error returned by
// Request.Period is wrapped with %w.
package keystore
