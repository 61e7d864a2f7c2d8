package testkit

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// LogSink is a goroutine-safe log destination for a test's server. Its
// WaitFor blocks until a line appears, for log lines written after the
// answer they describe has left (the server logs a request when it ends).
type LogSink struct {
	mu      sync.Mutex
	b       bytes.Buffer
	changed chan struct{} // closed and replaced on every write
}

// Write implements io.Writer.
func (l *LogSink) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.changed != nil {
		close(l.changed)
		l.changed = nil
	}
	return l.b.Write(p)
}

// String returns everything written so far.
func (l *LogSink) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TextLogger returns a debug-level text logger writing to l.
func (l *LogSink) TextLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// JSONLogger returns a debug-level JSON logger writing to l.
func (l *LogSink) JSONLogger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// WaitFor returns the last line holding every one of subs, waiting up to
// 10 s for it to be written; the test fails if it never is.
func (l *LogSink) WaitFor(tb testing.TB, subs ...string) string {
	tb.Helper()
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	for {
		l.mu.Lock()
		line := lastLine(l.b.String(), subs)
		if line != "" {
			l.mu.Unlock()
			return line
		}
		if l.changed == nil {
			l.changed = make(chan struct{})
		}
		ch := l.changed
		l.mu.Unlock()
		select {
		case <-ch:
		case <-deadline.C:
			tb.Fatalf("no log line with %q within 10 s; the log:\n%s", subs, l.String())
			return ""
		}
	}
}

func lastLine(s string, subs []string) string {
	found := ""
lines:
	for line := range strings.SplitSeq(s, "\n") {
		for _, sub := range subs {
			if !strings.Contains(line, sub) {
				continue lines
			}
		}
		found = line
	}
	return found
}
