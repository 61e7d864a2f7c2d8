package main

import (
	"context"
	"time"
)

// paceSleep calls emit with the due times start+i*interval, i < total, each
// once it has come, sleeping in between. Go's timers are precise while the
// process is busy, but an idle process waits for its next timer in the
// network poller, whose timeout has millisecond granularity: a sleep of
// tens of microseconds then lasts a millisecond, and requests leave in
// bursts up to a millisecond late. pace (pace_linux.go) avoids that; this
// is the portable fallback.
func paceSleep(ctx context.Context, start time.Time, interval time.Duration, total int64, emit func(time.Time)) {
	for i := int64(0); i < total && ctx.Err() == nil; i++ {
		d := start.Add(time.Duration(i) * interval)
		if wait := time.Until(d); wait > 0 {
			time.Sleep(wait) // pacing the load, not synchronizing
		}
		emit(d)
	}
}
