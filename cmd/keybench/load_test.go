package main

import (
	"testing"
	"time"
)

func TestSpreadOfTail(t *testing.T) {
	// 1,000 requests due 1 ms apart (100 windows of 10 ms), all 1 ms
	// long but for the ten slow ones each case places.
	phase := func(slow func(i int) bool) tailSpread {
		var due, lat []time.Duration
		for i := range 1000 {
			due = append(due, time.Duration(i)*time.Millisecond)
			l := time.Millisecond
			if slow(i) {
				l = 50 * time.Millisecond
			}
			lat = append(lat, l)
		}
		return spreadOfTail(due, lat)
	}
	for _, tc := range []struct {
		name string
		slow func(i int) bool
		want tailSpread
	}{
		{"one stall", func(i int) bool { return i >= 500 && i < 510 }, tailSpread{windows: 100, tailWindows: 1, tailReqs: 10}},
		{"spread", func(i int) bool { return i%100 == 7 }, tailSpread{windows: 100, tailWindows: 10, tailReqs: 10}},
		// 2% slow, all alike: the p99 is itself one of them, and only
		// what is slower than the p99 counts.
		{"none over p99", func(i int) bool { return i%50 == 3 }, tailSpread{windows: 100}},
	} {
		if got := phase(tc.slow); got != tc.want {
			t.Errorf("%s: %+v, want %+v", tc.name, got, tc.want)
		}
	}
	if got := spreadOfTail(nil, nil); got != (tailSpread{}) {
		t.Errorf("no requests: %+v", got)
	}
}
