package server

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"

	"github.com/keyserver/keyserver/access"
)

// Config configures a Server: what to mount and how to bound it. Only
// cmd/keyserver (through package app) reads flags, environment and files.
// Each field documents its zero value.
type Config struct {
	// Logger receives one line per request (refusals included) and
	// internal errors; nil discards. Key material and tokens are never
	// logged.
	Logger *slog.Logger
	// TLS configures transport security. The zero value serves plain
	// text (development, loopback only).
	TLS TLS
	// Limits bound request sizes, concurrency and time (limits.go). The
	// zero value means the defaults.
	Limits Limits
	// HTTP are the front-ends served on the REST listener.
	HTTP []Mount
	// GRPC are the front-ends served on the gRPC listener.
	GRPC []GRPCService
	// Readiness reports what the back-end can serve now, with a reason
	// when it is not Ready (health.go: /readyz, /healthz, gRPC health).
	// It is called at every health check and once a second, so it must be
	// cheap and safe for concurrent use. nil: always Ready.
	Readiness func() (Readiness, string)
}

// Mount is one front-end on the REST listener: its routes and how it
// refuses what the chain refuses before it runs.
type Mount struct {
	// Name names the front-end in log lines ("nagra", "widevine").
	Name string
	// Patterns are net/http ServeMux patterns with a method
	// ("POST /{tenantId}/widevine/cenc"). Other methods on the same path
	// get 405 with Allow.
	Patterns []string
	// Handler serves the patterns. It runs inside the chain: its request
	// context carries the access.Note, the in-flight slot and the deadline.
	Handler http.Handler
	// Refuse answers a refusal of the chain in the front-end's protocol.
	Refuse func(http.ResponseWriter, *http.Request, access.Refusal)
	// MaxBody bounds a request body; 0 means Limits.MaxBodyBytes.
	MaxBody int64
	// OpenAPI is an OpenAPI 2.0 (Swagger) JSON document or fragment
	// describing Patterns; its paths, definitions and tags are merged into
	// GET /openapi.json (openapi.go). nil: the routes are served but
	// undocumented (app's tests fail on that).
	OpenAPI []byte
}

// GRPCService is one front-end on the gRPC listener.
type GRPCService struct {
	// Name names the front-end in log lines.
	Name string
	// ServiceName is the full gRPC service name it registers; its methods
	// are counted in flight and run under the request deadline.
	ServiceName string
	// Register registers the service on the server.
	Register func(*grpc.Server)
	// Codec, if not nil, replaces the server's codec
	// (grpc.ForceServerCodecV2); at most one service may set it.
	Codec encoding.CodecV2
	// Refuse returns a refusal of the chain as the front-end's status.
	Refuse func(access.Refusal) error
}

// validate reports every problem of c at once.
func (c *Config) validate() error {
	var errs []error
	errs = append(errs, c.TLS.Validate(), c.Limits.Validate())
	codecs := 0
	for i, g := range c.GRPC {
		if g.ServiceName == "" || g.Register == nil || g.Refuse == nil {
			errs = append(errs, fmt.Errorf("server: config: GRPC[%d] needs ServiceName, Register and Refuse", i))
		}
		if g.Codec != nil {
			codecs++
		}
	}
	if codecs > 1 {
		errs = append(errs, errors.New("server: config: at most one gRPC service may set a codec"))
	}
	for i, m := range c.HTTP {
		if len(m.Patterns) == 0 || m.Handler == nil || m.Refuse == nil || m.MaxBody < 0 {
			errs = append(errs, fmt.Errorf("server: config: HTTP[%d] needs Patterns, Handler and Refuse", i))
		}
	}
	return errors.Join(errs...)
}
