package nagra

import (
	"net/http"

	"github.com/keyserver/keyserver/access"
	keyserverv1 "github.com/keyserver/keyserver/gen/keyserver/v1"
)

// Patterns are the API's REST routes, as net/http ServeMux patterns (the
// rules of proto/keyserver/v1/key_service.yaml; restkey_test.go checks
// they match).
var Patterns = []string{"POST /{tenantId}/ckm/v1/keyAndSignalization", "POST /ckm/v1/keyAndSignalization"}

// HTTPHandler returns the handler of Patterns: grpc-gateway's mux with
// the key route's fast path (restkey.go).
func (a *API) HTTPHandler() http.Handler { return a.rest }

// RefuseHTTP answers a refusal of the server's chain in the API's REST
// error shape.
func (a *API) RefuseHTTP(w http.ResponseWriter, r *http.Request, ref access.Refusal) {
	code, reason := refusalStatus(ref.Kind)
	writeJSONError(r.Context(), w, code, reason, ref.Msg)
}

// RefuseGRPC returns a refusal of the server's chain as the API's gRPC
// status, with its ErrorInfo.
func (a *API) RefuseGRPC(ref access.Refusal) error {
	_, reason := refusalStatus(ref.Kind)
	field := ""
	if ref.Kind == access.RefusedCorrelationID {
		field = access.HeaderCorrelationID
	}
	return newStatus(reason, field, ref.Msg).Err()
}

func refusalStatus(k access.RefusalKind) (int, keyserverv1.Status) {
	switch k {
	case access.RefusedTooLarge:
		return http.StatusRequestEntityTooLarge, keyserverv1.Status_INVALID_REQUEST
	case access.RefusedBusy:
		return http.StatusServiceUnavailable, keyserverv1.Status_UNAVALAIBLE_SERVICE
	}
	return http.StatusBadRequest, keyserverv1.Status_INVALID_REQUEST
}
