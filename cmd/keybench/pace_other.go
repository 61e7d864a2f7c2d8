//go:build !linux

package main

import (
	"context"
	"time"
)

// pace calls emit with the due times start+i*interval, i < total: the
// portable pacer (see paceSleep).
func pace(ctx context.Context, interval time.Duration, total int64, emit func(time.Time)) {
	paceSleep(ctx, time.Now(), interval, total, emit)
}
