package server

import (
	"net/http"
	"strings"
	"testing"

	"github.com/keyserver/keyserver/access"
)

// TestBuildOpenAPI_Conflicts: two fragments describing the same route, or
// one definition name with two schemas, fail New; the same definition
// twice is fine.
func TestBuildOpenAPI_Conflicts(t *testing.T) {
	h := http.NotFoundHandler()
	refuse := func(http.ResponseWriter, *http.Request, access.Refusal) {}
	mount := func(name, pattern, doc string) Mount {
		return Mount{Name: name, Patterns: []string{pattern}, Handler: h, Refuse: refuse, OpenAPI: []byte(doc)}
	}
	a := `{"paths":{"/a":{"post":{}}},"definitions":{"x":{"type":"string"}}}`
	cases := []struct {
		name   string
		mounts []Mount
		want   string
	}{
		{"same definition twice", []Mount{mount("a", "POST /a", a), mount("b", "POST /b", `{"paths":{"/b":{"post":{}}},"definitions":{"x":{"type": "string"}}}`)}, ""},
		{"route twice", []Mount{mount("a", "POST /a", a), mount("b", "POST /b", `{"paths":{"/a":{"post":{}}}}`)}, "POST /a is described twice"},
		{"server's route", []Mount{mount("a", "POST /a", `{"paths":{"/healthz":{"get":{}}}}`)}, "GET /healthz is described twice"},
		{"definition differs", []Mount{mount("a", "POST /a", a), mount("b", "POST /b", `{"definitions":{"x":{"type":"integer"}}}`)}, `definition "x" differs`},
		{"not JSON", []Mount{mount("a", "POST /a", `{`)}, "OpenAPI of mount a"},
	}
	for _, c := range cases {
		_, err := New(Config{HTTP: c.mounts})
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
}
