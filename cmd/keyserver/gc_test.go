package main

import (
	"io"
	"runtime/debug"
	"testing"
)

// TestGCPercent: the daemon's default target applies unless the operator
// set GOGC (and not the flag); the flag, given, wins over GOGC; zero
// leaves Go's setting.
func TestGCPercent(t *testing.T) {
	orig := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(orig) })
	env := func(gogc string) func(string) string {
		return func(k string) string {
			if k == "GOGC" {
				return gogc
			}
			return ""
		}
	}
	cases := []struct {
		name string
		args []string
		gogc string
		want int
	}{
		{"default", nil, "", defaultGCPercent},
		{"GOGC set, flag not", nil, "50", 100}, // 100: the runtime's value, untouched
		{"flag wins over GOGC", []string{"--gc-percent", "250"}, "50", 250},
		{"zero leaves Go's", []string{"--gc-percent", "0"}, "", 100},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			debug.SetGCPercent(100)
			o, err := parseFlags(c.args, env(c.gogc), io.Discard, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if got := applyGCPercent(o, env(c.gogc)); got != c.want {
				t.Errorf("gc percent %d, want %d", got, c.want)
			}
			if cur := debug.SetGCPercent(100); cur != c.want {
				t.Errorf("runtime's gc percent %d, want %d", cur, c.want)
			}
		})
	}
	// KEYSERVER_GC_PERCENT counts as given.
	o, err := parseFlags(nil, func(k string) string {
		switch k {
		case "GOGC":
			return "50"
		case "KEYSERVER_GC_PERCENT":
			return "300"
		}
		return ""
	}, io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !o.gcPercentSet || o.gcPercent != 300 {
		t.Fatalf("KEYSERVER_GC_PERCENT: given %v, value %d", o.gcPercentSet, o.gcPercent)
	}
}
