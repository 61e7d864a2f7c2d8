package nagra

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc/metadata"

	"github.com/keyserver/keyserver/access"
	keyserverv1 "github.com/keyserver/keyserver/gen/keyserver/v1"
	"github.com/keyserver/keyserver/internal/httpx"
	"github.com/keyserver/keyserver/issuer"
)

// The REST key route. grpc-gateway's generated handler for it
// (RegisterKeyServiceHandlerServer) does generic work on every request
// that this API does not use: it passes every request header through the
// incoming-header matcher into new metadata, adds x-forwarded-host and
// x-forwarded-for, joins metadata three times, looks up marshalers by
// Accept and Content-Type, and wraps the request context five times: a
// measurable part of a REST hit's server CPU (BENCHMARKS.md).
//
// keyRoute does for this API what the generated handler does, and no
// more. It is registered on the gateway's mux, so routing and the
// unescaping of the tenant in the path stay grpc-gateway's. The generated
// handler stays the reference: keyRoute hands it the requests that use a
// gateway feature it does not repeat (a Grpc-Timeout header, which the
// gateway turns into a deadline; TE: trailers, which makes it answer in
// chunks), and restkey_test.go checks that both answer a corpus of
// requests alike, byte for byte.
type keyRoute struct {
	m   *requestMarshaler
	svc keyserverv1.KeyServiceServer // restKeyService: behind the interceptors
	ref http.Handler                 // a gateway mux with the generated handlers
	// auth, if set, checks the token before the body is read (the service
	// checks it again, with the tenant): a request without a valid token
	// costs no decoding.
	auth *authenticator
}

// keyRoutePatterns are the HTTP rules of GetKeyAndSignalization, from
// proto/keyserver/v1/key_service.yaml (restkey_test.go checks they match).
var keyRoutePatterns = [...]string{"/{tenant_id}/ckm/v1/keyAndSignalization", "/ckm/v1/keyAndSignalization"}

// newRESTMux returns the gateway mux serving the key API over REST.
func newRESTMux(ctx context.Context, sigs *setIndex, svc keyserverv1.KeyServiceServer) (*runtime.ServeMux, error) {
	m := newRequestMarshaler(sigs)
	ref := newGatewayMux(m)
	if err := keyserverv1.RegisterKeyServiceHandlerServer(ctx, ref, svc); err != nil {
		return nil, err
	}
	k := &keyRoute{m: m, svc: svc, ref: ref}
	if a, ok := svc.(*API); ok {
		k.auth = a.auth
	}
	gw := newGatewayMux(m)
	for _, p := range keyRoutePatterns {
		if err := gw.HandlePath(http.MethodPost, p, k.serve); err != nil {
			return nil, fmt.Errorf("route %s: %w", p, err)
		}
	}
	return gw, nil
}

// defaultRouteKey marks, in a request's context, a call on the
// default-tenant route (POST /ckm/v1/keyAndSignalization).
type defaultRouteKey struct{}

func onDefaultRoute(ctx context.Context) bool {
	v, _ := ctx.Value(defaultRouteKey{}).(bool)
	return v
}

// Headers that make keyRoute hand a request to the generated handler.
const (
	headerGRPCTimeout = "Grpc-Timeout"
	headerTE          = "Te"
)

func (k *keyRoute) serve(w http.ResponseWriter, r *http.Request, pathParams map[string]string) {
	ctx := r.Context()
	if _, ok := pathParams["tenant_id"]; !ok {
		// The default-tenant route: the body may not name another tenant
		// (service.go); the generated handler's calls carry this too.
		ctx = context.WithValue(ctx, defaultRouteKey{}, true)
		r = r.WithContext(ctx)
	}
	if k.auth != nil {
		if _, _, err := k.auth.authenticate(r.Header.Values(headerAuthorization)); err != nil {
			note := access.FromContext(ctx)
			note.Method = keyserverv1.KeyService_GetKeyAndSignalization_FullMethodName
			st, _ := toStatus(err)
			writeError(ctx, nil, k.m, w, r, st.Err())
			return
		}
	}
	if len(r.Header[headerGRPCTimeout]) > 0 || len(r.Header[headerTE]) > 0 {
		k.ref.ServeHTTP(w, r)
		return
	}
	req := new(keyserverv1.GetKeyAndSignalizationRequest)
	if err := k.m.decode(r.Body, req); err != nil && !errors.Is(err, io.EOF) {
		writeError(ctx, nil, k.m, w, r, err) // a *bodyError, or a read failure
		return
	}
	if tenant, ok := pathParams["tenant_id"]; ok {
		req.TenantId = tenant
	}
	// The incoming metadata the gateway's header matcher (gateway.go)
	// would forward: x-correlation-id and nv-authorizations, each value
	// that is valid gRPC metadata text.
	md := make(metadata.MD, 2)
	forwardHeader(md, headerCorrelationID, r.Header["X-Correlation-Id"])
	forwardHeader(md, headerAuthorization, r.Header["Nv-Authorizations"])
	ctx = metadata.NewIncomingContext(ctx, md)

	resp, err := k.svc.GetKeyAndSignalization(ctx, req)
	if err != nil {
		writeError(ctx, nil, k.m, w, r, err)
		return
	}
	b, err := k.m.Marshal(resp)
	if err != nil {
		writeError(ctx, nil, k.m, w, r, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", k.m.ContentType(resp))
	h.Set("Content-Length", strconv.Itoa(len(b)))
	httpx.WriteAnswer(w, r, b)
}

// forwardHeader adds to md under key the values that grpc-gateway would
// forward: printable ASCII only (gRPC metadata text).
func forwardHeader(md metadata.MD, key string, values []string) {
	for _, v := range values {
		if issuer.PrintableASCII(v) { // gRPC metadata text
			md[key] = append(md[key], v)
		}
	}
}
