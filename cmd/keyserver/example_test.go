package main

import (
	"os"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/keyserver/keyserver/app"
	"github.com/keyserver/keyserver/internal/testkit"
)

const exampleConfig = "../../docs/keyserver.example.yaml"

// TestExampleConfig_Loads: the sample configuration loads as the daemon
// loads it and builds a server (issue 20).
func TestExampleConfig_Loads(t *testing.T) {
	fc, err := loadConfig(exampleConfig)
	if err != nil {
		t.Fatal(err)
	}
	o, err := parseFlags(nil, func(string) string { return "" }, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	auth, err := buildAuth(o, fc.Auth)
	if err != nil {
		t.Fatal(err)
	}
	store, _ := testkit.NewBolt(t)
	if _, err := app.New(app.Config{Store: store, DefaultTenant: fc.DefaultTenant, Defaults: fc.Defaults, Tenants: fc.Tenants, Auth: auth}); err != nil {
		t.Fatal(err)
	}
	if fc.DefaultTenant == "" || len(fc.Tenants) == 0 || len(fc.Defaults.WidevineSigners) == 0 {
		t.Errorf("the sample sets too little: %+v", fc)
	}
}

// TestExampleConfig_EveryOption fails when the configuration has an
// option (a yaml key of fileConfig, at any depth) that the sample does not
// mention, as a key or as a commented-out key.
func TestExampleConfig_EveryOption(t *testing.T) {
	b, err := os.ReadFile(exampleConfig)
	if err != nil {
		t.Fatal(err)
	}
	sample := string(b)
	var missing []string
	for _, key := range configKeys(reflect.TypeFor[fileConfig](), "") {
		name := key[strings.LastIndex(key, ".")+1:]
		re := regexp.MustCompile(`(?m)^[ \t]*(?:#[ \t]*)?(?:-[ \t]+)?` + regexp.QuoteMeta(name) + `:`)
		if !re.MatchString(sample) {
			missing = append(missing, key)
		}
	}
	if len(missing) > 0 {
		t.Errorf("%s does not mention %q: add each with a comment", exampleConfig, missing)
	}
}

// configKeys lists the yaml keys of t's fields, recursively, as paths
// (tenants.*.horizon), stopping at types that decode themselves.
func configKeys(t reflect.Type, prefix string) []string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	pt := reflect.PointerTo(t)
	if pt.Implements(textUnmarshalerType) || pt.Implements(yamlUnmarshalerType) {
		return nil
	}
	switch t.Kind() {
	case reflect.Map:
		return configKeys(t.Elem(), prefix+"*.")
	case reflect.Slice:
		return configKeys(t.Elem(), prefix+"[].")
	case reflect.Struct:
	default:
		return nil
	}
	var keys []string
	fields := yamlFields(t)
	names := make([]string, 0, len(fields))
	for n := range fields {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		keys = append(keys, prefix+n)
		keys = append(keys, configKeys(fields[n], prefix+n+".")...)
	}
	return keys
}

// TestExampleConfig_KeysFound: the walk finds the options it must (so that
// TestExampleConfig_EveryOption cannot pass by checking nothing).
func TestExampleConfig_KeysFound(t *testing.T) {
	keys := strings.Join(configKeys(reflect.TypeFor[fileConfig](), ""), " ")
	for _, want := range []string{"defaultTenant", "defaults.horizon", "tenants.*.widevineSigners.*.aesKey", "auth.credentials.[].signingKey", "auth.leeway"} {
		if !strings.Contains(keys, want) {
			t.Errorf("configKeys lacks %s: %s", want, keys)
		}
	}
}
