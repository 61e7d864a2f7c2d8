package speke

import _ "embed"

// OpenAPI is the OpenAPI 2.0 fragment describing Patterns (openapi.json,
// written by hand: the documents are XML, not a proto service). The server
// merges it into GET /openapi.json.
//
//go:embed openapi.json
var OpenAPI []byte
