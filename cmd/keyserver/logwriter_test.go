package main

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// recordingWriter records every Write call it gets.
type recordingWriter struct {
	mu     sync.Mutex
	writes [][]byte
}

func (r *recordingWriter) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.writes = append(r.writes, bytes.Clone(p))
	return len(p), nil
}

func (r *recordingWriter) snapshot() (calls int, all string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.writes), string(bytes.Join(r.writes, nil))
}

func TestLogWriter_BatchesInfoFlushesWarn(t *testing.T) {
	out := &recordingWriter{}
	lw := newLogWriter(out, time.Hour) // the timer never fires in this test
	log := slog.New(flushHandler{slog.NewTextHandler(lw, nil), lw})

	for i := range 100 {
		log.Info("request", slog.Int("n", i))
	}
	if calls, _ := out.snapshot(); calls != 0 {
		t.Fatalf("%d writes for 100 Info lines within the interval, want 0 (buffered)", calls)
	}
	log.Warn("store not writable")
	calls, all := out.snapshot()
	if calls != 1 {
		t.Fatalf("%d writes after a Warn, want 1 (the buffered lines and the warning together)", calls)
	}
	lines := strings.Split(strings.TrimSuffix(all, "\n"), "\n")
	if len(lines) != 101 {
		t.Fatalf("%d lines written, want 101", len(lines))
	}
	for i := range 100 {
		if !strings.Contains(lines[i], fmt.Sprintf("n=%d", i)) {
			t.Fatalf("line %d is %q: out of order", i, lines[i])
		}
	}
	if !strings.Contains(lines[100], "level=WARN") {
		t.Fatalf("last line %q is not the warning", lines[100])
	}

	log.Info("stopped")
	if err := lw.Close(); err != nil {
		t.Fatal(err)
	}
	if calls, all := out.snapshot(); calls != 2 || !strings.HasSuffix(all, "msg=stopped\n") {
		t.Fatalf("after Close: %d writes ending %q, want 2 ending with the last Info line", calls, all[max(0, len(all)-40):])
	}
	// After Close, lines go straight through.
	log.Info("late")
	if calls, _ := out.snapshot(); calls != 3 {
		t.Fatalf("%d writes after a line logged after Close, want 3", calls)
	}
}

// chanWriter hands every write to a channel.
type chanWriter chan []byte

func (c chanWriter) Write(p []byte) (int, error) {
	c <- bytes.Clone(p)
	return len(p), nil
}

func TestLogWriter_IntervalWritesWithoutWarn(t *testing.T) {
	out := make(chanWriter, 1)
	lw := newLogWriter(out, time.Millisecond)
	log := slog.New(flushHandler{slog.NewTextHandler(lw, nil), lw})
	log.Info("one")
	// Nothing else flushes: the background goroutine must write it.
	select {
	case b := <-out:
		if !strings.Contains(string(b), "msg=one") {
			t.Fatalf("wrote %q", b)
		}
	case <-t.Context().Done():
		t.Fatal("the buffered line was never written")
	}
	if err := lw.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestLogWriter_FullBufferWritesAtOnce(t *testing.T) {
	out := &recordingWriter{}
	lw := newLogWriter(out, time.Hour)
	defer lw.Close()
	line := strings.Repeat("x", 1023) + "\n"
	for range logBufferBytes / len(line) {
		lw.Write([]byte(line))
	}
	calls, all := out.snapshot()
	if calls != 1 || len(all) != logBufferBytes {
		t.Fatalf("%d writes of %d bytes once %d bytes were buffered, want 1 of %d", calls, len(all), logBufferBytes, logBufferBytes)
	}
}

func TestLogWriter_ConcurrentLinesStayWhole(t *testing.T) {
	out := &recordingWriter{}
	lw := newLogWriter(out, 50*time.Microsecond)
	log := slog.New(flushHandler{slog.NewJSONHandler(lw, nil), lw})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				log.Info("request", slog.Int("g", g), slog.Int("i", i), slog.String("pad", strings.Repeat("p", 200)))
			}
		})
	}
	wg.Wait()
	if err := lw.Close(); err != nil {
		t.Fatal(err)
	}
	calls, all := out.snapshot()
	lines := strings.Split(strings.TrimSuffix(all, "\n"), "\n")
	if len(lines) != 8*500 {
		t.Fatalf("%d lines, want %d", len(lines), 8*500)
	}
	next := make(map[string]int) // per goroutine, lines must come in order
	for _, l := range lines {
		var g, i int
		if _, err := fmt.Sscanf(l[strings.Index(l, `"g":`):], `"g":%d,"i":%d`, &g, &i); err != nil {
			t.Fatalf("torn line %q: %v", l, err)
		}
		k := fmt.Sprint(g)
		if i != next[k] {
			t.Fatalf("goroutine %d: line %d after %d", g, i, next[k]-1)
		}
		next[k]++
	}
	t.Logf("%d lines in %d writes", len(lines), calls)
}

func TestLogWriter_ZeroIntervalWritesEachLine(t *testing.T) {
	out := &recordingWriter{}
	lw := newLogWriter(out, 0)
	log := slog.New(flushHandler{slog.NewTextHandler(lw, nil), lw})
	log.Info("a")
	log.Info("b")
	if calls, _ := out.snapshot(); calls != 2 {
		t.Fatalf("%d writes for 2 lines with interval 0, want 2", calls)
	}
	if err := lw.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestRun_NegativeLogFlushInterval(t *testing.T) {
	var stderr bytes.Buffer
	err := run(t.Context(), []string{"--data-dir", t.TempDir(), "--log-flush-interval", "-1s"},
		func(string) string { return "" }, &stderr, &stderr)
	if err == nil || !strings.Contains(err.Error(), "--log-flush-interval") {
		t.Fatalf("run with a negative interval: %v, want an error naming --log-flush-interval", err)
	}
}
