package main

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"time"
)

// logBufferBytes is how much log output logWriter holds before it writes
// at once, whatever the interval.
const logBufferBytes = 64 << 10

// logWriter batches log output: the request log has a line per request,
// and a write system call per line costs a live encoder's request a
// noticeable share of its latency at a few thousand requests a second.
// Lines are appended to a buffer, in order, and written by a background
// goroutine at most every interval after the first unwritten line, or at
// once when logBufferBytes have gathered (the caller then writes, which
// is back-pressure when the output blocks). flushHandler writes records
// of level Warn and above through at once; Close writes what is left.
// A crash can lose at most an interval of Info lines.
type logWriter struct {
	out      io.Writer
	interval time.Duration

	mu     sync.Mutex // guards buf and closed
	buf    []byte
	closed bool

	wmu   sync.Mutex // serializes writes to out, and owns spare
	spare []byte

	kick chan struct{} // cap 1: the buffer went from empty to not
	stop chan struct{}
	done chan struct{}
}

// newLogWriter returns a logWriter writing to out. interval <= 0 writes
// every line through at once (no goroutine, no buffer).
func newLogWriter(out io.Writer, interval time.Duration) *logWriter {
	l := &logWriter{out: out, interval: interval}
	if interval <= 0 {
		l.closed = true // writes go straight through
		return l
	}
	l.kick = make(chan struct{}, 1)
	l.stop = make(chan struct{})
	l.done = make(chan struct{})
	go l.loop()
	return l
}

// Write buffers p (one log record: slog handlers write a record at a
// time). It never fails while buffering; errors of the output are those
// of the write that meets them.
func (l *logWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		l.wmu.Lock()
		defer l.wmu.Unlock()
		return l.out.Write(p)
	}
	wasEmpty := len(l.buf) == 0
	l.buf = append(l.buf, p...)
	full := len(l.buf) >= logBufferBytes
	l.mu.Unlock()
	if full {
		return len(p), l.Flush()
	}
	if wasEmpty {
		select {
		case l.kick <- struct{}{}:
		default:
		}
	}
	return len(p), nil
}

// Flush writes what is buffered.
func (l *logWriter) Flush() error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	l.mu.Lock()
	b := l.buf
	l.buf = l.spare[:0]
	l.mu.Unlock()
	if len(b) == 0 {
		l.spare = b
		return nil
	}
	_, err := l.out.Write(b)
	if cap(b) <= 4*logBufferBytes { // keep a buffer of ordinary size
		l.spare = b[:0]
	} else {
		l.spare = nil
	}
	return err
}

// loop writes the buffer an interval after it stops being empty.
func (l *logWriter) loop() {
	defer close(l.done)
	t := time.NewTimer(l.interval)
	t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-l.kick:
		}
		t.Reset(l.interval)
		select {
		case <-l.stop:
			t.Stop()
			return
		case <-t.C:
		}
		_ = l.Flush()
	}
}

// Close writes what is buffered and makes later writes go straight
// through.
func (l *logWriter) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	l.mu.Unlock()
	close(l.stop)
	<-l.done
	return l.Flush()
}

// flushHandler writes a record of level Warn or above through at once,
// with the buffered lines before it: warnings and errors are not left
// in a buffer.
type flushHandler struct {
	slog.Handler
	w *logWriter
}

func (h flushHandler) Handle(ctx context.Context, r slog.Record) error {
	err := h.Handler.Handle(ctx, r)
	if r.Level >= slog.LevelWarn {
		if ferr := h.w.Flush(); err == nil {
			err = ferr
		}
	}
	return err
}

func (h flushHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return flushHandler{h.Handler.WithAttrs(attrs), h.w}
}

func (h flushHandler) WithGroup(name string) slog.Handler {
	return flushHandler{h.Handler.WithGroup(name), h.w}
}
