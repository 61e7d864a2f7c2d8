package main

// Checking the YAML configuration against the Go types it decodes into,
// before decoding, so that a mistake is reported the way the operator
// wrote it: the file, the line, the key path (tenants.NAG0000.horizon),
// what was expected and, for an unknown key, the closest known one. yaml's
// own errors name Go types (main.fileConfig, app.Tenant) instead.
//
// Values are quoted only where they cannot be secrets (numbers, durations,
// booleans); a value that fails its own decoder (a hex signing key, a PEM
// public key) is reported by key and line without it.

import (
	"encoding"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

var (
	durationType        = reflect.TypeFor[time.Duration]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
	yamlUnmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()
)

// checkYAML reports every problem of the document n (a yaml.Node tree as
// parsed from file) for decoding into a value of type t, at once.
func checkYAML(file string, n *yaml.Node, t reflect.Type) error {
	c := &yamlChecker{file: file}
	c.check(n, t, "")
	return errors.Join(c.errs...)
}

type yamlChecker struct {
	file string
	errs []error
}

func (c *yamlChecker) errorf(n *yaml.Node, path, format string, args ...any) {
	where := c.file
	if n != nil && n.Line > 0 {
		where += ":" + strconv.Itoa(n.Line)
	}
	msg := fmt.Sprintf(format, args...)
	if path != "" {
		msg = path + ": " + msg
	}
	c.errs = append(c.errs, fmt.Errorf("config %s: %s", where, msg))
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func (c *yamlChecker) check(n *yaml.Node, t reflect.Type, path string) {
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) > 0 {
			c.check(n.Content[0], t, path)
		}
		return
	case yaml.AliasNode:
		if n.Alias != nil {
			c.check(n.Alias, t, path)
		}
		return
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return // an empty value: the zero value
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	pt := reflect.PointerTo(t)
	if pt.Implements(yamlUnmarshalerType) {
		return // the type decodes itself; Decode reports its errors
	}
	if pt.Implements(textUnmarshalerType) {
		if n.Kind != yaml.ScalarNode {
			c.errorf(n, path, "want a single value, not a %s", kindName(n))
			return
		}
		if err := n.Decode(reflect.New(t).Interface()); err != nil {
			c.errorf(n, path, "%s", textError(err))
		}
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		c.checkStruct(n, t, path)
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			c.errorf(n, path, "want a mapping (key: value lines), not a %s", kindName(n))
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			c.check(n.Content[i+1], t.Elem(), join(path, n.Content[i].Value))
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			c.errorf(n, path, "want a list (- item lines or [a, b]), not a %s", kindName(n))
			return
		}
		for i, item := range n.Content {
			c.check(item, t.Elem(), fmt.Sprintf("%s[%d]", path, i))
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if t == durationType {
			if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!str" {
				c.errorf(n, path, "%s is not a duration: want a number with a unit, such as 90s, 15m or 168h", c.show(n))
			} else if _, err := time.ParseDuration(n.Value); err != nil {
				c.errorf(n, path, "%s is not a duration: want a number with a unit, such as 90s, 15m or 168h", c.show(n))
			}
			return
		}
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" {
			c.errorf(n, path, "%s is not an integer", c.show(n))
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" || strings.HasPrefix(n.Value, "-") {
			c.errorf(n, path, "%s is not a non-negative integer", c.show(n))
		}
	case reflect.Bool:
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" {
			c.errorf(n, path, "%s is not true or false", c.show(n))
		}
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			c.errorf(n, path, "want a single value (text), not a %s", kindName(n))
		}
	}
}

// checkStruct checks a mapping against the yaml-tagged fields of t.
func (c *yamlChecker) checkStruct(n *yaml.Node, t reflect.Type, path string) {
	if n.Kind != yaml.MappingNode {
		c.errorf(n, path, "want a mapping (key: value lines), not a %s", kindName(n))
		return
	}
	fields := yamlFields(t)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		ft, ok := fields[k.Value]
		if !ok {
			c.errorf(k, path, "unknown key %q%s", k.Value, suggest(k.Value, fields))
			continue
		}
		c.check(n.Content[i+1], ft, join(path, k.Value))
	}
}

// yamlFields maps the YAML keys of struct t to their field types, as
// yaml.v3 names them (the tag's name, else the lower-cased field name).
func yamlFields(t reflect.Type) map[string]reflect.Type {
	m := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		switch name {
		case "-":
			continue
		case "":
			name = strings.ToLower(f.Name)
		}
		m[name] = f.Type
	}
	return m
}

// suggest names the known key closest to key, or lists them all.
func suggest(key string, fields map[string]reflect.Type) string {
	known := make([]string, 0, len(fields))
	for k := range fields {
		known = append(known, k)
	}
	sort.Strings(known)
	best, bestD := "", 1<<30
	for _, k := range known {
		if d := editDistance(strings.ToLower(key), strings.ToLower(k)); d < bestD {
			best, bestD = k, d
		}
	}
	if best != "" && bestD <= max(2, len(best)/3) {
		return fmt.Sprintf("; did you mean %q?", best)
	}
	return "; known keys here: " + strings.Join(known, ", ")
}

// editDistance is the Levenshtein distance of a and b (bytes).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// show quotes a scalar for a message (numbers, durations and booleans
// only reach here), or names the node's kind.
func (c *yamlChecker) show(n *yaml.Node) string {
	if n.Kind != yaml.ScalarNode {
		return "a " + kindName(n)
	}
	v := n.Value
	if len(v) > 64 {
		v = v[:64] + "…"
	}
	return strconv.Quote(v)
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "list"
	}
	return "single value"
}

// textError is a field decoder's complaint without yaml's "line N:" and
// Go type wrapping (the value itself is never part of it).
func textError(err error) string {
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		msg := te.Errors[0]
		if _, rest, ok := strings.Cut(msg, ": "); ok && strings.HasPrefix(msg, "line ") {
			msg = rest
		}
		return msg
	}
	return err.Error()
}
