package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/keyserver/keyserver/drm"
	keyserverv1 "github.com/keyserver/keyserver/gen/keyserver/v1"
	"github.com/keyserver/keyserver/keystore"
	"github.com/keyserver/keyserver/keystore/boltstore"
)

// Layout of the startup store: startupChannels LIVE channels of 3600 s
// periods, plus one VOD content, the probe, requested once the server is up.
const (
	startupChannels = 1000
	startupProbe    = "startup-probe"
	startupMarker   = "bench-keys"
)

// buildStartupStore fills dir/keys.db with n keys through the keystore
// package directly (no server), unless the marker says a previous run did.
func buildStartupStore(ctx context.Context, dir string, n int, mk [32]byte, logf func(string, ...any)) error {
	marker := filepath.Join(dir, startupMarker)
	if b, err := os.ReadFile(marker); err == nil && strings.TrimSpace(string(b)) == strconv.Itoa(n) {
		logf("startup: reusing the %d-key store in %s", n, dir)
		return nil
	}
	path := filepath.Join(dir, "keys.db")
	_ = os.Remove(path)
	const writers = 512
	st, err := boltstore.Open(path, &boltstore.Options{MasterKey: mk, MaxBatchSize: writers, CacheSize: -1})
	if err != nil {
		return err
	}
	start := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, writers)
	perChannel := int64((n - 1 + startupChannels - 1) / startupChannels)
	for w := range writers {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := next.Add(1) - 1
				if i >= int64(n-1) {
					return
				}
				ch, period := i/perChannel, 490000+i%perChannel
				req := keystore.Request{
					Space:         keystore.Space{Tenant: benchTenant, ContentID: "startup-" + strconv.FormatInt(ch, 10), Scheme: drm.SchemeCBCS},
					PeriodSeconds: 3600,
					Period:        func(int64) (int64, error) { return period, nil },
				}
				if _, _, err := st.GetOrCreate(ctx, req); err != nil {
					errs[w] = err
					return
				}
				if i%100000 == 0 && i > 0 {
					logf("startup: %d keys stored (%.0f/s)", i, float64(i)/time.Since(start).Seconds())
				}
			}
		})
	}
	wg.Wait()
	probe := keystore.Request{Space: keystore.Space{Tenant: benchTenant, ContentID: startupProbe, Scheme: drm.SchemeCBCS}}
	_, _, perr := st.GetOrCreate(ctx, probe)
	cerr := st.Close()
	for _, err := range append(errs, perr, cerr, ctx.Err()) {
		if err != nil {
			return fmt.Errorf("building the startup store: %w", err)
		}
	}
	logf("startup: stored %d keys in %v", n, time.Since(start).Round(time.Millisecond))
	return os.WriteFile(marker, []byte(strconv.Itoa(n)+"\n"), 0o600)
}

// startupRun is one timed start.
type startupRun struct {
	ListeningMS float64 `json:"listening_ms"` // process start → "keyserver listening" line
	HealthMS    float64 `json:"health_ms"`    // → first SERVING gRPC health answer
	FirstKeyMS  float64 `json:"first_key_ms"` // → first key served (a stored VOD key: a read from the file)
}

// timeStartup starts the server on dir and times it up to its first key.
func timeStartup(bin, dir, logLevel string) (startupRun, error) {
	var r startupRun
	t0 := time.Now()
	t, err := startServer(bin, dir, logLevel, false)
	if err != nil {
		return r, err
	}
	defer t.stop()
	r.ListeningMS = ms(time.Since(t0))
	cc, err := grpc.NewClient(t.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return r, err
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	h, err := healthpb.NewHealthClient(cc).Check(ctx, &healthpb.HealthCheckRequest{}, grpc.WaitForReady(true))
	if err != nil || h.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		return r, fmt.Errorf("startup health: %v %v", h.GetStatus(), err)
	}
	r.HealthMS = ms(time.Since(t0))
	req := newKeyRequest(benchTenant, startupProbe, false, time.Time{})
	resp, err := keyserverv1.NewKeyServiceClient(cc).GetKeyAndSignalization(ctx, req.msg)
	if err != nil || resp.GetStatus() != keyserverv1.Status_OK {
		return r, fmt.Errorf("startup probe: %v %v", resp.GetStatus(), err)
	}
	r.FirstKeyMS = ms(time.Since(t0))
	return r, t.stop()
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
