// Command keybench measures a keyserver: it starts one (or targets a
// running one) and drives it over gRPC and REST with N concurrent clients,
// reporting throughput and latency percentiles beside a baseline measured
// in the same run, so that figures from a noisy shared host stay
// comparable. See BENCHMARKS.md.
//
// Scenarios:
//
//   - baseline: the gRPC health check and GET /healthz, the cost of the
//     transport and the client machinery alone.
//   - hit: LIVE keys that exist (1,000 channels, current period).
//   - create: every request is a new content, so a new durable key.
//   - pregen: 24 hours of 10-second periods of one channel (8,640 keys).
//   - paced: hit over gRPC, open-loop at a fraction of the measured
//     maximum hit throughput (latency from when each request was due).
//   - memory: server RSS after 100 k and after 1 M hit requests.
//   - startup: time from process start to the first key on a store of
//     1 M keys built with the keystore package.
//
// The table goes to stdout, then the JSON summary (or to --json FILE);
// progress goes to stderr.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "keybench:", err)
		os.Exit(1)
	}
}
