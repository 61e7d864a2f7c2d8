package arch

import (
	"bufio"
	"bytes"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/keyserver/keyserver"

// packages lists every non-test package of the module with its transitive
// imports (go list -deps, tests excluded).
func packages(t *testing.T) map[string][]string {
	t.Helper()
	cmd := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Deps}} {{.}}{{end}}`, module+"/...")
	cmd.Dir = "../.."
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	pkgs := map[string][]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) > 0 {
			pkgs[f[0]] = f[1:]
		}
	}
	if len(pkgs) < 10 {
		t.Fatalf("go list found %d packages: %s", len(pkgs), out)
	}
	return pkgs
}

// under reports whether pkg is path or below it.
func under(pkg, path string) bool { return pkg == path || strings.HasPrefix(pkg, path+"/") }

func rel(pkg string) string { return strings.TrimPrefix(strings.TrimPrefix(pkg, module), "/") }

// domain are the packages that must stay free of transports.
var domain = []string{"drm", "rotation", "signaling", "keystore", "issuer", "access", "authn", "cpix"}

// transport are imports a domain package must not reach, even indirectly.
// (encoding/json is not among them: log/slog and the signaling formats
// that are JSON need it; the API's wire codecs are.)
var transport = []string{
	module + "/gen", "google.golang.org/grpc", "github.com/grpc-ecosystem", "google.golang.org/genproto",
	"net/http", "google.golang.org/protobuf/encoding/protojson",
	module + "/frontend", module + "/server", module + "/app", module + "/cmd",
}

// violations returns, for every package, the forbidden imports it reaches.
func violations(pkgs map[string][]string) []string {
	var bad []string
	for pkg, deps := range pkgs {
		r := rel(pkg)
		forbid := func(dep, why string) { bad = append(bad, r+" imports "+dep+": "+why) }
		for _, dep := range deps {
			if under(dep, module+"/cmd") {
				forbid(dep, "nothing imports cmd/")
			}
		}
		switch {
		case isDomain(r):
			for _, f := range transport { // one line per forbidden tree, naming its first package reached
				for _, dep := range deps {
					if under(dep, f) {
						forbid(dep, "a domain package imports no transport, generated code, wire JSON, front-end or server")
						break
					}
				}
			}
		case under(r, "frontend"):
			own := strings.Join(strings.SplitN(r, "/", 3)[:2], "/") // frontend/<name>
			for _, dep := range deps {
				switch {
				case under(dep, module+"/frontend") && !under(rel(dep), own):
					forbid(dep, "a front-end imports no other front-end")
				case under(dep, module+"/server"), under(dep, module+"/app"):
					forbid(dep, "a front-end imports neither server nor app")
				}
			}
		case under(r, "server"):
			for _, dep := range deps {
				if under(dep, module+"/frontend") || under(dep, module+"/gen") || under(dep, module+"/app") {
					forbid(dep, "server knows no protocol: no front-end, generated code or app")
				}
			}
		}
	}
	return bad
}

func isDomain(r string) bool {
	for _, d := range domain {
		if under(r, d) {
			return true
		}
	}
	return false
}

// TestImportRules fails on any import that crosses the layout's lines.
func TestImportRules(t *testing.T) {
	pkgs := packages(t)
	for _, want := range []string{"issuer", "frontend/nagra", "frontend/widevine", "server", "keystore", "cpix"} {
		if _, ok := pkgs[module+"/"+want]; !ok {
			t.Fatalf("package %s not found: the rules would check nothing", want)
		}
	}
	for _, v := range violations(pkgs) {
		t.Error(v)
	}
}

// TestImportRules_Catch: the checker reports each kind of violation (so
// that TestImportRules cannot pass by checking nothing).
func TestImportRules_Catch(t *testing.T) {
	cases := map[string]map[string][]string{
		"domain→grpc":          {module + "/issuer": {"google.golang.org/grpc"}},
		"domain→net/http":      {module + "/keystore/boltstore": {"net/http"}},
		"domain→gen":           {module + "/signaling": {module + "/gen/keyserver/v1"}},
		"front-end→front-end":  {module + "/frontend/widevine": {module + "/frontend/nagra"}},
		"front-end→server":     {module + "/frontend/nagra": {module + "/server"}},
		"server→front-end":     {module + "/server": {module + "/frontend/nagra"}},
		"anything→cmd":         {module + "/app": {module + "/cmd/keyserver"}},
		"domain→wire JSON":     {module + "/issuer": {"google.golang.org/protobuf/encoding/protojson"}},
		"domain→front-end sub": {module + "/access": {module + "/frontend/nagra/x"}},
		"cpix→net/http":        {module + "/cpix/cpixtest": {"net/http"}},
	}
	for name, pkgs := range cases {
		if v := violations(pkgs); len(v) == 0 {
			t.Errorf("%s: not reported", name)
		}
	}
	if v := violations(map[string][]string{
		module + "/frontend/nagra": {module + "/issuer", module + "/access", module + "/gen/keyserver/v1", "net/http"},
		module + "/app":            {module + "/frontend/nagra", module + "/server"},
	}); len(v) != 0 {
		t.Errorf("allowed imports reported: %q", v)
	}
}
