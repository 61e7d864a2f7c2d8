package server

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"

	keyserverv1 "github.com/keyserver/keyserver/gen/keyserver/v1"
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
	for range 8 {
		wg.Go(func() {
			_ = c.Err()
			ch := c.Done()
			c.end()
			<-ch
		})
	}
	wg.Wait()
}

// TestLimitInterceptor_Deadline: a key request runs under RequestTimeout,
// or under the client's deadline when that is shorter; the context ends
// with the request.
func TestLimitInterceptor_Deadline(t *testing.T) {
	s := &Server{limit: newLimiter(Limits{MaxInFlight: 1, RequestTimeout: time.Minute})}
	info := &grpc.UnaryServerInfo{FullMethod: keyserverv1.KeyService_GetKeyAndSignalization_FullMethodName}
	var seen context.Context
	handler := func(ctx context.Context, _ any) (any, error) { seen = ctx; return nil, nil }

	before := time.Now()
	if _, err := s.limitInterceptor(context.Background(), nil, info, handler); err != nil {
		t.Fatal(err)
	}
	d, ok := seen.Deadline()
	if !ok || d.Before(before.Add(time.Minute)) || d.After(time.Now().Add(time.Minute)) {
		t.Errorf("deadline %v (%v), want RequestTimeout from the call", d, ok)
	}
	if !errors.Is(seen.Err(), context.Canceled) {
		t.Errorf("after the request: Err %v, want Canceled", seen.Err())
	}

	short, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if _, err := s.limitInterceptor(short, nil, info, handler); err != nil {
		t.Fatal(err)
	}
	if seen != short {
		t.Errorf("with a shorter client deadline the handler got %v, want the client's context", seen)
	}
}
