package server

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

type testValueKey struct{}

// waitDone fails unless ctx's Done closes within 10 s.
func waitDone(t *testing.T, ctx context.Context, what string) {
	t.Helper()
	select {
	case <-ctx.Done():
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: Done did not close", what)
	}
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// TestDeadlineCtx checks deadlineCtx against what context.WithDeadline
// promises: the deadline, Err before and after it, Done closing at it
// (with the timer set on the first call), the parent's cancellation and
// values passing through, children cancelled with it, and end acting as
// the CancelFunc.
func TestDeadlineCtx(t *testing.T) {
	parent := context.WithValue(context.Background(), testValueKey{}, "v")

	far := time.Now().Add(time.Hour)
	c := &deadlineCtx{Context: parent, deadline: far}
	if d, ok := c.Deadline(); !ok || !d.Equal(far) {
		t.Errorf("Deadline() = %v, %v", d, ok)
	}
	if c.Err() != nil || c.Value(testValueKey{}) != "v" || isClosed(c.Done()) {
		t.Errorf("before the deadline: Err %v, value %v, Done closed %v", c.Err(), c.Value(testValueKey{}), isClosed(c.Done()))
	}
	c.end()
	if !errors.Is(c.Err(), context.Canceled) || !isClosed(c.Done()) {
		t.Errorf("after end: Err %v, Done closed %v", c.Err(), isClosed(c.Done()))
	}

	// Done first asked after end is closed too.
	c = &deadlineCtx{Context: parent, deadline: far}
	c.end()
	if !isClosed(c.Done()) || !errors.Is(c.Err(), context.Canceled) {
		t.Errorf("Done after end: closed %v, Err %v", isClosed(c.Done()), c.Err())
	}

	// Past the deadline, whether or not anything waited.
	c = &deadlineCtx{Context: parent, deadline: time.Now().Add(-time.Millisecond)}
	if !errors.Is(c.Err(), context.DeadlineExceeded) {
		t.Errorf("past deadline, Done never called: Err %v", c.Err())
	}
	waitDone(t, c, "past deadline")

	// The timer set by Done fires at the deadline, for children too.
	c = &deadlineCtx{Context: parent, deadline: time.Now().Add(20 * time.Millisecond)}
	child, cancel := context.WithCancel(c)
	defer cancel()
	waitDone(t, child, "child at the deadline")
	if !errors.Is(c.Err(), context.DeadlineExceeded) || !errors.Is(child.Err(), context.DeadlineExceeded) {
		t.Errorf("at the deadline: Err %v, child's %v", c.Err(), child.Err())
	}
	c.end()

	// The parent's cancellation.
	pctx, pcancel := context.WithCancel(parent)
	c = &deadlineCtx{Context: pctx, deadline: far}
	done := c.Done()
	pcancel()
	waitDone(t, c, "parent cancelled")
	if !isClosed(done) || !errors.Is(c.Err(), context.Canceled) {
		t.Errorf("parent cancelled: Err %v", c.Err())
	}
	c.end()
}

// TestDeadlineCtx_Concurrent: Done, Err and end from several goroutines
// (for the race detector).
func TestDeadlineCtx_Concurrent(t *testing.T) {
	c := &deadlineCtx{Context: context.Background(), deadline: time.Now().Add(time.Hour)}
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() {
			_ = c.Err()
			ch := c.Done()
			c.end()
			<-ch // closed by any end
			errs[i] = c.Err()
		})
	}
	wg.Wait()
	for i, err := range errs {
		if !errors.Is(err, context.Canceled) {
			t.Errorf("goroutine %d: Err after end and Done = %v, want Canceled", i, err)
		}
	}
	select {
	case <-c.Done():
	default:
		t.Error("Done is not closed after end")
	}
}

// TestLimiter_Deadline: a request runs under RequestTimeout, or under
// the client's deadline when that is shorter; the context ends with the
// request.
func TestLimiter_Deadline(t *testing.T) {
	l := newLimiter(Limits{MaxInFlight: 1, RequestTimeout: time.Minute})
	before := time.Now()
	seen, end := l.withDeadline(context.Background())
	d, ok := seen.Deadline()
	if !ok || d.Before(before.Add(time.Minute)) || d.After(time.Now().Add(time.Minute)) {
		t.Errorf("deadline %v (%v), want RequestTimeout from the call", d, ok)
	}
	end()
	if !errors.Is(seen.Err(), context.Canceled) {
		t.Errorf("after the request: Err %v, want Canceled", seen.Err())
	}

	short, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	got, end := l.withDeadline(short)
	end()
	if got != short {
		t.Errorf("with a shorter client deadline the handler got %v, want the client's context", got)
	}
}

// TestLimiter_Bound: MaxInFlight slots, then refusals, until one is
// released.
func TestLimiter_Bound(t *testing.T) {
	l := newLimiter(Limits{MaxInFlight: 2})
	if !l.acquire() || !l.acquire() {
		t.Fatal("the first two acquisitions failed")
	}
	if l.acquire() {
		t.Fatal("a third acquisition passed MaxInFlight 2")
	}
	if b := l.busy(); b.Msg != "server busy: 2 requests in flight, retry later" {
		t.Errorf("busy message %q", b.Msg)
	}
	l.release()
	if !l.acquire() {
		t.Fatal("no slot after a release")
	}
}
