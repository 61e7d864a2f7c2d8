package nagra

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc/metadata"

	keyserverv1 "github.com/keyserver/keyserver/gen/keyserver/v1"
)

// seenCall is what recordingKeyService saw of one call.
type seenCall struct {
	generated bool // through grpc-gateway's generated handler
	tenant    string
	md        metadata.MD
}

// recordingKeyService answers every call with a fixed key and records
// which REST handler called it: the generated one annotates the context
// with the RPC method name (runtime.RPCMethod), keyRoute does not.
type recordingKeyService struct {
	keyserverv1.UnimplementedKeyServiceServer
	mu    sync.Mutex
	calls []seenCall
}

func (s *recordingKeyService) GetKeyAndSignalization(ctx context.Context, req *keyserverv1.GetKeyAndSignalizationRequest) (*keyserverv1.GetKeyAndSignalizationResponse, error) {
	_, generated := runtime.RPCMethod(ctx)
	md, _ := metadata.FromIncomingContext(ctx)
	s.mu.Lock()
	s.calls = append(s.calls, seenCall{generated: generated, tenant: req.GetTenantId(), md: md})
	s.mu.Unlock()
	return &keyserverv1.GetKeyAndSignalizationResponse{
		Status:     keyserverv1.Status_OK,
		ContentKey: &keyserverv1.ContentKey{KeyId: "kid", Key: "key", Iv: "iv"},
	}, nil
}

func (s *recordingKeyService) last(t *testing.T) seenCall {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.calls) == 0 {
		t.Fatal("the key service was not called")
	}
	return s.calls[len(s.calls)-1]
}

// TestKeyRoute_ServesOrHandsOver checks which handler serves what:
// keyRoute serves key requests itself, passing on only the two metadata
// keys the gateway's header matcher forwards, and hands requests with a
// Grpc-Timeout or TE header to the generated handler.
func TestKeyRoute_ServesOrHandsOver(t *testing.T) {
	svc := &recordingKeyService{}
	mux, err := newRESTMux(t.Context(), &setIndex{}, svc)
	if err != nil {
		t.Fatal(err)
	}
	const body = `{"drmContent":{"drmContentId":"c","profile":{"distributionMode":"VOD"}}}`
	tests := []struct {
		name, path string
		hdr        http.Header
		generated  bool
		tenant     string
	}{
		{"tenant route", "/T1/ckm/v1/keyAndSignalization", nil, false, "T1"},
		{"default-tenant route", "/ckm/v1/keyAndSignalization", nil, false, ""},
		{"escaped tenant", "/T%31/ckm/v1/keyAndSignalization", nil, false, "T1"},
		{"grpc-timeout", "/T1/ckm/v1/keyAndSignalization", http.Header{"Grpc-Timeout": {"5S"}}, true, "T1"},
		{"te trailers", "/T1/ckm/v1/keyAndSignalization", http.Header{"Te": {"trailers"}}, true, "T1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, tt.path, strings.NewReader(body))
			r.Header.Set("X-Correlation-Id", "id-1")
			r.Header.Add("Nv-Authorizations", "tok-1")
			r.Header.Add("Nv-Authorizations", "bad\x80")
			r.Header.Set("X-Other", "not forwarded")
			for k, v := range tt.hdr {
				r.Header[k] = v
			}
			w := httptest.NewRecorder()
			mux.ServeHTTP(w, r)
			if w.Code != http.StatusOK {
				t.Fatalf("HTTP %d: %s", w.Code, w.Body)
			}
			got := svc.last(t)
			if got.generated != tt.generated {
				t.Errorf("served by the generated handler: %v, want %v", got.generated, tt.generated)
			}
			if got.tenant != tt.tenant {
				t.Errorf("tenant %q, want %q", got.tenant, tt.tenant)
			}
			if !slices.Equal(got.md.Get(headerCorrelationID), []string{"id-1"}) || !slices.Equal(got.md.Get(headerAuthorization), []string{"tok-1"}) {
				t.Errorf("metadata %v: want x-correlation-id [id-1] and nv-authorizations [tok-1] (not the non-ASCII value)", got.md)
			}
			if !got.generated && len(got.md) != 2 {
				t.Errorf("keyRoute forwarded metadata %v, want only the two keys", got.md)
			}
		})
	}
}

// TestKeyRoutePatterns_MatchTheHTTPRules checks keyRoutePatterns against
// the HTTP rules the generated handler was built from.
func TestKeyRoutePatterns_MatchTheHTTPRules(t *testing.T) {
	b, err := os.ReadFile("../../proto/keyserver/v1/key_service.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var rules []string
	for _, m := range regexp.MustCompile(`(?m)^\s*-?\s*post:\s*(\S+)\s*$`).FindAllStringSubmatch(string(b), -1) {
		rules = append(rules, m[1])
	}
	if !slices.Equal(rules, keyRoutePatterns[:]) {
		t.Errorf("key_service.yaml has POST rules %q, keyRoutePatterns %q", rules, keyRoutePatterns)
	}
	// The server mounts Patterns: the same routes in net/http's form.
	var mounted []string
	for _, r := range rules {
		mounted = append(mounted, "POST "+strings.ReplaceAll(r, "{tenant_id}", "{tenantId}"))
	}
	if !slices.Equal(mounted, Patterns) {
		t.Errorf("key_service.yaml has POST rules %q, Patterns %q", rules, Patterns)
	}
}
