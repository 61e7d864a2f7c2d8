package main

import (
	"context"
	"os"
	"testing"
	"time"
)

// checkSchedule runs a pacer and checks it emits exactly the schedule:
// total due times start+i*interval, in order, none before it has come.
func checkSchedule(t *testing.T, name string, run func(emit func(time.Time))) {
	t.Helper()
	const interval = 200 * time.Microsecond
	var got []time.Time
	run(func(d time.Time) {
		if now := time.Now(); now.Before(d) {
			t.Errorf("%s: due time %v emitted %v early", name, d, d.Sub(now))
		}
		got = append(got, d)
	})
	if len(got) != 500 {
		t.Fatalf("%s: %d due times, want 500", name, len(got))
	}
	for i := 1; i < len(got); i++ {
		if gap := got[i].Sub(got[i-1]); gap != interval {
			t.Fatalf("%s: due times %d and %d are %v apart, want %v", name, i-1, i, gap, interval)
		}
	}
}

func TestPace_EmitsTheSchedule(t *testing.T) {
	const interval = 200 * time.Microsecond
	checkSchedule(t, "pace", func(emit func(time.Time)) { pace(t.Context(), interval, 500, emit) })
	checkSchedule(t, "paceSleep", func(emit func(time.Time)) { paceSleep(t.Context(), time.Now(), interval, 500, emit) })
}

func TestPace_StopsWhenCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	n := 0
	pace(ctx, time.Microsecond, 1<<40, func(time.Time) {
		n++
		if n == 100 {
			cancel()
		}
	})
	if n < 100 {
		t.Fatalf("%d due times, want at least 100", n)
	}
}

func TestProcessCPU(t *testing.T) {
	before, err := processCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	// Burn CPU until the kernel's tick-granular count moves.
	x := 0
	for {
		for i := range 1 << 20 {
			x += i
		}
		after, err := processCPU(os.Getpid())
		if err != nil {
			t.Fatal(err)
		}
		if after < before {
			t.Fatalf("CPU time went back: %v then %v", before, after)
		}
		if after > before {
			break
		}
	}
	_ = x
	if _, err := processCPU(1 << 30); err == nil {
		t.Fatal("no error for a pid that does not exist")
	}
}

func TestHostCPU(t *testing.T) {
	total, steal, err := hostCPU()
	if err != nil {
		t.Fatal(err)
	}
	if total <= 0 || steal < 0 || steal > total {
		t.Fatalf("host CPU %d ticks, %d stolen", total, steal)
	}
	m := startCPU(0)
	// Let the clock tick at least once; the counts only move forward.
	for {
		t2, s2, err := hostCPU()
		if err != nil {
			t.Fatal(err)
		}
		if t2 < total || s2 < steal {
			t.Fatalf("host CPU went back: %d/%d then %d/%d", total, steal, t2, s2)
		}
		if t2 > m.hostTotal {
			break
		}
	}
	if p := m.stealPct(); p < 0 || p > 100 {
		t.Fatalf("steal %v%%", p)
	}
}
