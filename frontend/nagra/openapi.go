package nagra

import (
	"github.com/keyserver/keyserver/gen/openapiv2"
)

// OpenAPI returns the OpenAPI 2.0 document of Patterns, as
// protoc-gen-openapiv2 generated it from proto/keyserver/v1 (the proto
// comments, the HTTP rules of key_service.yaml and the error statuses of
// key_service.openapi.yaml). The server merges it into GET /openapi.json.
func OpenAPI() []byte {
	b, err := openapiv2.FS.ReadFile("keyserver/v1/key_service.swagger.json")
	if err != nil {
		panic("nagra: the generated OpenAPI document is missing: " + err.Error()) // embedded at build time
	}
	return b
}
