package boltstore_test

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyserver/keyserver/keystore"
	"github.com/keyserver/keyserver/keystore/boltstore"
)

// TestFallback_ReadOnlyThenWritable opens a store whose filesystem is
// read-only: reads work, creations are ErrUnavailable; while 16 goroutines
// keep reading and creating, the filesystem becomes writable and the store
// reopens itself read-write, with no key changing.
func TestFallback_ReadOnlyThenWritable(t *testing.T) {
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here (needs root and mount permission): %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", mnt).Run() })
	remount := func(mode string) {
		t.Helper()
		if out, err := exec.Command("mount", "-o", "remount,"+mode, mnt).CombinedOutput(); err != nil {
			t.Fatalf("remount %s: %v: %s", mode, err, out)
		}
	}
	path := filepath.Join(mnt, "keys.db")
	opts := &boltstore.Options{MasterKey: testMaster}
	ctx := context.Background()

	// A missing file on a read-only filesystem is still an error.
	remount("ro")
	if _, err := boltstore.OpenFallback(path, opts, time.Millisecond); err == nil {
		t.Fatal("OpenFallback created nothing on a read-only filesystem and still succeeded")
	}
	remount("rw")

	st, err := boltstore.Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]keystore.Record{}
	for i := range 8 {
		c := fmt.Sprintf("old-%d", i)
		rec, _, err := st.GetOrCreate(ctx, keystore.Request{Space: space("T", c)})
		if err != nil {
			t.Fatal(err)
		}
		want[c] = rec
	}
	st.Close()

	remount("ro")
	if _, err := boltstore.Open(path, opts); !errors.Is(err, keystore.ErrNotWritable) {
		t.Fatalf("Open on a read-only filesystem: %v, want ErrNotWritable", err)
	}
	fb, err := boltstore.OpenFallback(path, opts, time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer fb.Close()
	if !fb.ReadOnly() {
		t.Fatal("not read-only on a read-only filesystem")
	}
	if _, _, err := fb.GetOrCreate(ctx, keystore.Request{Space: space("T", "new")}); !errors.Is(err, keystore.ErrUnavailable) {
		t.Fatalf("creation while read-only: %v, want ErrUnavailable", err)
	}

	var created atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				c := fmt.Sprintf("old-%d", i%8)
				rec, _, err := fb.GetOrCreate(ctx, keystore.Request{Space: space("T", c)})
				if err == nil && rec.Key != want[c].Key {
					t.Errorf("%s: key changed", c)
					return
				}
				if err != nil && !errors.Is(err, keystore.ErrUnavailable) && !errors.Is(err, keystore.ErrClosed) {
					t.Errorf("read of %s: %v", c, err)
					return
				}
				if _, _, err := fb.GetOrCreate(ctx, keystore.Request{Space: space("T", fmt.Sprintf("new-%d-%d", g, i))}); err == nil {
					created.Add(1)
				}
			}
		})
	}
	remount("rw")
	deadline := time.Now().Add(30 * time.Second)
	for created.Load() < 100 && time.Now().Before(deadline) && !t.Failed() {
		if _, _, err := fb.GetOrCreate(ctx, keystore.Request{Space: space("T", "probe")}); err == nil {
			break
		}
	}
	close(stop)
	wg.Wait()
	if fb.ReadOnly() {
		t.Fatal("still read-only after the filesystem became writable")
	}
	for c, rec := range want {
		got, _, err := fb.GetOrCreate(ctx, keystore.Request{Space: space("T", c)})
		if err != nil || got.Key != rec.Key {
			t.Errorf("%s after recovery: %v, same key %v", c, err, got.Key == rec.Key)
		}
	}
}
