package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
)

// TestRun_AllScenariosSmoke runs every scenario for a tiny count against a
// real keyserver binary and checks the summary's shape. It asserts no
// timing: figures come from real runs (BENCHMARKS.md).
func TestRun_AllScenariosSmoke(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "keyserver")
	build := exec.Command("go", "build", "-o", bin, "github.com/keyserver/keyserver/cmd/keyserver")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	jsonPath := filepath.Join(t.TempDir(), "summary.json")
	var stdout, stderr bytes.Buffer
	args := []string{
		"--keyserver", bin, "--clients", "4", "--requests", "40", "--rounds", "2", "--channels", "10",
		"--pregen-keys", "30", "--rate", "200,300", "--memory-warmup", "20", "--memory-requests", "60",
		"--startup-keys", "50", "--startup-runs", "1", "--json", jsonPath,
	}
	if err := run(context.Background(), args, &stdout, &stderr); err != nil {
		t.Fatalf("run: %v\nstderr:\n%s", err, stderr.String())
	}
	b, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	var sum summary
	if err := json.Unmarshal(b, &sum); err != nil {
		t.Fatal(err)
	}
	want := map[string]int{ // scenario/transport → phases
		"baseline/grpc": 2, "baseline/rest": 2, "hit/grpc": 2, "hit/rest": 2,
		"create/grpc": 1, "create/rest": 1, "pregen/grpc": 1, "pregen/rest": 1, "paced-hit/grpc": 2,
		"paced-baseline/grpc": 2,
	}
	got := map[string]int{}
	for _, r := range sum.Results {
		k := r.Scenario + "/" + r.Transport
		got[k]++
		wantReqs := int64(40)
		if r.Scenario == "pregen" {
			wantReqs = 30
		}
		if r.Requests != wantReqs || r.Errors != 0 || r.RPS <= 0 || r.P50MS <= 0 || r.P999MS < r.P50MS {
			t.Errorf("%s: %+v", k, r)
		}
		if r.Scenario == "hit" && r.RatioToBaseline <= 0 {
			t.Errorf("%s: no ratio to baseline", k)
		}
		paced := strings.HasPrefix(r.Scenario, "paced-")
		if (r.RateRPS > 0) != paced || paced && (r.LagP99MS <= 0 || r.LagP99MS > r.P999MS) {
			t.Errorf("%s: rate %v, send lag p99 %v ms", k, r.RateRPS, r.LagP99MS)
		}
		if r.HostStealPct != -1 && (r.HostStealPct < 0 || r.HostStealPct > 100) { // -1: no tick passed
			t.Errorf("%s: host steal %v%%", k, r.HostStealPct)
		}
		if paced != (r.Windows > 0) || r.TailWindows > r.Windows || r.TailWindows > r.TailRequests || r.TailRequests > int(r.Requests)/100+1 {
			t.Errorf("%s: over p99 %d requests in %d of %d windows", k, r.TailRequests, r.TailWindows, r.Windows)
		}
	}
	for k, n := range want {
		if got[k] != n {
			t.Errorf("%s: %d phases, want %d", k, got[k], n)
		}
	}
	if len(sum.Ratios) == 0 {
		t.Error("no ratio summary")
	}
	if m := sum.Memory; m == nil || m.RSSWarmKiB <= 0 || m.RSSEndKiB <= 0 || m.Errors != 0 {
		t.Errorf("memory: %+v", m)
	}
	if s := sum.Startup; s == nil || len(s.Runs) != 1 || s.Runs[0].FirstKeyMS < s.Runs[0].ListeningMS {
		t.Errorf("startup: %+v", s)
	}
	if !bytes.Contains(stdout.Bytes(), []byte("vs baseline")) || !bytes.Contains(stdout.Bytes(), []byte("paced-hit@300/s")) || !bytes.Contains(stdout.Bytes(), []byte("paced-baseline@300/s")) {
		t.Errorf("no table on stdout:\n%s", stdout.String())
	}
}

func TestParseFloats(t *testing.T) {
	got, err := parseFloats(" 0.1, 0.5,,2 ")
	if err != nil || len(got) != 3 || got[0] != 0.1 || got[1] != 0.5 || got[2] != 2 {
		t.Fatalf("got %v, %v", got, err)
	}
	if got, err := parseFloats(""); err != nil || got != nil {
		t.Fatalf("empty: %v, %v", got, err)
	}
	for _, bad := range []string{"x", "0", "-1", "NaN", "Inf", "0.5,abc"} {
		if _, err := parseFloats(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// TestQuietGC: the collector is off inside, as before afterwards.
func TestQuietGC(t *testing.T) {
	orig := debug.SetGCPercent(123)
	t.Cleanup(func() { debug.SetGCPercent(orig) })
	restore := quietGC()
	if inside := debug.SetGCPercent(-1); inside != -1 {
		t.Errorf("GC percent %d inside quietGC, want -1 (off)", inside)
	}
	if limit := debug.SetMemoryLimit(-1); limit != 2<<30 {
		t.Errorf("memory limit %d inside quietGC, want 2 GiB", limit)
	}
	restore()
	if after := debug.SetGCPercent(123); after != 123 {
		t.Errorf("GC percent %d after quietGC, want 123", after)
	}
}
