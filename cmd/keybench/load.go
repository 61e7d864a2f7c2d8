package main

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// op sends request number i from client w and checks the answer.
type op func(ctx context.Context, w int, i int64) error

// phase says how to drive an op: clients concurrent clients, for a fixed
// number of requests (count > 0) or for a duration. With rate > 0 the load
// is open-loop: requests are due at a fixed pace whatever the server does,
// and latency is measured from when a request was due, so a stalled server
// is charged for the requests queued behind it (no coordinated omission).
type phase struct {
	clients  int
	count    int64
	duration time.Duration
	rate     float64
}

// outcome is what a phase measured. lat is sorted; so is lag, which
// open-loop phases fill: how late each request left keybench after it was
// due (the load generator's own share of lat). tail, open-loop phases
// only, says how the slowest requests are spread over the phase.
type outcome struct {
	requests int64
	errors   int64
	firstErr error
	elapsed  time.Duration
	lat      []time.Duration
	lag      []time.Duration
	tail     tailSpread
}

// tailWindow is the width of the windows tailSpread counts.
const tailWindow = 10 * time.Millisecond

// tailSpread is where, in an open-loop phase, the requests slower than
// its p99 were due: in how many of the phase's 10-ms windows (by due
// time), against how many windows the phase has. Queueing at a steady
// load spreads them over many windows; a stall of either process (a
// collection, the other tenants of the host) puts many in a few.
type tailSpread struct {
	windows     int // windows of the phase
	tailWindows int // windows holding a request slower than p99
	tailReqs    int // requests slower than p99
}

// spreadOfTail computes tailSpread from each request's due time (since
// the phase started) and latency, in the same order.
func spreadOfTail(due, lat []time.Duration) tailSpread {
	if len(lat) == 0 {
		return tailSpread{}
	}
	sorted := slices.Clone(lat)
	slices.Sort(sorted)
	p99 := quantile(sorted, 0.99)
	var t tailSpread
	hit := map[int64]bool{}
	var last time.Duration
	for i, l := range lat {
		last = max(last, due[i])
		if l > p99 {
			t.tailReqs++
			hit[int64(due[i]/tailWindow)] = true
		}
	}
	t.windows = int(last/tailWindow) + 1
	t.tailWindows = len(hit)
	return t
}

func (o *outcome) throughput() float64 {
	if o.elapsed <= 0 {
		return 0
	}
	return float64(o.requests-o.errors) / o.elapsed.Seconds()
}

// percentile returns the nearest-rank q-quantile (0 < q <= 1) of the
// latencies, or 0 without any.
func (o *outcome) percentile(q float64) time.Duration { return quantile(o.lat, q) }

// quantile returns the nearest-rank q-quantile of sorted d, or 0.
func quantile(d []time.Duration, q float64) time.Duration {
	n := len(d)
	if n == 0 {
		return 0
	}
	i := int(q*float64(n)+0.999999) - 1
	return d[max(0, min(i, n-1))]
}

// clientState is one client's private record: no sharing on the hot path.
type clientState struct {
	lat      []time.Duration
	lag      []time.Duration // open loop: due → sent
	due      []time.Duration // open loop: when each request was due, since the phase started
	errors   int64
	firstErr error
}

func (c *clientState) done(lat time.Duration, err error) {
	c.lat = append(c.lat, lat)
	if err != nil {
		c.errors++
		if c.firstErr == nil {
			c.firstErr = err
		}
	}
}

// drive runs op as p says and gathers the outcome. A cancelled ctx ends
// the phase early.
func drive(ctx context.Context, p phase, do op) outcome {
	if p.clients < 1 {
		p.clients = 1
	}
	states := make([]clientState, p.clients)
	var wg sync.WaitGroup
	start := time.Now()
	if p.rate > 0 {
		driveOpen(ctx, p, do, states, &wg, start)
	} else {
		var next atomic.Int64
		deadline := start.Add(p.duration)
		for w := range states {
			wg.Go(func() {
				st := &states[w]
				for ctx.Err() == nil {
					i := next.Add(1) - 1
					if p.count > 0 && i >= p.count || p.count <= 0 && !time.Now().Before(deadline) {
						return
					}
					t := time.Now()
					err := do(ctx, w, i)
					st.done(time.Since(t), err)
				}
			})
		}
	}
	wg.Wait()
	out := outcome{elapsed: time.Since(start)}
	var due []time.Duration // open loop: in the order of out.lat until it is sorted
	for i := range states {
		st := &states[i]
		out.requests += int64(len(st.lat))
		out.errors += st.errors
		if out.firstErr == nil {
			out.firstErr = st.firstErr
		}
		out.lat = append(out.lat, st.lat...)
		out.lag = append(out.lag, st.lag...)
		due = append(due, st.due...)
	}
	if p.rate > 0 {
		out.tail = spreadOfTail(due, out.lat)
	}
	slices.Sort(out.lat)
	slices.Sort(out.lag)
	return out
}

// driveOpen is the open-loop mode: a pacer hands out due times, clients
// take them as they become free.
func driveOpen(ctx context.Context, p phase, do op, states []clientState, wg *sync.WaitGroup, start time.Time) {
	due := make(chan time.Time, 1<<16)
	var next atomic.Int64
	for w := range states {
		wg.Go(func() {
			st := &states[w]
			for d := range due {
				if ctx.Err() != nil {
					continue // drain
				}
				st.lag = append(st.lag, time.Since(d))
				st.due = append(st.due, d.Sub(start))
				err := do(ctx, w, next.Add(1)-1)
				st.done(time.Since(d), err)
			}
		})
	}
	interval := time.Duration(float64(time.Second) / p.rate)
	total := p.count
	if total <= 0 {
		total = int64(p.duration / interval)
	}
	pace(ctx, interval, total, func(d time.Time) { due <- d })
	close(due)
}
