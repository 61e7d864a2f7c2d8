package main

import (
	"context"
	"encoding/binary"
	"io"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// pace calls emit with the due times start+i*interval, i < total, each once
// it has come. It waits on a periodic timerfd read through Go's network
// poller: the kernel's high-resolution timer makes the fd readable, which
// ends the poller's wait at once, so the pacer wakes on time even when
// the process is idle (time.Sleep would wake up to a millisecond late
// there, see paceSleep). One read returns how many intervals have passed,
// so a pacer that was itself delayed catches up in one burst, with every
// request still stamped with the time it was due.
func pace(ctx context.Context, interval time.Duration, total int64, emit func(time.Time)) {
	start := time.Now()
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		paceSleep(ctx, start, interval, total, emit)
		return
	}
	f := os.NewFile(uintptr(fd), "timerfd") // non-blocking: read through the poller
	defer f.Close()
	// time.Now's monotonic reading is CLOCK_MONOTONIC on Linux: the timer
	// starts from start.
	var now unix.Timespec
	if unix.ClockGettime(unix.CLOCK_MONOTONIC, &now) != nil {
		paceSleep(ctx, start, interval, total, emit)
		return
	}
	first := unix.NsecToTimespec(now.Nano() - int64(time.Since(start)) + int64(interval))
	spec := unix.ItimerSpec{Interval: unix.NsecToTimespec(int64(interval)), Value: first}
	if unix.TimerfdSettime(fd, unix.TFD_TIMER_ABSTIME, &spec, nil) != nil {
		paceSleep(ctx, start, interval, total, emit)
		return
	}
	i := int64(0)
	if total > 0 {
		emit(start)
		i++
	}
	var buf [8]byte
	for i < total && ctx.Err() == nil {
		if _, err := io.ReadFull(f, buf[:]); err != nil {
			// Unexpected: finish the schedule the portable way.
			paceSleep(ctx, start.Add(time.Duration(i)*interval), interval, total-i, emit)
			return
		}
		for n := binary.NativeEndian.Uint64(buf[:]); n > 0 && i < total; n-- {
			emit(start.Add(time.Duration(i) * interval))
			i++
		}
	}
}
