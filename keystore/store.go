package keystore

import (
	"context"
	"errors"
	"time"

	"github.com/keyserver/keyserver/drm"
)

// Errors returned on the data path. Messages never contain key or IV bytes.
var (
	// ErrNotFound is returned by LookupKeyID when the tenant has no record
	// with that key id (also when another tenant has one).
	ErrNotFound = errors.New("keystore: key not found")
	// ErrConflict is returned by GetOrCreate for a supplied key whose key id
	// is already used in the tenant by another space or period, or with a
	// different key or IV, or when the period already holds another key.
	ErrConflict = errors.New("keystore: key conflict")
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("keystore: store closed")
	// ErrUnavailable is returned when a write could not be made durable
	// (disk full, read-only store or file system, I/O error). The cause is
	// formatted into the message but not wrapped. Nothing was stored.
	ErrUnavailable = errors.New("keystore: store unavailable")
	// ErrInvalidRequest is returned for a request the store cannot key: a
	// malformed tenant, content id, scheme or track, a negative period
	// length, a LIVE request without a Period function, a zero supplied key id.
	ErrInvalidRequest = errors.New("keystore: invalid request")
	// ErrCorrupt is returned when a stored record or index entry fails to
	// decode or to open under the master key (tampering, a value moved to
	// another record, or damage).
	ErrCorrupt = errors.New("keystore: corrupt record")
)

// Errors returned by a backend's open function (boltstore.Open). They
// name the file conditions of a file-based backend; another backend returns
// those that apply to it.
var (
	// ErrInvalidOptions is returned when the options are missing or
	// invalid (no master key).
	ErrInvalidOptions = errors.New("keystore: invalid options")
	// ErrWrongMasterKey is returned when the file was created under
	// another master key.
	ErrWrongMasterKey = errors.New("keystore: wrong master key")
	// ErrForeignFile is returned when the file is not a key-store file: not
	// a bbolt file at all, or a bbolt file without the key-store meta
	// bucket. The file is left untouched.
	ErrForeignFile = errors.New("keystore: not a key-store file")
	// ErrUnsupportedVersion is returned for a key-store file of a format
	// version this build does not know.
	ErrUnsupportedVersion = errors.New("keystore: unsupported format version")
	// ErrLocked is returned when another store (in this or another process)
	// holds the file open and the lock timeout expired.
	ErrLocked = errors.New("keystore: file is locked by another store")
	// ErrNotWritable is returned when the file cannot be opened for
	// writing (read-only filesystem, no permission). OpenFallback then
	// opens it read-only.
	ErrNotWritable = errors.New("keystore: file is not writable")
)

// Space identifies a key space. Keys of different spaces never relate.
type Space struct {
	Tenant    string // [A-Za-z0-9_-]{1,64}
	ContentID string // arbitrary UTF-8, 1..256 bytes
	Scheme    drm.Scheme
	Track     string // "" for the native API; a Widevine-API track type (SD, HD, UHD1, UHD2, AUDIO) otherwise; [A-Za-z0-9_-]{0,32}
}

// Record is one stored key. It holds no references into the store: callers
// own it.
type Record struct {
	Space         Space
	PeriodSeconds int64 // the space's pinned crypto period length; 0 = VOD (one key per space)
	Period        int64 // period index n, covering [n*P, (n+1)*P) in Unix seconds; 0 for VOD
	Key           drm.ContentKey
	Supplied      bool      // the packager supplied the key
	Created       time.Time // UTC
}

// Supplied is a key the packager brings, or (GenerateKey) only the key id
// it chose.
type Supplied struct {
	KID drm.KeyID
	Key drm.Key // ignored with GenerateKey
	IV  *drm.IV // nil: the store generates one (and an idempotent re-send without IV returns the stored IV)
	// GenerateKey: the packager chose only the key id (CPIX and SPEKE
	// encryptors do); the store generates the key, and the record is not
	// Supplied. A re-send with the same key id is idempotent whatever the
	// stored key; the key id's conflict rules are those of a supplied key.
	GenerateKey bool
}

// Request asks for the key of one period of a space.
type Request struct {
	Space Space
	// PeriodSeconds > 0: LIVE. It is the crypto period proposed for a space
	// that has none pinned yet; once a space has its first LIVE key, its
	// period length is pinned forever (config changes later do not move it).
	// PeriodSeconds == 0: VOD: the one key of the space (period 0),
	// independent of any LIVE pin. Negative: ErrInvalidRequest.
	PeriodSeconds int64
	// Period maps the pinned period length to the wanted period index (LIVE
	// only; required then). It must be pure: it may be called more than
	// once per request, inside a store transaction, so it must not block or
	// call the store. Its error is returned wrapped and nothing is stored.
	Period func(periodSeconds int64) (int64, error)
	// Supplied, if not nil, is stored for that period instead of a
	// generated key.
	Supplied *Supplied
}

// Store is the key store the server uses. Implementations are safe for
// concurrent use.
type Store interface {
	// GetOrCreate returns the key of the requested period, creating it
	// (durably: fsync'd before returning) if there is none. created reports
	// whether this call stored it. Concurrent calls for the same period all
	// get the same key; at most one key per period per space.
	//
	// Supplied keys: same KID + same key (+ same IV if given) for the same
	// space and period → idempotent success (created=false); KID already
	// used in this tenant by another space/period, or with a different
	// key/IV, or the period already holds a different key → ErrConflict. A
	// key id used by another tenant is not a conflict.
	//
	// Errors: ErrConflict, ErrInvalidRequest, ErrClosed, ErrUnavailable,
	// ErrCorrupt, ctx.Err(), or the wrapped error of Request.Period. On any
	// error nothing is stored.
	GetOrCreate(ctx context.Context, req Request) (rec Record, created bool, err error)
	// LookupKeyID finds a tenant's record by key id; ErrNotFound otherwise
	// (also when another tenant has it). Other errors: ErrClosed,
	// ErrCorrupt, ErrInvalidRequest (malformed tenant), ctx.Err().
	LookupKeyID(ctx context.Context, tenant string, kid drm.KeyID) (Record, error)
	// Close releases the store. Calls after Close return ErrClosed.
	Close() error
}
