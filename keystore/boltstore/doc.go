// Package boltstore is the bbolt backend of [keystore.Store]: one file,
// held open (and locked) by one process at a time.
//
// [Open] returns a [*Bolt] that caches by default: Bolt composes the
// backend-neutral record cache [keystore.Cached] over its own uncached
// store, so a hit is answered from memory (Bolt.GetOrCreate → the cache,
// a direct call) and only a miss reaches the file. Options.CacheSize 0
// means [DefaultCacheSize]; a negative size turns the cache off, and
// Bolt.GetOrCreate then reads the file on every call. Callers keep one
// concrete type whatever the cache setting, with the bbolt-only methods
// ([Bolt.Records], [Bolt.Check]) beside the Store ones. [OpenFallback]
// wraps Bolt in a store that serves read-only while the file cannot be
// written and reopens it read-write when it can.
//
// Records are sealed and encoded as package keystore documents (the
// record value, its additional data, space, period and location keys);
// this package only decides where those bytes live and adds the file's
// own meta data. All errors are keystore's sentinels; Open adds the file
// checks: [keystore.ErrForeignFile] (not a bbolt file, or a bbolt file of
// someone else), [keystore.ErrCorrupt] (a truncated or damaged file),
// [keystore.ErrWrongMasterKey], [keystore.ErrUnsupportedVersion],
// [keystore.ErrLocked] and [keystore.ErrNotWritable]. A file Open refuses
// is never written to.
//
// # File layout, format version 1
//
//	"keystore.meta"                        bucket
//	    "version" → uint32 BE (1)
//	    "canary"  → keystore.Sealer.SealCanary value
//	"tenants"                              bucket
//	    <tenant id bytes>                  bucket, one per tenant
//	        "spaces"                       bucket
//	            <space key>                bucket, one per key space (keystore.SpaceKey)
//	                keystore.PinKey        → keystore.EncodePin(P) (LIVE only; written once)
//	                keystore.PeriodKey     → record value (keystore.Sealer.SealRecord)
//	        "kids"                         bucket, the tenant's key-id index
//	            <key id, 16 bytes>         → keystore.EncodeLocation(space key, period key)
//
// A record is written in one transaction with its index entry (and the
// space's pin, for the first LIVE record of a space), fsync'd before
// GetOrCreate returns it. Concurrent creations are coalesced into one
// transaction and one fsync (Options.MaxBatchSize, MaxBatchDelay).
package boltstore

const formatVersion = 1

var (
	bucketMeta    = []byte("keystore.meta")
	bucketTenants = []byte("tenants")
	bucketSpaces  = []byte("spaces")
	bucketKIDs    = []byte("kids")

	metaVersion = []byte("version")
	metaCanary  = []byte("canary")
)
