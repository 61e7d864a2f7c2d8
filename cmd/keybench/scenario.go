package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/protobuf/encoding/protojson"

	keyserverv1 "github.com/keyserver/keyserver/gen/keyserver/v1"
)

// Transports.
const (
	transportGRPC = "grpc"
	transportREST = "rest"
)

// clients holds the connections of the simulated packagers: one gRPC
// connection and one keep-alive HTTP connection per client, as N separate
// packagers would have.
type clients struct {
	grpcConns []*grpc.ClientConn
	keys      []keyserverv1.KeyServiceClient
	health    []healthpb.HealthClient
	http      *http.Client
	baseURL   string // http://host:port
	bufs      []bytes.Buffer
	answers   []rawAnswer // gRPC answers, one per client
}

// dialClients opens n gRPC connections, one per client, and an HTTP client
// with n idle connections. staticWindow gives the gRPC connections static
// flow-control windows, which ends grpc-go's BDP PINGs.
func dialClients(t *target, n int, staticWindow bool) (*clients, error) {
	c := &clients{
		baseURL: "http://" + t.httpAddr,
		http: &http.Client{
			Timeout: 30 * time.Second,
			Transport: &http.Transport{
				MaxIdleConns:        n,
				MaxIdleConnsPerHost: n,
				DisableCompression:  true,
				IdleConnTimeout:     time.Minute,
			},
		},
		bufs:    make([]bytes.Buffer, n),
		answers: make([]rawAnswer, n),
	}
	dialOpts := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	if staticWindow {
		dialOpts = append(dialOpts, grpc.WithStaticStreamWindowSize(1<<20), grpc.WithStaticConnWindowSize(1<<20))
	}
	for range n {
		cc, err := grpc.NewClient(t.grpcAddr, dialOpts...)
		if err != nil {
			c.close()
			return nil, fmt.Errorf("dial %s: %w", t.grpcAddr, err)
		}
		c.grpcConns = append(c.grpcConns, cc)
		c.keys = append(c.keys, keyserverv1.NewKeyServiceClient(cc))
		c.health = append(c.health, healthpb.NewHealthClient(cc))
	}
	return c, nil
}

func (c *clients) close() {
	for _, cc := range c.grpcConns {
		_ = cc.Close()
	}
	c.http.CloseIdleConnections()
}

// keyRequest is one prepared request, in both encodings. keyID, when
// known, is the key every answer must carry.
type keyRequest struct {
	msg   *keyserverv1.GetKeyAndSignalizationRequest
	path  string // REST path
	body  []byte // REST JSON body
	keyID string
}

// newKeyRequest prepares a request for tenant/content. at, if not zero,
// is the scheduledKey.time (pre-generation).
func newKeyRequest(tenant, content string, live bool, at time.Time) keyRequest {
	mode := keyserverv1.DistributionMode_VOD
	if live {
		mode = keyserverv1.DistributionMode_LIVE
	}
	m := &keyserverv1.GetKeyAndSignalizationRequest{
		TenantId: tenant,
		DrmContent: &keyserverv1.DrmContent{
			DrmContentId: content,
			Profile:      &keyserverv1.Profile{DistributionMode: mode},
		},
	}
	if !at.IsZero() {
		m.ScheduledKey = &keyserverv1.ScheduledKey{Time: at.UTC().Format(time.RFC3339)}
	}
	// The REST body carries no tenantId: the tenant is in the path.
	rest := &keyserverv1.GetKeyAndSignalizationRequest{DrmContent: m.DrmContent, ScheduledKey: m.ScheduledKey}
	body, err := protojson.Marshal(rest)
	if err != nil {
		panic(err) // a fixed, valid message
	}
	return keyRequest{msg: m, path: "/" + tenant + "/ckm/v1/keyAndSignalization", body: body}
}

// errKeyChanged reports an answer with another key than before for the
// same request: a broken store, or (hit) a crypto-period boundary crossed
// during the run.
var errKeyChanged = errors.New("key id differs from the one first returned (a crypto-period boundary crossed during the run? BENCH rotates daily at 00:00 UTC)")

// callGRPC sends r over client w's connection and checks the answer
// without decoding it into messages (checkAnswer): the load generator
// shares the host's cores with the server, and building the ~4 KB
// answer's strings would take CPU from the server under test. It returns
// the key id, valid until client w's next call.
func (c *clients) callGRPC(ctx context.Context, w int, r *keyRequest) ([]byte, error) {
	a := &c.answers[w]
	if err := c.grpcConns[w].Invoke(ctx, keyserverv1.KeyService_GetKeyAndSignalization_FullMethodName, r.msg, a, grpc.ForceCodecV2(answerCodec{})); err != nil {
		return nil, err
	}
	id, err := checkAnswer(a.b)
	if err != nil {
		return nil, err
	}
	if r.keyID != "" && string(id) != r.keyID {
		return nil, errKeyChanged
	}
	return id, nil
}

// callGRPCFull is callGRPC with the answer decoded and checked field by
// field: the setup of the hit scenario, whose key ids every later answer
// is compared with.
func (c *clients) callGRPCFull(ctx context.Context, w int, r *keyRequest) (string, error) {
	resp, err := c.keys[w].GetKeyAndSignalization(ctx, r.msg)
	if err != nil {
		return "", err
	}
	if resp.GetStatus() != keyserverv1.Status_OK || resp.GetContentKey().GetKeyId() == "" || len(resp.GetDrmSignalization()) == 0 {
		return "", fmt.Errorf("unexpected answer: status %v", resp.GetStatus())
	}
	for i, e := range resp.GetDrmSignalization() {
		if e.GetDash().GetPsshBox() == "" && e.GetHls().GetExtXKey() == "" {
			return "", fmt.Errorf("unexpected answer: drmSignalization[%d] has neither a pssh box nor an EXT-X-KEY", i)
		}
	}
	id := resp.GetContentKey().GetKeyId()
	if r.keyID != "" && id != r.keyID {
		return "", errKeyChanged
	}
	return id, nil
}

// callREST posts r with client w's buffer. Only a 200 with the expected
// key id anywhere in the body passes: cheap enough not to load the client;
// setup parses the answers fully.
func (c *clients) callREST(ctx context.Context, w int, r *keyRequest) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.baseURL+r.path, bytes.NewReader(r.body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	buf := &c.bufs[w]
	buf.Reset()
	_, err = buf.ReadFrom(res.Body)
	res.Body.Close()
	if err != nil {
		return nil, err
	}
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP %d: %.200s", res.StatusCode, buf.Bytes())
	}
	if r.keyID != "" && !bytes.Contains(buf.Bytes(), []byte(r.keyID)) {
		return nil, errKeyChanged
	}
	return buf.Bytes(), nil
}

// keyOp returns the op sending reqs[i % len(reqs)] over transport.
func (c *clients) keyOp(transport string, reqs []keyRequest) op {
	if transport == transportGRPC {
		return func(ctx context.Context, w int, i int64) error {
			_, err := c.callGRPC(ctx, w, &reqs[i%int64(len(reqs))])
			return err
		}
	}
	return func(ctx context.Context, w int, i int64) error {
		_, err := c.callREST(ctx, w, &reqs[i%int64(len(reqs))])
		return err
	}
}

// baselineOp is the transport alone: the gRPC health check, GET /healthz.
func (c *clients) baselineOp(transport string) op {
	if transport == transportGRPC {
		req := &healthpb.HealthCheckRequest{}
		return func(ctx context.Context, w int, _ int64) error {
			resp, err := c.health[w].Check(ctx, req)
			if err == nil && resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
				err = fmt.Errorf("health: %v", resp.GetStatus())
			}
			return err
		}
	}
	url := c.baseURL + "/healthz"
	return func(ctx context.Context, w int, _ int64) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		res, err := c.http.Do(req)
		if err != nil {
			return err
		}
		_, err = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if err == nil && res.StatusCode != http.StatusOK {
			err = fmt.Errorf("healthz: HTTP %d", res.StatusCode)
		}
		return err
	}
}

// hitRequests prepares the hit scenario: LIVE, channels channels, current
// period. Each channel's key is created (or found) first over gRPC and its
// key id recorded, so every measured answer is checked against it; the
// REST answer of channel 0 is parsed fully once.
func (c *clients) hitRequests(ctx context.Context, tenant, runID string, channels int) ([]keyRequest, error) {
	reqs := make([]keyRequest, channels)
	for i := range reqs {
		reqs[i] = newKeyRequest(tenant, "live-"+runID+"-"+strconv.Itoa(i), true, time.Time{})
	}
	errs := make(chan error, len(c.keys))
	next := make(chan int)
	go func() {
		defer close(next)
		for i := range reqs {
			select {
			case next <- i:
			case <-ctx.Done():
				return
			}
		}
	}()
	for w := range c.keys {
		go func() {
			for i := range next {
				id, err := c.callGRPCFull(ctx, w, &reqs[i])
				if err != nil {
					errs <- fmt.Errorf("hit setup, channel %d: %w", i, err)
					for range next {
					}
					return
				}
				reqs[i].keyID = id
			}
			errs <- nil
		}()
	}
	var first error
	for range c.keys {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	if first != nil {
		return nil, first
	}
	body, err := c.callREST(ctx, 0, &reqs[0])
	if err != nil {
		return nil, fmt.Errorf("hit setup over REST: %w", err)
	}
	var resp keyserverv1.GetKeyAndSignalizationResponse
	if err := protojson.Unmarshal(body, &resp); err != nil {
		return nil, fmt.Errorf("hit setup over REST: %w", err)
	}
	if resp.GetStatus() != keyserverv1.Status_OK || resp.GetContentKey().GetKeyId() != reqs[0].keyID {
		return nil, fmt.Errorf("hit setup over REST: status %v, key id %q, want %q", resp.GetStatus(), resp.GetContentKey().GetKeyId(), reqs[0].keyID)
	}
	return reqs, nil
}

// createOp makes every request a new LIVE content (its first key, so a
// durable write per request), named by runID, transport and i.
func (c *clients) createOp(transport, tenant, runID string) op {
	prefix := "create-" + runID + "-" + transport + "-"
	return func(ctx context.Context, w int, i int64) error {
		r := newKeyRequest(tenant, prefix+strconv.FormatInt(i, 10), true, time.Time{})
		if transport == transportGRPC {
			_, err := c.callGRPC(ctx, w, &r)
			return err
		}
		_, err := c.callREST(ctx, w, &r)
		return err
	}
}

// pregenRequests prepares n consecutive periods of periodSeconds for one
// channel, starting with the period after now.
func pregenRequests(tenant, content string, n int, periodSeconds int64, now time.Time) []keyRequest {
	first := (now.Unix()/periodSeconds + 1) * periodSeconds
	reqs := make([]keyRequest, n)
	for i := range reqs {
		reqs[i] = newKeyRequest(tenant, content, true, time.Unix(first+int64(i)*periodSeconds, 0))
	}
	return reqs
}
