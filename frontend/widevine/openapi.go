package widevine

import _ "embed"

// OpenAPI is the OpenAPI 2.0 fragment describing Patterns (openapi.json,
// written by hand: the protocol is not a proto service of ours). The
// server merges it into GET /openapi.json.
//
//go:embed openapi.json
var OpenAPI []byte
