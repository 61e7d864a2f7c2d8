package server

// GET /openapi.json: one OpenAPI 2.0 (Swagger) document of every REST
// route the server serves, merged when the server is built from
//
//   - the server's own fragment (openapi.json here: /healthz, /livez,
//     /readyz, /openapi.json), and
//   - each Mount's OpenAPI fragment, in mount order. A front-end whose API
//     is a proto service hands over the document protoc-gen-openapiv2
//     generated (gen/openapiv2); one without writes a small fragment file
//     next to its code and embeds it.
//
// A fragment is a Swagger 2.0 JSON object; only its "paths",
// "definitions" and "tags" are used (info, host and the rest are the
// merged document's). The same path and method in two fragments, or one
// definition name with two different schemas, is an error of New: prefix
// definitions with the front-end's name. app's tests check that every
// route of the mount table is in the served document.

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"

	"github.com/keyserver/keyserver/access"
	"github.com/keyserver/keyserver/internal/version"
)

//go:embed openapi.json
var ownOpenAPI []byte

// openAPIDoc is the merged document.
type openAPIDoc struct {
	Swagger     string                                `json:"swagger"`
	Info        openAPIInfo                           `json:"info"`
	Consumes    []string                              `json:"consumes"`
	Produces    []string                              `json:"produces"`
	Tags        []json.RawMessage                     `json:"tags,omitempty"`
	Paths       map[string]map[string]json.RawMessage `json:"paths"`
	Definitions map[string]json.RawMessage            `json:"definitions,omitempty"`
}

type openAPIInfo struct {
	Title       string `json:"title"`
	Description string `json:"description"`
	Version     string `json:"version"`
}

// openAPIFragment is what a fragment contributes.
type openAPIFragment struct {
	Tags        []json.RawMessage                     `json:"tags"`
	Paths       map[string]map[string]json.RawMessage `json:"paths"`
	Definitions map[string]json.RawMessage            `json:"definitions"`
}

// buildOpenAPI merges the server's fragment and the mounts' into one
// indented JSON document.
func (s *Server) buildOpenAPI() ([]byte, error) {
	doc := openAPIDoc{
		Swagger: "2.0",
		Info: openAPIInfo{
			Title: "keyserver REST API",
			Description: "Every REST route of this key server: the Nagra-CMAF key and signalization API, " +
				"the Widevine Common Encryption API, health and this document. Errors of the Nagra API are " +
				"{\"status\": <REASON>, \"errorMessage\": …}; the Widevine API answers HTTP 200 with its own status. " +
				"Unknown paths are 404, other methods on a known path 405 with Allow.",
			Version: version.Get().Version,
		},
		Consumes:    []string{"application/json"},
		Produces:    []string{"application/json"},
		Paths:       map[string]map[string]json.RawMessage{},
		Definitions: map[string]json.RawMessage{},
	}
	tags := map[string]bool{}
	merge := func(from string, b []byte) error {
		var f openAPIFragment
		if err := json.Unmarshal(b, &f); err != nil {
			return fmt.Errorf("server: OpenAPI of %s: %w", from, err)
		}
		for path, ops := range f.Paths {
			if doc.Paths[path] == nil {
				doc.Paths[path] = map[string]json.RawMessage{}
			}
			for method, op := range ops {
				if _, dup := doc.Paths[path][method]; dup {
					return fmt.Errorf("server: OpenAPI of %s: %s %s is described twice", from, strings.ToUpper(method), path)
				}
				doc.Paths[path][method] = op
			}
		}
		for name, def := range f.Definitions {
			if old, ok := doc.Definitions[name]; ok && !jsonEqual(old, def) {
				return fmt.Errorf("server: OpenAPI of %s: definition %q differs from another front-end's (prefix it with the front-end's name)", from, name)
			}
			doc.Definitions[name] = def
		}
		for _, t := range f.Tags {
			var tag struct{ Name string }
			if json.Unmarshal(t, &tag) == nil && !tags[tag.Name] {
				tags[tag.Name] = true
				doc.Tags = append(doc.Tags, t)
			}
		}
		return nil
	}
	if err := merge("the server", ownOpenAPI); err != nil {
		return nil, err
	}
	for _, m := range s.cfg.HTTP {
		if len(m.OpenAPI) == 0 {
			continue
		}
		if err := merge("mount "+m.Name, m.OpenAPI); err != nil {
			return nil, err
		}
	}
	out, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("server: OpenAPI: %w", err)
	}
	return append(out, '\n'), nil
}

func jsonEqual(a, b json.RawMessage) bool {
	var x, y bytes.Buffer
	return json.Compact(&x, a) == nil && json.Compact(&y, b) == nil && bytes.Equal(x.Bytes(), y.Bytes())
}

// openAPI answers GET /openapi.json.
func (s *Server) openAPI(w http.ResponseWriter, r *http.Request) {
	note := access.FromContext(r.Context())
	note.FrontEnd, note.Method, note.Status = "openapi", "GET /openapi.json", "OK"
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(s.openapi)
}

// Routes returns every REST route the server serves, as "METHOD /path"
// ServeMux patterns: its own (GET /healthz, …) and each mount's, sorted.
// (GET routes also answer HEAD.)
func (s *Server) Routes() []string {
	var rs []string
	for _, r := range s.ownRoutes() {
		rs = append(rs, r.pattern)
	}
	for _, m := range s.cfg.HTTP {
		rs = append(rs, m.Patterns...)
	}
	sort.Strings(rs)
	return rs
}

// OpenAPI returns the document GET /openapi.json serves. The caller must
// not modify it.
func (s *Server) OpenAPI() []byte { return s.openapi }
