package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"time"
)

type options struct {
	keyserver      string
	targetGRPC     string
	targetHTTP     string
	targetPID      int
	targetPprof    string
	dataDir        string
	scenarios      map[string]bool
	clients        int
	duration       time.Duration
	requests       int64
	rounds         int
	channels       int
	pregenKeys     int
	clientGC       bool
	staticWindow   bool
	pacedFractions []float64
	pacedBaseline  bool
	rates          []float64
	memWarmup      int64
	memTotal       int64
	startupKeys    int
	startupDir     string
	startupRuns    int
	serverLogLevel string
	profileDir     string
	clientProfile  string
	jsonPath       string
}

var allScenarios = []string{"baseline", "hit", "create", "pregen", "paced", "memory", "startup", "speke-hit", "speke-create"}

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("keybench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var scen string
	fs.StringVar(&o.keyserver, "keyserver", "", "keyserver binary to start (empty: go build ./cmd/keyserver; needs the module as working directory)")
	fs.StringVar(&o.targetGRPC, "target-grpc", "", "gRPC address of a running keyserver (with --target-http: start none)")
	fs.StringVar(&o.targetHTTP, "target-http", "", "REST address (host:port) of a running keyserver")
	fs.IntVar(&o.targetPID, "target-pid", 0, "pid of the running keyserver (memory scenario)")
	fs.StringVar(&o.targetPprof, "target-pprof", "", "pprof address of the running keyserver (--cpuprofile-dir)")
	fs.StringVar(&o.dataDir, "data-dir", "", "data directory of the started keyserver (empty: a temporary one, removed)")
	fs.StringVar(&scen, "scenarios", strings.Join(allScenarios, ","), "comma-separated scenarios: "+strings.Join(allScenarios, ", "))
	fs.IntVar(&o.clients, "clients", 64, "concurrent clients")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "length of each baseline, hit, create and paced phase")
	fs.Int64Var(&o.requests, "requests", 0, "if > 0: requests per baseline, hit, create and paced phase instead of --duration")
	fs.IntVar(&o.rounds, "rounds", 3, "rounds of baseline+hit per transport (ratios are taken within a round)")
	fs.IntVar(&o.channels, "channels", 1000, "LIVE channels of the hit scenario")
	fs.IntVar(&o.pregenKeys, "pregen-keys", 8640, "periods of 10 s the pregen scenario creates per transport")
	var fractions, rates string
	fs.StringVar(&fractions, "paced-fraction", "0.5", "paced rates as fractions of the best gRPC hit throughput of this run (comma-separated: one paced phase each)")
	fs.StringVar(&rates, "rate", "", "paced rates in requests/s, comma-separated (overrides --paced-fraction)")
	fs.Int64Var(&o.memWarmup, "memory-warmup", 100_000, "hit requests before the first RSS reading")
	fs.Int64Var(&o.memTotal, "memory-requests", 1_000_000, "hit requests before the second RSS reading (total)")
	fs.IntVar(&o.startupKeys, "startup-keys", 1_000_000, "keys in the startup scenario's store")
	fs.StringVar(&o.startupDir, "startup-dir", "", "directory of the startup store, kept and reused across runs (empty: temporary)")
	fs.IntVar(&o.startupRuns, "startup-runs", 3, "timed starts")
	fs.StringVar(&o.serverLogLevel, "server-log-level", "info", "--log-level of the started keyserver (its log goes to <data-dir>/server.log)")
	fs.StringVar(&o.profileDir, "cpuprofile-dir", "", "write a server CPU profile per phase here (starts the keyserver with --pprof-addr)")
	fs.StringVar(&o.clientProfile, "client-cpuprofile", "", "write keybench's own CPU profile (the load generator's share) to this file")
	fs.StringVar(&o.jsonPath, "json", "", "write the JSON summary to this file instead of stdout")
	fs.BoolVar(&o.staticWindow, "client-static-window", false, "give keybench's gRPC connections static flow-control windows (no BDP PINGs), as the server's are; off: grpc-go's defaults, as most clients have")
	fs.BoolVar(&o.pacedBaseline, "paced-baseline", true, "before each paced hit phase, run the gRPC health check open loop at the same rate: the latency of the transport alone at that load (false: skip it)")
	fs.BoolVar(&o.clientGC, "client-gc", false, "let keybench's own garbage collector run during open-loop (paced) phases; off by default (quietGC)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	o.scenarios = map[string]bool{}
	for s := range strings.SplitSeq(scen, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if !slices.Contains(allScenarios, s) {
			return nil, fmt.Errorf("--scenarios: unknown scenario %q", s)
		}
		o.scenarios[s] = true
	}
	var errs []error
	var err error
	if o.pacedFractions, err = parseFloats(fractions); err != nil || len(o.pacedFractions) == 0 {
		errs = append(errs, fmt.Errorf("--paced-fraction: want positive numbers, got %q", fractions))
	}
	if o.rates, err = parseFloats(rates); err != nil {
		errs = append(errs, fmt.Errorf("--rate: want positive numbers, got %q", rates))
	}
	if (o.targetGRPC == "") != (o.targetHTTP == "") {
		errs = append(errs, errors.New("--target-grpc and --target-http go together"))
	}
	if o.clients < 1 || o.rounds < 1 || o.channels < 1 || o.pregenKeys < 1 || o.startupRuns < 1 || o.startupKeys < 2 {
		errs = append(errs, errors.New("--clients, --rounds, --channels, --pregen-keys, --startup-runs must be positive, --startup-keys at least 2"))
	}
	if o.memWarmup < 1 || o.memTotal <= o.memWarmup {
		errs = append(errs, errors.New("--memory-requests must exceed --memory-warmup, which must be positive"))
	}
	if o.requests <= 0 && o.duration <= 0 {
		errs = append(errs, errors.New("--duration or --requests must be positive"))
	}
	return o, errors.Join(errs...)
}

// bench is one keybench run.
type bench struct {
	o       *options
	stderr  io.Writer
	t       *target
	c       *clients
	runID   string
	sum     summary
	bin     string
	tmpDirs []string
}

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(b.stderr, "keybench: "+format+"\n", args...)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) (err error) {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	rid := make([]byte, 4)
	_, _ = rand.Read(rid)
	b := &bench{o: o, stderr: stderr, runID: hex.EncodeToString(rid)}
	b.sum.Command = "keybench " + strings.Join(args, " ")
	b.sum.Started = time.Now().UTC().Format(time.RFC3339)
	b.sum.Machine = describeMachine()
	b.sum.ClientGCInPaced = o.clientGC
	defer func() {
		for _, d := range b.tmpDirs {
			_ = os.RemoveAll(d)
		}
	}()

	if o.clientProfile != "" {
		f, err := os.Create(o.clientProfile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer f.Close()
		defer pprof.StopCPUProfile()
	}
	if err := b.load(ctx); err != nil {
		return err
	}
	if o.scenarios["startup"] {
		if err := b.startup(ctx); err != nil {
			return err
		}
	}
	b.sum.addRatios()
	b.sum.printTable(stdout)
	out := stdout
	if o.jsonPath != "" {
		f, err := os.Create(o.jsonPath)
		if err != nil {
			return err
		}
		defer f.Close()
		out = f
	} else {
		fmt.Fprintln(stdout)
	}
	if err := b.sum.writeJSON(out); err != nil {
		return err
	}
	var failed []string
	for _, r := range b.sum.Results {
		if r.Errors > 0 {
			failed = append(failed, fmt.Sprintf("%s/%s: %d errors", r.Scenario, r.Transport, r.Errors))
		}
	}
	if m := b.sum.Memory; m != nil && m.Errors > 0 {
		failed = append(failed, fmt.Sprintf("memory: %d errors", m.Errors))
	}
	if len(failed) > 0 {
		return fmt.Errorf("requests failed: %s", strings.Join(failed, "; "))
	}
	return nil
}

func (b *bench) tempDir(pattern string) (string, error) {
	d, err := os.MkdirTemp("", pattern)
	if err == nil {
		b.tmpDirs = append(b.tmpDirs, d)
	}
	return d, err
}

func (b *bench) binary(ctx context.Context) (string, error) {
	if b.bin != "" {
		return b.bin, nil
	}
	if b.o.keyserver != "" {
		b.bin = b.o.keyserver
		return b.bin, nil
	}
	d, err := b.tempDir("keybench-bin-")
	if err != nil {
		return "", err
	}
	b.logf("building cmd/keyserver")
	b.bin, err = buildKeyserver(ctx, d)
	return b.bin, err
}

// load runs every scenario that needs a serving keyserver.
func (b *bench) load(ctx context.Context) error {
	o := b.o
	need := false
	for _, s := range []string{"baseline", "hit", "create", "pregen", "paced", "memory", "speke-hit", "speke-create"} {
		need = need || o.scenarios[s]
	}
	if !need {
		return nil
	}
	if o.targetGRPC != "" {
		b.t = &target{grpcAddr: o.targetGRPC, httpAddr: o.targetHTTP, pid: o.targetPID, pprofAddr: o.targetPprof}
	} else {
		bin, err := b.binary(ctx)
		if err != nil {
			return err
		}
		dir := o.dataDir
		if dir == "" {
			if dir, err = b.tempDir("keybench-data-"); err != nil {
				return err
			}
		}
		if _, err := prepareDataDir(dir); err != nil {
			return err
		}
		if b.t, err = startServer(bin, dir, o.serverLogLevel, o.profileDir != ""); err != nil {
			return err
		}
		b.logf("keyserver pid %d grpc=%s http=%s (log %s)", b.t.pid, b.t.grpcAddr, b.t.httpAddr, b.t.logPath)
		defer func() {
			if err := b.t.stop(); err != nil {
				b.logf("%v", err)
			}
		}()
	}
	if o.profileDir != "" {
		if b.t.pprofAddr == "" {
			return errors.New("--cpuprofile-dir needs the keyserver's pprof address (--target-pprof)")
		}
		if err := os.MkdirAll(o.profileDir, 0o755); err != nil {
			return err
		}
	}
	var err error
	if b.c, err = dialClients(b.t, o.clients, o.staticWindow); err != nil {
		return err
	}
	defer b.c.close()
	return b.scenarios(ctx)
}

func (b *bench) scenarios(ctx context.Context) error {
	o := b.o
	var hits []keyRequest
	if o.scenarios["hit"] || o.scenarios["paced"] || o.scenarios["memory"] {
		b.logf("setting up %d LIVE channels", o.channels)
		var err error
		if hits, err = b.c.hitRequests(ctx, benchTenant, b.runID, o.channels); err != nil {
			return err
		}
	}
	transports := []string{transportGRPC, transportREST}
	// Warm up connections, caches and the server's heap, unrecorded.
	warm := phase{clients: o.clients, duration: time.Second}
	for _, tr := range transports {
		drive(ctx, warm, b.c.baselineOp(tr))
		if hits != nil {
			drive(ctx, warm, b.c.keyOp(tr, hits))
		}
	}
	steady := phase{clients: o.clients, duration: o.duration, count: o.requests}
	var spekeHit op
	if o.scenarios["speke-hit"] {
		var err error
		if spekeHit, err = b.c.spekeHitOp(ctx, benchTenant, b.runID); err != nil {
			return err
		}
		drive(ctx, warm, spekeHit)
	}
	last := 0
	if o.scenarios["baseline"] || o.scenarios["hit"] || spekeHit != nil {
		for round := 1; round <= o.rounds; round++ {
			last = round
			for _, tr := range transports {
				if o.scenarios["baseline"] {
					b.measure(ctx, round, "baseline", tr, steady, b.c.baselineOp(tr))
				}
				if o.scenarios["hit"] {
					b.measure(ctx, round, "hit", tr, steady, b.c.keyOp(tr, hits))
				}
				if spekeHit != nil && tr == transportREST {
					b.measure(ctx, round, "speke-hit", tr, steady, spekeHit)
				}
			}
		}
	}
	if o.scenarios["create"] {
		for _, tr := range transports {
			b.measure(ctx, last, "create", tr, steady, b.c.createOp(tr, benchTenant, b.runID))
		}
	}
	if o.scenarios["speke-create"] {
		r := b.measure(ctx, last, "speke-create", transportREST, steady, b.c.spekeCreateOp(benchTenant, b.runID))
		b.logf("speke-create: %.0f documents/s = %.0f new keys/s", r.RPS, r.RPS*spekeKeysPerDocument)
	}
	if o.scenarios["pregen"] {
		for _, tr := range transports {
			if err := b.pregen(ctx, last, tr); err != nil {
				return err
			}
		}
	}
	if o.scenarios["paced"] {
		rates := o.rates
		if len(rates) == 0 {
			best := 0.0
			for _, r := range b.sum.Results {
				if r.Scenario == "hit" && r.Transport == transportGRPC {
					best = max(best, r.RPS)
				}
			}
			if best == 0 {
				return errors.New("paced: no gRPC hit throughput measured in this run; add hit or pass --rate")
			}
			for _, f := range o.pacedFractions {
				rates = append(rates, f*best)
			}
		}
		for _, rate := range rates {
			p := steady
			p.rate = rate
			if o.pacedBaseline {
				b.measure(ctx, last, "paced-baseline", transportGRPC, p, b.c.baselineOp(transportGRPC))
			}
			b.measure(ctx, last, "paced-hit", transportGRPC, p, b.c.keyOp(transportGRPC, hits))
		}
	}
	if o.scenarios["memory"] {
		if err := b.memory(ctx, hits); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// measure runs one phase, with a server CPU profile if asked, and records it.
func (b *bench) measure(ctx context.Context, round int, scenario, transport string, p phase, do op) result {
	b.logf("round %d: %s over %s", round, scenario, transport)
	var prof chan string
	if b.o.profileDir != "" && p.count <= 0 {
		prof = make(chan string, 1)
		name := fmt.Sprintf("%s-%s-r%d.pprof", scenario, transport, round)
		if p.rate > 0 {
			name = fmt.Sprintf("%s-%s-r%d-%.0f.pprof", scenario, transport, round, p.rate)
		}
		go func() { prof <- b.cpuProfile(ctx, name, p.duration) }()
	}
	if p.rate > 0 && !b.o.clientGC {
		defer quietGC()()
	}
	cpu := startCPU(b.t.pid)
	out := drive(ctx, p, do)
	r := newResult(round, scenario, transport, p, out)
	r.setCPU(cpu.stop())
	r.HostStealPct = cpu.stealPct()
	if prof != nil {
		r.Profile = <-prof
	}
	b.sum.Results = append(b.sum.Results, r)
	return r
}

// cpuProfile fetches a CPU profile of the server covering d.
func (b *bench) cpuProfile(ctx context.Context, name string, d time.Duration) string {
	secs := max(1, int(d.Seconds()))
	url := fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", b.t.pprofAddr, secs)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return ""
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		b.logf("cpu profile %s: %v", name, err)
		return ""
	}
	defer res.Body.Close()
	path := filepath.Join(b.o.profileDir, name)
	f, err := os.Create(path)
	if err != nil {
		b.logf("cpu profile %s: %v", name, err)
		return ""
	}
	defer f.Close()
	if _, err := io.Copy(f, res.Body); err != nil || res.StatusCode != http.StatusOK {
		b.logf("cpu profile %s: HTTP %d %v", name, res.StatusCode, err)
		return ""
	}
	return path
}

// pregen creates pregenKeys consecutive 10-second periods of one new
// channel with all clients; over gRPC it also checks that every period got
// its own key.
func (b *bench) pregen(ctx context.Context, round int, tr string) error {
	reqs := pregenRequests(pregenTenant, "pregen-"+b.runID+"-"+tr, b.o.pregenKeys, 10, time.Now())
	ids := make([]string, len(reqs))
	do := b.c.keyOp(tr, reqs)
	if tr == transportGRPC {
		do = func(ctx context.Context, w int, i int64) error {
			id, err := b.c.callGRPC(ctx, w, &reqs[i])
			ids[i] = string(id)
			return err
		}
	}
	r := b.measure(ctx, round, "pregen", tr, phase{clients: b.o.clients, count: int64(len(reqs))}, do)
	if tr == transportGRPC && r.Errors == 0 {
		slices.Sort(ids)
		if n := len(slices.Compact(ids)); n != len(reqs) {
			return fmt.Errorf("pregen: %d periods got %d distinct keys", len(reqs), n)
		}
	}
	return nil
}

// memory reads the server's RSS before, after memWarmup and after
// memTotal hit requests over gRPC.
func (b *bench) memory(ctx context.Context, hits []keyRequest) error {
	if b.t.pid == 0 {
		return errors.New("memory: the server's pid is unknown (--target-pid)")
	}
	m := &memoryResult{Transport: transportGRPC, Clients: b.o.clients, WarmupReqs: b.o.memWarmup, TotalReqs: b.o.memTotal}
	var err error
	if m.RSSStartKiB, err = rssKiB(b.t.pid); err != nil {
		return err
	}
	b.logf("memory: %d hit requests", b.o.memWarmup)
	do := b.c.keyOp(transportGRPC, hits)
	o1 := drive(ctx, phase{clients: b.o.clients, count: b.o.memWarmup}, do)
	if m.RSSWarmKiB, err = rssKiB(b.t.pid); err != nil {
		return err
	}
	b.logf("memory: RSS %d KiB; %d more", m.RSSWarmKiB, b.o.memTotal-b.o.memWarmup)
	o2 := drive(ctx, phase{clients: b.o.clients, count: b.o.memTotal - b.o.memWarmup}, do)
	if m.RSSEndKiB, err = rssKiB(b.t.pid); err != nil {
		return err
	}
	m.Errors = o1.errors + o2.errors
	m.GrowthPct = 100 * float64(m.RSSEndKiB-m.RSSWarmKiB) / float64(m.RSSWarmKiB)
	b.sum.Memory = m
	return ctx.Err()
}

// startup builds (or reuses) a store of startupKeys keys and times
// startupRuns starts of the keyserver on it.
func (b *bench) startup(ctx context.Context) error {
	bin, err := b.binary(ctx)
	if err != nil {
		return err
	}
	dir := b.o.startupDir
	if dir == "" {
		if dir, err = b.tempDir("keybench-startup-"); err != nil {
			return err
		}
	}
	mk, err := prepareDataDir(dir)
	if err != nil {
		return err
	}
	if err := buildStartupStore(ctx, dir, b.o.startupKeys, mk, b.logf); err != nil {
		return err
	}
	st := &startupResult{Keys: b.o.startupKeys}
	if fi, err := os.Stat(filepath.Join(dir, "keys.db")); err == nil {
		st.StoreMB = float64(fi.Size()) / 1e6
	}
	var firsts []float64
	for i := range b.o.startupRuns {
		r, err := timeStartup(bin, dir, b.o.serverLogLevel)
		if err != nil {
			return fmt.Errorf("startup run %d: %w", i+1, err)
		}
		b.logf("startup %d: first key after %.1f ms", i+1, r.FirstKeyMS)
		st.Runs = append(st.Runs, r)
		firsts = append(firsts, r.FirstKeyMS)
	}
	slices.Sort(firsts)
	st.MedianFirstKeyMS = firsts[len(firsts)/2]
	b.sum.Startup = st
	return nil
}

// parseFloats parses a comma-separated list of positive numbers ("" is
// none).
func parseFloats(s string) ([]float64, error) {
	var out []float64
	for f := range strings.SplitSeq(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		v, err := strconv.ParseFloat(f, 64)
		if err != nil || !(v > 0) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("%q is not a positive number", f)
		}
		out = append(out, v)
	}
	return out, nil
}

// quietGC turns keybench's own garbage collector off for an open-loop
// phase and returns the function that turns it back on. keybench plays
// all its clients in one process: each of its collections would hold up
// every client at once, a stall N separate packagers never cause
// together, and the requests due meanwhile would be charged to the
// server (measured: about half the requests over 2 ms at half the maximum
// hit rate came in bursts starting at keybench's own collections). The
// collector comes back if keybench's memory passes 2 GiB; afterwards a
// collection frees the phase's garbage before the next phase. Closed-loop
// phases keep the collector: there it costs baseline and hit alike.
func quietGC() (restore func()) {
	pct := debug.SetGCPercent(-1)
	limit := debug.SetMemoryLimit(2 << 30)
	return func() {
		debug.SetGCPercent(pct)
		debug.SetMemoryLimit(limit)
		runtime.GC()
	}
}
