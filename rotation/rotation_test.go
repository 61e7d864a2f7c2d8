package rotation_test

import (
	"errors"
	"testing"
	"time"

	"github.com/keyserver/keyserver/rotation"
)

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	tm, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

func TestPeriod_Boundaries(t *testing.T) {
	tests := []struct {
		at   string
		p    int64
		want int64
	}{
		{"1970-01-01T00:00:00Z", 3600, 0},
		{"1970-01-01T00:59:59Z", 3600, 0},
		{"1970-01-01T01:00:00Z", 3600, 1},
		{"2026-11-24T10:00:00Z", 3600, 1795514400 / 3600},
		{"2026-11-24T10:59:59.999Z", 3600, 1795514400 / 3600},
		{"2026-11-24T11:00:00Z", 3600, 1795514400/3600 + 1},
		{"2026-11-24T10:00:09Z", 10, 179551440},
		{"2026-11-24T10:00:10Z", 10, 179551441},
		{"1969-12-31T23:59:59Z", 3600, -1},
	}
	for _, tt := range tests {
		got := rotation.Period(mustTime(t, tt.at), tt.p)
		if got != tt.want {
			t.Errorf("Period(%s, %d) = %d, want %d", tt.at, tt.p, got, tt.want)
		}
		start := rotation.Start(got, tt.p)
		at := mustTime(t, tt.at)
		if at.Before(start) || !at.Before(start.Add(time.Duration(tt.p)*time.Second)) {
			t.Errorf("%s not inside period %d [%s, +%ds)", tt.at, got, start, tt.p)
		}
	}
}

func TestPolicy_Check(t *testing.T) {
	now := mustTime(t, "2026-11-24T10:00:00Z")
	p := rotation.Policy{}
	tests := []struct {
		at   string
		want error
	}{
		{"2026-11-24T10:00:00Z", nil},
		{"2020-01-01T00:00:00Z", nil},
		{"2026-12-01T10:00:00Z", nil}, // exactly 7 days ahead
		{"2026-12-01T10:00:01Z", rotation.ErrBeyondHorizon},
		{"1969-12-31T23:59:59Z", rotation.ErrBeforeEpoch},
	}
	for _, tt := range tests {
		if err := p.Check(mustTime(t, tt.at), now); !errors.Is(err, tt.want) {
			t.Errorf("Check(%s) = %v, want %v", tt.at, err, tt.want)
		}
	}
	short := rotation.Policy{Horizon: time.Hour}
	if err := short.Check(now.Add(2*time.Hour), now); !errors.Is(err, rotation.ErrBeyondHorizon) {
		t.Errorf("1h horizon, 2h ahead: %v", err)
	}
}

func TestPolicy_Validate(t *testing.T) {
	if err := (rotation.Policy{}).Validate(); err != nil {
		t.Errorf("zero policy: %v", err)
	}
	err := rotation.Policy{PeriodSeconds: -1, Horizon: -1}.Validate()
	if err == nil {
		t.Fatal("negative policy validated")
	}
	if got := len(err.(interface{ Unwrap() []error }).Unwrap()); got != 2 {
		t.Errorf("got %d problems, want 2: %v", got, err)
	}
	if d := (rotation.Policy{}).WithDefaults(); d.PeriodSeconds != 3600 || d.Horizon != 7*24*time.Hour {
		t.Errorf("defaults = %+v", d)
	}
}
