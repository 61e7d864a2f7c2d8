package boltstore_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/keyserver/keyserver/keystore"
	"github.com/keyserver/keyserver/keystore/boltstore"
)

func TestOpen_WrongMasterKey(t *testing.T) {
	s, path := newTestStore(t)
	mustGet(t, s, vod(space("T", "c")))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)
	other := testMaster
	other[0] ^= 1
	_, err := boltstore.Open(path, &boltstore.Options{MasterKey: other})
	if !errors.Is(err, keystore.ErrWrongMasterKey) {
		t.Fatalf("Open with another master key: %v, want ErrWrongMasterKey", err)
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(before, after) {
		t.Error("failed Open modified the file")
	}
	if _, err := boltstore.Open(path, &boltstore.Options{}); !errors.Is(err, keystore.ErrInvalidOptions) {
		t.Errorf("Open without master key: %v", err)
	}
	if _, err := boltstore.Open(path, nil); !errors.Is(err, keystore.ErrInvalidOptions) {
		t.Errorf("Open with nil options: %v", err)
	}
}

func TestOpen_ForeignFiles(t *testing.T) {
	random := func(n int) []byte {
		b := make([]byte, n)
		_, _ = rand.Read(b)
		return b
	}
	cases := map[string][]byte{
		"text":         []byte("this is not a database\n"),
		"random 100":   random(100),
		"random 4 KiB": random(4096),
		"random 64KiB": random(65536),
		"zeros 16KiB":  make([]byte, 16384),
	}
	for name, content := range cases {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "keys.db")
			if err := os.WriteFile(path, content, 0o640); err != nil {
				t.Fatal(err)
			}
			s, err := boltstore.Open(path, &boltstore.Options{MasterKey: testMaster})
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded on a foreign file")
			}
			if !errors.Is(err, keystore.ErrForeignFile) {
				t.Errorf("err = %v, want ErrForeignFile", err)
			}
			assertUnchanged(t, path, content, 0o640)
		})
	}

	t.Run("bbolt without meta", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "other.db")
		db, err := bolt.Open(path, 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		err = db.Update(func(tx *bolt.Tx) error {
			b, err := tx.CreateBucket([]byte("someone-else"))
			if err != nil {
				return err
			}
			return b.Put([]byte("k"), []byte("v"))
		})
		if err != nil {
			t.Fatal(err)
		}
		db.Close()
		content, _ := os.ReadFile(path)
		_, err = boltstore.Open(path, &boltstore.Options{MasterKey: testMaster})
		if !errors.Is(err, keystore.ErrForeignFile) {
			t.Errorf("err = %v, want ErrForeignFile", err)
		}
		assertUnchanged(t, path, content, 0o600)
	})

	t.Run("empty bbolt file is initialized", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "empty.db")
		db, err := bolt.Open(path, 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		db.Close()
		s := openTestStore(t, path, nil)
		mustGet(t, s, vod(space("T", "c")))
	})
}

func assertUnchanged(t *testing.T, path string, content []byte, mode os.FileMode) {
	t.Helper()
	after, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(after, content) {
		t.Error("the file was modified")
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != mode {
		t.Errorf("mode changed: %v %v", fi.Mode(), err)
	}
}

func TestOpen_Locked(t *testing.T) {
	_, path := newTestStore(t)
	start := time.Now()
	s2, err := boltstore.Open(path, &boltstore.Options{MasterKey: testMaster, Timeout: 100 * time.Millisecond})
	if err == nil {
		s2.Close()
		t.Fatal("second Open succeeded while the first is open")
	}
	if !errors.Is(err, keystore.ErrLocked) {
		t.Errorf("err = %v, want ErrLocked", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("second Open took %v", d)
	}
	// With the default timeout too (1s).
	start = time.Now()
	if _, err := boltstore.Open(path, &boltstore.Options{MasterKey: testMaster, ReadOnly: true}); !errors.Is(err, keystore.ErrLocked) {
		t.Errorf("read-only Open beside a writer: %v, want ErrLocked", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("second Open took %v", d)
	}
}

func TestOpen_ReadOnly(t *testing.T) {
	s, path := newTestStore(t)
	rec, _ := mustGet(t, s, live(space("T", "c"), 60, 5))
	s.Close()
	ro := openTestStore(t, path, &boltstore.Options{MasterKey: testMaster, ReadOnly: true})
	got, created := mustGet(t, ro, live(space("T", "c"), 60, 5))
	if created || got.Key != rec.Key {
		t.Error("read-only hit differs")
	}
	if _, _, err := ro.GetOrCreate(context.Background(), live(space("T", "c"), 60, 6)); !errors.Is(err, keystore.ErrUnavailable) {
		t.Errorf("read-only miss: %v, want ErrUnavailable", err)
	}
	if _, err := boltstore.Open(filepath.Join(t.TempDir(), "none.db"), &boltstore.Options{MasterKey: testMaster, ReadOnly: true}); err == nil {
		t.Error("read-only Open of a missing file succeeded")
	}
}

// A sealed value moved to another record of the same space must not open.
func TestRecord_MovedValueFailsToOpen(t *testing.T) {
	s, path := newTestStore(t)
	sp := space("T", "c")
	mustGet(t, s, live(sp, 60, 1))
	mustGet(t, s, live(sp, 60, 2))
	s.Close()

	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		spaces := tx.Bucket([]byte("tenants")).Bucket([]byte("T")).Bucket([]byte("spaces"))
		var sb *bolt.Bucket
		_ = spaces.ForEachBucket(func(k []byte) error { sb = spaces.Bucket(k); return nil })
		var keys, vals [][]byte
		_ = sb.ForEach(func(k, v []byte) error {
			if len(k) == 9 {
				keys = append(keys, bytes.Clone(k))
				vals = append(vals, bytes.Clone(v))
			}
			return nil
		})
		if len(keys) != 2 {
			t.Fatalf("found %d LIVE records", len(keys))
		}
		return sb.Put(keys[1], vals[0]) // period 1's value at period 2
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	s2 := openTestStore(t, path, nil)
	if _, _, err := s2.GetOrCreate(context.Background(), live(sp, 60, 2)); !errors.Is(err, keystore.ErrCorrupt) {
		t.Errorf("moved value: %v, want ErrCorrupt", err)
	}
	if _, _, err := s2.GetOrCreate(context.Background(), live(sp, 60, 1)); err != nil {
		t.Errorf("untouched record: %v", err)
	}
}
