package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// result is one measured phase.
type result struct {
	Round     int     `json:"round,omitempty"`
	Scenario  string  `json:"scenario"`
	Transport string  `json:"transport"`
	Clients   int     `json:"clients"`
	RateRPS   float64 `json:"target_rate_rps,omitempty"` // paced phases
	Requests  int64   `json:"requests"`
	Errors    int64   `json:"errors"`
	FirstErr  string  `json:"first_error,omitempty"`
	Seconds   float64 `json:"seconds"`
	RPS       float64 `json:"rps"`
	P50MS     float64 `json:"p50_ms"`
	P90MS     float64 `json:"p90_ms"`
	P99MS     float64 `json:"p99_ms"`
	P999MS    float64 `json:"p99_9_ms"`
	// Open-loop phases: how late requests left keybench after they were
	// due, part of the latencies above (the load generator's own share).
	LagP50MS float64 `json:"send_lag_p50_ms,omitempty"`
	LagP99MS float64 `json:"send_lag_p99_ms,omitempty"`
	// Open-loop phases: the requests slower than p99 were due in
	// TailWindows of the phase's Windows 10-ms windows (tailSpread).
	TailRequests int `json:"over_p99_requests,omitempty"`
	TailWindows  int `json:"over_p99_windows_10ms,omitempty"`
	Windows      int `json:"windows_10ms,omitempty"`
	// RatioToBaseline is RPS over the RPS of the same round's baseline on
	// the same transport.
	RatioToBaseline float64 `json:"ratio_to_baseline,omitempty"`
	Profile         string  `json:"cpu_profile,omitempty"`
	// CPU time per request (answered or not) over the phase, from
	// /proc: the server's (when keybench knows its pid) and keybench's
	// own, and each one's average share of a core. Less noisy than
	// latency on a shared host: per-request cost decides how much of
	// the machine a rate takes.
	ServerCPUUS    float64 `json:"server_cpu_us_per_request,omitempty"`
	ClientCPUUS    float64 `json:"keybench_cpu_us_per_request,omitempty"`
	ServerCPUCores float64 `json:"server_cores,omitempty"`
	ClientCPUCores float64 `json:"keybench_cores,omitempty"`
	// HostStealPct is the share of the machine's CPU time the hypervisor
	// took for others during the phase (/proc/stat), -1 when unknown. On
	// a VM it tells a slow phase of the host from a slow server.
	HostStealPct float64 `json:"host_steal_pct"`
}

// setCPU records the CPU times of the phase; server < 0: unknown.
func (r *result) setCPU(server, client time.Duration) {
	if r.Requests <= 0 || r.Seconds <= 0 {
		return
	}
	if server >= 0 {
		r.ServerCPUUS = float64(server.Microseconds()) / float64(r.Requests)
		r.ServerCPUCores = server.Seconds() / r.Seconds
	}
	r.ClientCPUUS = float64(client.Microseconds()) / float64(r.Requests)
	r.ClientCPUCores = client.Seconds() / r.Seconds
}

func newResult(round int, scenario, transport string, p phase, o outcome) result {
	r := result{
		Round: round, Scenario: scenario, Transport: transport, Clients: p.clients, RateRPS: p.rate,
		Requests: o.requests, Errors: o.errors, Seconds: o.elapsed.Seconds(), RPS: o.throughput(),
		P50MS: ms(o.percentile(0.50)), P90MS: ms(o.percentile(0.90)),
		P99MS: ms(o.percentile(0.99)), P999MS: ms(o.percentile(0.999)),
		LagP50MS: ms(quantile(o.lag, 0.50)), LagP99MS: ms(quantile(o.lag, 0.99)),
		TailRequests: o.tail.tailReqs, TailWindows: o.tail.tailWindows, Windows: o.tail.windows,
	}
	if o.firstErr != nil {
		r.FirstErr = o.firstErr.Error()
	}
	return r
}

// ratioSummary is the spread of one scenario's ratio over the rounds.
type ratioSummary struct {
	Scenario  string    `json:"scenario"`
	Transport string    `json:"transport"`
	Ratios    []float64 `json:"ratios"`
	Median    float64   `json:"median"`
	Min       float64   `json:"min"`
	Max       float64   `json:"max"`
}

type memoryResult struct {
	Transport   string  `json:"transport"`
	Clients     int     `json:"clients"`
	WarmupReqs  int64   `json:"warmup_requests"`
	TotalReqs   int64   `json:"total_requests"`
	RSSWarmKiB  int64   `json:"rss_after_warmup_kib"`
	RSSEndKiB   int64   `json:"rss_after_total_kib"`
	GrowthPct   float64 `json:"growth_pct"`
	Errors      int64   `json:"errors"`
	RSSStartKiB int64   `json:"rss_before_kib"`
}

type startupResult struct {
	Keys             int          `json:"keys"`
	StoreMB          float64      `json:"store_mb"`
	Runs             []startupRun `json:"runs"`
	MedianFirstKeyMS float64      `json:"median_first_key_ms"`
}

type machine struct {
	NProc      int    `json:"nproc"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	CPU        string `json:"cpu"`
	MemTotal   string `json:"mem_total"`
	GoVersion  string `json:"go_version"`
	Kernel     string `json:"kernel"`
}

type summary struct {
	Command string `json:"command"`
	// ClientGCInPaced: keybench's garbage collector ran during the paced
	// phases (--client-gc); false: it was off (quietGC).
	ClientGCInPaced bool           `json:"client_gc_in_paced"`
	Started         string         `json:"started"`
	Machine         machine        `json:"machine"`
	Results         []result       `json:"results"`
	Ratios          []ratioSummary `json:"ratios,omitempty"`
	Memory          *memoryResult  `json:"memory,omitempty"`
	Startup         *startupResult `json:"startup,omitempty"`
}

func describeMachine() machine {
	m := machine{NProc: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0), GoVersion: runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(b)) {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				m.CPU = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for line := range strings.Lines(string(b)) {
			if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				m.MemTotal = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	return m
}

// addRatios fills RatioToBaseline from the same round's baselines and
// summarizes each scenario's ratios over the rounds.
func (s *summary) addRatios() {
	base := map[[2]any]float64{}
	for _, r := range s.Results {
		if r.Scenario == "baseline" {
			base[[2]any{r.Round, r.Transport}] = r.RPS
		}
	}
	byKey := map[[2]string][]float64{}
	var order [][2]string
	for i := range s.Results {
		r := &s.Results[i]
		b := base[[2]any{r.Round, r.Transport}]
		if r.Scenario == "baseline" || r.RateRPS > 0 || b == 0 {
			continue
		}
		r.RatioToBaseline = r.RPS / b
		k := [2]string{r.Scenario, r.Transport}
		if _, ok := byKey[k]; !ok {
			order = append(order, k)
		}
		byKey[k] = append(byKey[k], r.RatioToBaseline)
	}
	for _, k := range order {
		v := slices.Clone(byKey[k])
		slices.Sort(v)
		s.Ratios = append(s.Ratios, ratioSummary{Scenario: k[0], Transport: k[1], Ratios: byKey[k],
			Median: v[len(v)/2], Min: v[0], Max: v[len(v)-1]})
	}
}

// label names r's phase: the scenario, with its rate when paced.
func (r *result) label() string {
	if r.RateRPS > 0 {
		return fmt.Sprintf("%s@%.0f/s", r.Scenario, r.RateRPS)
	}
	return r.Scenario
}

func (s *summary) printTable(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "round\tscenario\ttransport\tclients\trequests\terrors\tseconds\treq/s\tvs baseline\tp50 ms\tp90 ms\tp99 ms\tp99.9 ms\t")
	for _, r := range s.Results {
		ratio := ""
		if r.RatioToBaseline > 0 {
			ratio = fmt.Sprintf("%.0f%%", 100*r.RatioToBaseline)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%d\t%d\t%.2f\t%.0f\t%s\t%.3f\t%.3f\t%.3f\t%.3f\t\n",
			r.Round, r.label(), r.Transport, r.Clients, r.Requests, r.Errors, r.Seconds, r.RPS, ratio, r.P50MS, r.P90MS, r.P99MS, r.P999MS)
	}
	tw.Flush()
	for _, r := range s.Results {
		if r.RateRPS > 0 {
			fmt.Fprintf(w, "round %d %s: requests left keybench %.3f ms (p50) / %.3f ms (p99) after they were due; included in the latencies\n",
				r.Round, r.label(), r.LagP50MS, r.LagP99MS)
			if r.Windows > 0 {
				fmt.Fprintf(w, "round %d %s: the %d requests over p99 were due in %d of %d 10-ms windows (%.1f%%)\n",
					r.Round, r.label(), r.TailRequests, r.TailWindows, r.Windows, 100*float64(r.TailWindows)/float64(r.Windows))
			}
		}
	}
	for _, r := range s.Results {
		if r.ServerCPUUS > 0 {
			steal := ""
			if r.HostStealPct >= 0 {
				steal = fmt.Sprintf("; host steal %.1f%%", r.HostStealPct)
			}
			fmt.Fprintf(w, "round %d %s/%s CPU per request: server %.1f µs (%.2f cores), keybench %.1f µs (%.2f cores)%s\n",
				r.Round, r.label(), r.Transport, r.ServerCPUUS, r.ServerCPUCores, r.ClientCPUUS, r.ClientCPUCores, steal)
		}
	}
	for _, r := range s.Results {
		if r.FirstErr != "" {
			fmt.Fprintf(w, "round %d %s/%s first error: %s\n", r.Round, r.Scenario, r.Transport, r.FirstErr)
		}
	}
	for _, q := range s.Ratios {
		fmt.Fprintf(w, "ratio %s/%s to baseline: median %.0f%% (min %.0f%%, max %.0f%%, %d rounds)\n",
			q.Scenario, q.Transport, 100*q.Median, 100*q.Min, 100*q.Max, len(q.Ratios))
	}
	if m := s.Memory; m != nil {
		fmt.Fprintf(w, "memory (%s, %d clients): RSS %d KiB before, %d KiB after %d hits, %d KiB after %d: %+.1f%% (errors %d)\n",
			m.Transport, m.Clients, m.RSSStartKiB, m.RSSWarmKiB, m.WarmupReqs, m.RSSEndKiB, m.TotalReqs, m.GrowthPct, m.Errors)
	}
	if st := s.Startup; st != nil {
		for i, r := range st.Runs {
			fmt.Fprintf(w, "startup %d (%d keys, %.0f MB): listening %.1f ms, health %.1f ms, first key %.1f ms\n",
				i+1, st.Keys, st.StoreMB, r.ListeningMS, r.HealthMS, r.FirstKeyMS)
		}
		fmt.Fprintf(w, "startup median first key: %.1f ms\n", st.MedianFirstKeyMS)
	}
}

func (s *summary) writeJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(s)
}
