package keystore_test

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

	"github.com/keyserver/keyserver/drm"
	"github.com/keyserver/keyserver/keystore"
)

func TestFile_NoPlaintextKeys(t *testing.T) {
	s, path := newTestStore(t)
	var issued []drm.ContentKey
	for i := range 50 {
		rec, _ := mustGet(t, s, live(space("NAG0000", "ch"), 60, int64(i)))
		issued = append(issued, rec.Key)
		rec, _ = mustGet(t, s, vod(space("T2", string(rune('a'+i%26))+"x"+string(rune('0'+i/26)))))
		issued = append(issued, rec.Key)
	}
	for i := range 10 {
		k := drm.GenerateContentKey()
		req := live(space("NAG0000", "sup"), 60, int64(i))
		req.Supplied = &keystore.Supplied{KID: k.KID, Key: k.Key, IV: &k.IV}
		rec, _ := mustGet(t, s, req)
		issued = append(issued, rec.Key)
		req.Supplied.IV = nil
		req.Period = index(int64(i + 100))
		req.Supplied.KID = drm.GenerateContentKey().KID
		rec, _ = mustGet(t, s, req)
		issued = append(issued, rec.Key)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	kids := 0
	for i, k := range issued {
		if bytes.Contains(data, k.Key[:]) {
			t.Errorf("key %d found in the file", i)
		}
		if bytes.Contains(data, k.IV[:]) {
			t.Errorf("IV %d found in the file", i)
		}
		if bytes.Contains(data, k.KID[:]) {
			kids++
		}
	}
	if kids != len(issued) { // sanity: the scan sees what is stored in clear
		t.Errorf("only %d of %d key ids found in the file", kids, len(issued))
	}
	if bytes.Contains(data, testMaster[:]) {
		t.Error("master key found in the file")
	}
}

func TestOpen_WrongMasterKey(t *testing.T) {
	s, path := newTestStore(t)
	mustGet(t, s, vod(space("T", "c")))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)
	other := testMaster
	other[0] ^= 1
	_, err := keystore.Open(path, &keystore.Options{MasterKey: other})
	if !errors.Is(err, keystore.ErrWrongMasterKey) {
		t.Fatalf("Open with another master key: %v, want ErrWrongMasterKey", err)
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(before, after) {
		t.Error("failed Open modified the file")
	}
	if _, err := keystore.Open(path, &keystore.Options{}); !errors.Is(err, keystore.ErrInvalidOptions) {
		t.Errorf("Open without master key: %v", err)
	}
	if _, err := keystore.Open(path, nil); !errors.Is(err, keystore.ErrInvalidOptions) {
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
			s, err := keystore.Open(path, &keystore.Options{MasterKey: testMaster})
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
		_, err = keystore.Open(path, &keystore.Options{MasterKey: testMaster})
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
	s2, err := keystore.Open(path, &keystore.Options{MasterKey: testMaster, Timeout: 100 * time.Millisecond})
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
	if _, err := keystore.Open(path, &keystore.Options{MasterKey: testMaster, ReadOnly: true}); !errors.Is(err, keystore.ErrLocked) {
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
	ro := openTestStore(t, path, &keystore.Options{MasterKey: testMaster, ReadOnly: true})
	got, created := mustGet(t, ro, live(space("T", "c"), 60, 5))
	if created || got.Key != rec.Key {
		t.Error("read-only hit differs")
	}
	if _, _, err := ro.GetOrCreate(context.Background(), live(space("T", "c"), 60, 6)); !errors.Is(err, keystore.ErrUnavailable) {
		t.Errorf("read-only miss: %v, want ErrUnavailable", err)
	}
	if _, err := keystore.Open(filepath.Join(t.TempDir(), "none.db"), &keystore.Options{MasterKey: testMaster, ReadOnly: true}); err == nil {
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

func TestErrors_NoKeyBytes(t *testing.T) {
	s, _ := newTestStore(t)
	k := drm.GenerateContentKey()
	req := vod(space("T", "c"))
	req.Supplied = &keystore.Supplied{KID: k.KID, Key: k.Key, IV: &k.IV}
	mustGet(t, s, req)
	other := drm.GenerateContentKey()
	req.Supplied = &keystore.Supplied{KID: k.KID, Key: other.Key, IV: &other.IV}
	_, _, err := s.GetOrCreate(context.Background(), req)
	if !errors.Is(err, keystore.ErrConflict) {
		t.Fatal(err)
	}
	msg := err.Error()
	for _, secret := range [][]byte{k.Key[:], k.IV[:], other.Key[:], other.IV[:]} {
		if bytes.Contains([]byte(msg), secret) || bytes.Contains([]byte(msg), []byte(drm.KeyID(secret).Hex())) {
			t.Errorf("error %q contains key material", msg)
		}
	}
}
