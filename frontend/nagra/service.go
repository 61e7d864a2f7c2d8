// Package nagra is the front-end of the Nagra-CMAF "key and
// signalization" API (api.md): the gRPC KeyService, its REST routes
// (grpc-gateway, with a hand-written fast path for the key route and its
// JSON), the nv-authorizations check, and the API's error table (a REST
// {"status","errorMessage"} body, a gRPC status with a
// google.rpc.ErrorInfo). Requests become issuer requests; the issuer's
// records and signaling become API answers.
//
// The package authenticates in the API's own way (auth.go) before any
// other work, and never imports another front-end or package server. The
// server mounts it: [API.RegisterGRPC] and [API.GRPCCodec] on the gRPC
// server, [API.Routes] on the HTTP mux, behind the generic chain
// (correlation id, in-flight bound, deadline, access log), whose refusals
// it renders with [API.RefuseHTTP] and [API.RefuseGRPC].
package nagra

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"

	"github.com/keyserver/keyserver/access"
	"github.com/keyserver/keyserver/drm"
	keyserverv1 "github.com/keyserver/keyserver/gen/keyserver/v1"
	"github.com/keyserver/keyserver/issuer"
)

// FrontEnd is this front-end's name in logs and observer events.
const FrontEnd = "nagra"

// Config configures the API.
type Config struct {
	// Issuer issues the keys. Required.
	Issuer *issuer.Issuer
	// Auth configures nv-authorizations checking (auth.go). The zero
	// value is optional mode without credentials.
	Auth Auth
	// Logger receives internal errors; nil discards. (Request lines are
	// the server chain's.)
	Logger *slog.Logger
	// Now is the clock of token expiry checks; nil means time.Now.
	Now func() time.Time
}

// API serves the Nagra-CMAF API over gRPC and REST.
type API struct {
	keyserverv1.UnimplementedKeyServiceServer
	iss   *issuer.Issuer
	auth  *authenticator
	log   *slog.Logger
	index setIndex // derived encodings by entries slice (sigset.go)
	rest  http.Handler
}

// New validates cfg and returns the API.
func New(cfg Config) (*API, error) {
	if cfg.Issuer == nil {
		return nil, errors.New("nagra: config: Issuer is required")
	}
	if err := cfg.Auth.Validate(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	a := &API{iss: cfg.Issuer, auth: newAuthenticator(cfg.Auth, cfg.Now), log: cfg.Logger}
	rest, err := newRESTMux(context.Background(), &a.index, a)
	if err != nil {
		return nil, fmt.Errorf("nagra: gateway: %w", err)
	}
	a.rest = rest
	return a, nil
}

// RegisterGRPC registers the KeyService on s.
func (a *API) RegisterGRPC(s *grpc.Server) { keyserverv1.RegisterKeyServiceServer(s, a) }

// GRPCCodec is the codec the gRPC server must use (grpc.ForceServerCodecV2):
// the default protobuf codec with a shortcut for cached answers (codec.go).
func (a *API) GRPCCodec() encoding.CodecV2 { return newSigCodec(&a.index) }

// ServiceName is the gRPC service the API registers.
const ServiceName = "keyserver.v1.KeyService"

// GetKeyAndSignalization implements keyserverv1.KeyServiceServer: the
// token is checked first, then the request, then the key is issued. Every
// error it returns is a gRPC status with an ErrorInfo (errors.go); the
// cause of an internal one is logged, never returned.
func (a *API) GetKeyAndSignalization(ctx context.Context, req *keyserverv1.GetKeyAndSignalizationRequest) (*keyserverv1.GetKeyAndSignalizationResponse, error) {
	note := access.FromContext(ctx)
	note.Method = keyserverv1.KeyService_GetKeyAndSignalization_FullMethodName
	resp, err := a.serve(ctx, req, note)
	if err != nil {
		st, internal := toStatus(err)
		if internal {
			logInternal(ctx, a.log, note.Method, err)
		}
		note.Status = reasonOf(st).String()
		return nil, st.Err()
	}
	note.Status = keyserverv1.Status_OK.String()
	return resp, nil
}

func (a *API) serve(ctx context.Context, req *keyserverv1.GetKeyAndSignalizationRequest, note *access.Note) (*keyserverv1.GetKeyAndSignalizationResponse, error) {
	tenant := req.GetTenantId()
	defaultRoute := onDefaultRoute(ctx)
	if tenant == "" || defaultRoute {
		tenant = a.iss.DefaultTenant()
	}
	note.Tenant = access.Clip(tenant)
	note.ContentID = access.Clip(req.GetDrmContent().GetDrmContentId())
	cred, err := a.authenticate(ctx, tenant)
	if err != nil {
		return nil, err
	}
	if why := malformedOf(req); why != "" {
		return nil, invalid("", "the request message does not decode: %s", strings.TrimPrefix(why, "proto: "))
	}
	if defaultRoute && req.GetTenantId() != "" && req.GetTenantId() != tenant {
		// The route without a tenant addresses the configured default
		// tenant only: a body naming another one is a client's mistake,
		// not a way to reach that tenant.
		return nil, invalid("tenantId", "is %q, but this route serves the default tenant only: leave tenantId out, or use POST /{tenantId}/ckm/v1/keyAndSignalization", access.Clip(req.GetTenantId()))
	}
	if tenant == "" {
		return nil, invalid("tenantId", "is required (no default tenant is configured)")
	} else if !issuer.ValidTenantID(tenant) {
		return nil, invalid("tenantId", "must match [A-Za-z0-9_-]{1,64}")
	}
	ir, err := parseRequest(req, tenant)
	if err != nil {
		return nil, err
	}
	ir.Origin = issuer.Origin{FrontEnd: FrontEnd, Credential: cred}
	out, err := a.iss.Issue(ctx, ir)
	if err != nil {
		return nil, err
	}
	resp := &keyserverv1.GetKeyAndSignalizationResponse{Status: keyserverv1.Status_OK}
	switch {
	case ir.Supplied == nil:
		resp.ContentKey = contentKeyOf(out.Record.Key, true)
	case ir.Supplied.IV == nil:
		// The server made (or holds) the IV: tell the packager, never echo the key.
		resp.ContentKey = contentKeyOf(out.Record.Key, false)
	}
	resp.DrmSignalization = a.setOf(out.Signaling).entries
	return resp, nil
}

func contentKeyOf(ck drm.ContentKey, withKey bool) *keyserverv1.ContentKey {
	out := &keyserverv1.ContentKey{
		KeyId: ck.KID.String(),
		Iv:    base64.StdEncoding.EncodeToString(ck.IV[:]),
	}
	if withKey {
		out.Key = base64.StdEncoding.EncodeToString(ck.Key[:])
	}
	return out
}
