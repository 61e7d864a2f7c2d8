package app_test

import (
	"encoding/json"
	"io"
	"regexp"
	"strings"
	"testing"

	"github.com/keyserver/keyserver/app"
	"github.com/keyserver/keyserver/app/apptest"
	"github.com/keyserver/keyserver/internal/testkit"
)

// openAPIPath turns a ServeMux pattern's path into an OpenAPI path:
// "{name...}" is "{name}", a trailing "{$}" goes.
func openAPIPath(p string) string {
	p = strings.TrimSuffix(p, "{$}")
	return regexp.MustCompile(`\{([A-Za-z0-9_]+)\.\.\.\}`).ReplaceAllString(p, "{$1}")
}

// TestOpenAPI_EveryRoute: GET /openapi.json serves one OpenAPI 2.0
// document in which every REST route of the server's mount table (its own
// and every front-end's) is described with its method, and nothing else;
// every $ref resolves (issue 20). A front-end mounted without its
// fragment fails here.
func TestOpenAPI_EveryRoute(t *testing.T) {
	bolt, _ := testkit.NewBolt(t)
	cfg := app.Config{DefaultTenant: "NAG0000", Store: bolt}
	srv, err := app.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	routes := srv.Routes()
	if len(routes) < 7 {
		t.Fatalf("mount table has %d routes: %q", len(routes), routes)
	}

	env := apptest.Start(t, cfg)
	res, err := env.HTTP.Get(env.HTTPURL + "/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("GET /openapi.json: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	if string(body) != string(srv.OpenAPI()) {
		t.Error("the served document is not the server's")
	}
	var doc struct {
		Swagger     string
		Info        struct{ Title, Version string }
		Paths       map[string]map[string]json.RawMessage
		Definitions map[string]json.RawMessage
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Swagger != "2.0" || doc.Info.Title == "" || doc.Info.Version == "" {
		t.Errorf("swagger %q, info %+v", doc.Swagger, doc.Info)
	}

	described := map[string]bool{}
	for path, ops := range doc.Paths {
		for method := range ops {
			described[strings.ToUpper(method)+" "+path] = true
		}
	}
	for _, r := range routes {
		method, path, _ := strings.Cut(r, " ")
		key := method + " " + openAPIPath(path)
		if !described[key] {
			t.Errorf("route %q is not in /openapi.json", r)
		}
		delete(described, key)
	}
	for op := range described {
		t.Errorf("/openapi.json describes %q, which the server does not serve", op)
	}

	for _, m := range regexp.MustCompile(`"\$ref":\s*"#/definitions/([^"]+)"`).FindAllStringSubmatch(string(body), -1) {
		if _, ok := doc.Definitions[m[1]]; !ok {
			t.Errorf("$ref to missing definition %q", m[1])
		}
	}
}
