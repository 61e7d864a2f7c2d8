package boltstore

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"os"
	"sync/atomic"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/keyserver/keyserver/drm"
	"github.com/keyserver/keyserver/keystore"
)

// Defaults applied by Open for zero Options fields.
const (
	DefaultMaxBatchSize  = 64
	DefaultMaxBatchDelay = 2 * time.Millisecond
	DefaultTimeout       = time.Second
	DefaultCacheSize     = 16384
)

// Options configure Open. The zero value of each field except MasterKey
// means its default.
type Options struct {
	// MasterKey is the AES-256-GCM key sealing every key and IV. Required:
	// an all-zero key is rejected with [keystore.ErrInvalidOptions].
	MasterKey [32]byte
	// MaxBatchSize is the number of concurrent creations coalesced into one
	// transaction and one fsync. Size it to the expected number of
	// concurrent writers (bbolt's default of 1000 makes every writer wait
	// MaxBatchDelay). Zero means DefaultMaxBatchSize.
	MaxBatchSize int
	// MaxBatchDelay is the longest a creation waits for its batch to fill.
	// Zero means DefaultMaxBatchDelay.
	MaxBatchDelay time.Duration
	// Timeout bounds the wait for the file lock, so that a second store on
	// the same file fails with [keystore.ErrLocked] instead of hanging. Zero means
	// DefaultTimeout; negative means wait forever.
	Timeout time.Duration
	// ReadOnly opens an existing file with a shared lock; GetOrCreate then
	// returns [keystore.ErrUnavailable] for anything it would have to create.
	ReadOnly bool
	// CacheSize bounds the in-memory cache of decrypted records (and, as
	// many again, of pinned period lengths). Zero means DefaultCacheSize;
	// negative disables the cache.
	CacheSize int
}

// Bolt is the bbolt-backed [keystore.Store]: one file, held by one Bolt at
// a time (the file is locked). It is safe for concurrent use. Keys are
// sealed at rest; decrypted records live only in memory, in a bounded
// cache ([keystore.Cached], see the package doc).
type Bolt struct {
	cache    *keystore.Cached // nil when Options.CacheSize < 0; its inner store is (*uncached)(b)
	db       *bolt.DB
	seal     *keystore.Sealer
	readOnly bool
	closed   atomic.Bool
	writers  atomic.Int32 // creations in flight
}

var _ keystore.Store = (*Bolt)(nil)

// uncached is Bolt without its cache: the inner store of Bolt.cache.
type uncached Bolt

func (u *uncached) GetOrCreate(ctx context.Context, req keystore.Request) (keystore.Record, bool, error) {
	return (*Bolt)(u).getOrCreate(ctx, req)
}

func (u *uncached) LookupKeyID(ctx context.Context, tenant string, kid drm.KeyID) (keystore.Record, error) {
	return (*Bolt)(u).LookupKeyID(ctx, tenant, kid)
}

func (u *uncached) Close() error { return (*Bolt)(u).closeDB() }

// errMiss reports, inside a read-only transaction, that a write is needed.
var errMiss = errors.New("keystore: miss")

// errEmpty reports a bbolt file without any bucket.
var errEmpty = errors.New("keystore: empty bbolt file")

// txError marks an error decided by our own code inside a transaction, as
// opposed to one from bbolt.
type txError struct{ err error }

func (e txError) Error() string { return e.err.Error() }

// Open opens the key store at path, creating it (mode 0600) if it does not
// exist. An existing file is inspected read-only first, so a foreign file or
// one sealed under another master key is never written to.
//
// Errors (the keystore sentinels): ErrInvalidOptions, ErrForeignFile (not
// a bbolt file: wraps the message of bbolt's invalid-database error; or a
// bbolt file without our meta bucket), ErrUnsupportedVersion,
// ErrWrongMasterKey, ErrLocked, ErrNotWritable, ErrCorrupt, or an error
// describing an I/O failure.
func Open(path string, opts *Options) (*Bolt, error) {
	if opts == nil || opts.MasterKey == ([32]byte{}) {
		return nil, fmt.Errorf("%w: a master key is required", keystore.ErrInvalidOptions)
	}
	o := *opts
	if o.MaxBatchSize < 0 || o.MaxBatchDelay < 0 {
		return nil, fmt.Errorf("%w: negative batch size or delay", keystore.ErrInvalidOptions)
	}
	if o.MaxBatchSize == 0 {
		o.MaxBatchSize = DefaultMaxBatchSize
	}
	if o.MaxBatchDelay == 0 {
		o.MaxBatchDelay = DefaultMaxBatchDelay
	}
	switch {
	case o.Timeout == 0:
		o.Timeout = DefaultTimeout
	case o.Timeout < 0:
		o.Timeout = 0 // bbolt: wait forever
	}
	if o.CacheSize == 0 {
		o.CacheSize = DefaultCacheSize
	}
	seal, err := keystore.NewSealer(o.MasterKey)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", keystore.ErrInvalidOptions, err)
	}
	b := &Bolt{seal: seal, readOnly: o.ReadOnly}
	if o.CacheSize > 0 {
		b.cache = keystore.NewCached((*uncached)(b), o.CacheSize)
	}

	info, err := os.Stat(path)
	switch {
	case err == nil && info.Size() > 0:
		if err := checkTruncated(path, info.Size()); err != nil {
			return nil, err
		}
		db, err := b.inspect(path, o.Timeout)
		if o.ReadOnly {
			if errors.Is(err, errEmpty) {
				err = fmt.Errorf("%w: %s: no key-store data", keystore.ErrForeignFile, path)
			}
			if err != nil {
				return nil, err
			}
			b.db = db
			return b, nil
		}
		if err != nil && !errors.Is(err, errEmpty) {
			return nil, err
		}
	case err == nil || errors.Is(err, fs.ErrNotExist):
		if o.ReadOnly {
			return nil, fmt.Errorf("keystore: open %s read-only: no key-store file", path)
		}
	default:
		return nil, fmt.Errorf("keystore: open %s: %v", path, err)
	}

	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: o.Timeout})
	if err != nil {
		return nil, openError(path, o.Timeout, err)
	}
	db.MaxBatchSize = o.MaxBatchSize
	db.MaxBatchDelay = o.MaxBatchDelay
	err = withPath(db.View(func(tx *bolt.Tx) error { return b.verifyMeta(tx) }), path)
	if errors.Is(err, errEmpty) {
		err = db.Update(b.initMeta)
	}
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	b.db = db
	return b, nil
}

// inspect opens path read-only and verifies it. On success (or errEmpty)
// the read-only DB is returned open; otherwise it is closed.
func (b *Bolt) inspect(path string, timeout time.Duration) (db *bolt.DB, err error) {
	defer func() {
		// bbolt panics on some damaged pages; nothing is open yet, so
		// refuse the file instead of crashing the process.
		if r := recover(); r != nil {
			db, err = nil, fmt.Errorf("%w: %s: damaged file (%v)", keystore.ErrCorrupt, path, r)
		}
	}()
	db, err = bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: timeout})
	if err != nil {
		oerr := openError(path, timeout, err)
		if !errors.Is(oerr, keystore.ErrLocked) && !errors.Is(oerr, keystore.ErrForeignFile) && lacksBoltMagic(path) {
			// bbolt reports some non-bbolt files with plain errors
			// ("file size too small").
			oerr = fmt.Errorf("%w: %s: not a bbolt file (%v)", keystore.ErrForeignFile, path, err)
		}
		return nil, oerr
	}
	err = withPath(db.View(func(tx *bolt.Tx) error { return b.verifyMeta(tx) }), path)
	if err != nil && !errors.Is(err, errEmpty) {
		_ = db.Close()
		return nil, err
	}
	if !b.readOnly {
		_ = db.Close()
		db = nil
	}
	return db, err
}

// checkTruncated refuses a file shorter than its newest valid meta page
// says it is (bbolt itself would read past the end and panic). Files
// without a valid meta page are left to bbolt's own checks.
func checkTruncated(path string, size int64) error {
	f, err := os.Open(path)
	if err != nil {
		return nil // bbolt reports it
	}
	defer f.Close()
	// Page header (16 bytes), then the meta: magic, version, pageSize,
	// flags (4 bytes each), root bucket (16), freelist, pgid, txid,
	// checksum (8 each); the checksum is FNV-64a of the 56 bytes before it.
	var need int64
	var txid uint64
	pageSize := int64(os.Getpagesize())
	for i := int64(0); i < 2; i++ {
		var m [16 + 64]byte
		if _, err := f.ReadAt(m[:], i*pageSize); err != nil {
			continue
		}
		meta := m[16:]
		h := fnv.New64a()
		h.Write(meta[:56])
		le := binary.LittleEndian
		if le.Uint32(meta[0:]) != 0xED0CDAED || le.Uint64(meta[56:]) != h.Sum64() {
			continue
		}
		if i == 0 {
			pageSize = int64(le.Uint32(meta[8:]))
		}
		if t := le.Uint64(meta[48:]); t >= txid {
			txid, need = t, int64(le.Uint64(meta[40:]))*int64(le.Uint32(meta[8:]))
		}
	}
	if need > size {
		return fmt.Errorf("%w: %s: file is truncated (%d bytes, its last transaction needs %d)", keystore.ErrCorrupt, path, size, need)
	}
	return nil
}

// lacksBoltMagic reports whether path is readable and its first meta page
// lacks bbolt's magic number (a 16-byte page header, then the meta's magic
// in the machine's byte order: little-endian on every platform we build for).
func lacksBoltMagic(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	var hdr [20]byte
	if n, err := f.ReadAt(hdr[:], 0); err != nil && n < len(hdr) {
		return errors.Is(err, io.EOF) // too short to be bbolt
	}
	return binary.LittleEndian.Uint32(hdr[16:]) != 0xED0CDAED
}

func openError(path string, timeout time.Duration, err error) error {
	switch {
	case errors.Is(err, berrors.ErrTimeout):
		return fmt.Errorf("%w: %s (waited %v)", keystore.ErrLocked, path, timeout)
	case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrVersionMismatch), errors.Is(err, berrors.ErrChecksum):
		return fmt.Errorf("%w: %s: not a bbolt file (%v)", keystore.ErrForeignFile, path, err)
	case errors.Is(err, syscall.EROFS), errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("%w: %s (%v)", keystore.ErrNotWritable, path, err)
	}
	return fmt.Errorf("keystore: open %s: %v", path, err)
}

// withPath names the file in an error of verifyMeta (errEmpty, an
// internal signal, stays as is).
func withPath(err error, path string) error {
	if err == nil || errors.Is(err, errEmpty) {
		return err
	}
	return fmt.Errorf("%w (%s)", err, path)
}

func (b *Bolt) verifyMeta(tx *bolt.Tx) error {
	meta := tx.Bucket(bucketMeta)
	if meta == nil {
		if k, _ := tx.Cursor().First(); k == nil {
			return errEmpty
		}
		return fmt.Errorf("%w: a bbolt file without key-store meta bucket", keystore.ErrForeignFile)
	}
	v := meta.Get(metaVersion)
	if len(v) != 4 {
		return fmt.Errorf("%w: bad format version", keystore.ErrCorrupt)
	}
	if ver := binary.BigEndian.Uint32(v); ver != formatVersion {
		return fmt.Errorf("%w: %d (this build reads %d)", keystore.ErrUnsupportedVersion, ver, formatVersion)
	}
	if !b.seal.OpenCanary(meta.Get(metaCanary)) {
		return keystore.ErrWrongMasterKey
	}
	if tx.Bucket(bucketTenants) == nil {
		return fmt.Errorf("%w: tenants bucket missing", keystore.ErrCorrupt)
	}
	return nil
}

func (b *Bolt) initMeta(tx *bolt.Tx) error {
	meta, err := tx.CreateBucket(bucketMeta)
	if err != nil {
		return err
	}
	if err := meta.Put(metaVersion, binary.BigEndian.AppendUint32(nil, formatVersion)); err != nil {
		return err
	}
	if err := meta.Put(metaCanary, b.seal.SealCanary()); err != nil {
		return err
	}
	_, err = tx.CreateBucket(bucketTenants)
	return err
}

// Close closes the file after in-flight transactions finish. Later calls
// on b return [keystore.ErrClosed]; a second Close returns nil.
func (b *Bolt) Close() error {
	if b.cache != nil {
		return b.cache.Close() // closes the file through uncached.Close
	}
	return b.closeDB()
}

func (b *Bolt) closeDB() error {
	if b.closed.Swap(true) {
		return nil
	}
	if err := b.db.Close(); err != nil {
		return fmt.Errorf("keystore: close: %v", err)
	}
	return nil
}

// Check runs bbolt's consistency check over the whole file and returns
// every problem found, joined. It reads everything: meant for tests and
// tooling, not for the request path. [keystore.ErrClosed] after Close.
func (b *Bolt) Check() error {
	if b.closed.Load() {
		return keystore.ErrClosed
	}
	var errs []error
	err := b.db.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			errs = append(errs, err)
		}
		return nil
	})
	if err != nil {
		return b.txErr(err)
	}
	return errors.Join(errs...)
}

// txErr translates an error returned by View, Update or Batch.
func (b *Bolt) txErr(err error) error {
	var te txError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &te):
		return te.err
	case errors.Is(err, berrors.ErrDatabaseNotOpen):
		return keystore.ErrClosed
	}
	return fmt.Errorf("%w: %v", keystore.ErrUnavailable, err)
}
