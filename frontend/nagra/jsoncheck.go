package nagra

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/keyserver/keyserver/access"
	keyserverv1 "github.com/keyserver/keyserver/gen/keyserver/v1"
)

// maxJSONDepth bounds the nesting of a REST body. A request nests four
// levels; vendor extras get room, a hostile body does not.
const maxJSONDepth = 32

// checkJSON runs before the lenient decoding path (gateway.go), whose
// encoding/json would otherwise accept what protojson refused: invalid
// UTF-8 and lone surrogate escapes (silently replaced by U+FFFD),
// duplicated members (the last one silently winning) and unbounded
// nesting. Each problem is reported with the path of its field.
func checkJSON(body []byte) *bodyError {
	bad := func(path, msg string) *bodyError {
		if path == "" {
			path = "request body"
		}
		return &bodyError{reason: keyserverv1.Status_INVALID_REQUEST, field: path, msg: msg}
	}
	if !utf8.Valid(body) {
		off := 0
		for off < len(body) {
			r, n := utf8.DecodeRune(body[off:])
			if r == utf8.RuneError && n <= 1 {
				break
			}
			off += n
		}
		return bad(pathAt(body, int64(off)), "is not valid UTF-8 (byte "+strconv.Itoa(off)+")")
	}
	var problem *bodyError
	_ = walkJSON(body, func(path []string, tok json.Token, raw []byte, dup bool) bool {
		switch {
		case dup:
			problem = bad(joinPath(path), "is given twice")
		case len(path) > maxJSONDepth:
			problem = bad(joinPath(path[:maxJSONDepth]), "nests deeper than "+strconv.Itoa(maxJSONDepth)+" levels")
		default:
			if s, ok := tok.(string); ok && strings.ContainsRune(s, utf8.RuneError) && loneSurrogate(raw) {
				problem = bad(joinPath(path), "holds a lone UTF-16 surrogate escape")
			}
		}
		return problem == nil
	})
	return problem
}

// pathAt returns the path of the value at byte offset off of body, or ""
// if there is none (or body does not tokenize up to there).
func pathAt(body []byte, off int64) string {
	var at string
	_ = walkJSON(body, func(path []string, _ json.Token, _ []byte, _ bool) bool {
		at = joinPath(path)
		return false
	}, off)
	return at
}

// errStop ends a walk early.
var errStop = errors.New("stop")

// walkJSON calls fn for each scalar value, each member name that repeats
// one of its object (dup) and each container opening, with the path of the
// value and its raw bytes (including separators before it). fn returns
// false to stop. With stopAt, only the value spanning that offset is
// reported.
func walkJSON(body []byte, fn func(path []string, tok json.Token, raw []byte, dup bool) bool, stopAt ...int64) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	type frame struct {
		object  bool
		wantKey bool
		index   int
		seen    map[string]bool
	}
	var stack []frame
	var path []string
	for {
		start := dec.InputOffset()
		tok, err := dec.Token()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			if len(stopAt) > 0 && len(path) > 0 {
				fn(path, nil, nil, false) // the error is within the current value
			}
			return err
		}
		end := dec.InputOffset()
		if len(stack) > 0 {
			top := &stack[len(stack)-1]
			if top.object && top.wantKey {
				if d, ok := tok.(json.Delim); ok && d == '}' {
					stack, path = stack[:len(stack)-1], path[:len(path)-1]
					if len(stack) > 0 {
						stack[len(stack)-1].wantKey = stack[len(stack)-1].object
					}
					continue
				}
				name := tok.(string)
				path[len(path)-1] = name
				top.wantKey = false
				canon := camel(name)
				if top.seen[canon] {
					if len(stopAt) == 0 && !fn(path, tok, body[start:end], true) {
						return errStop
					}
				}
				top.seen[canon] = true
				continue
			}
			if !top.object {
				if d, ok := tok.(json.Delim); !ok || d != ']' {
					path[len(path)-1] = "[" + strconv.Itoa(top.index) + "]"
					top.index++
				}
			}
		}
		report := len(stopAt) == 0 || (start <= stopAt[0] && stopAt[0] < end)
		switch d, _ := tok.(json.Delim); d {
		case '{', '[':
			if report && !fn(path, tok, body[start:end], false) {
				return errStop
			}
			stack = append(stack, frame{object: d == '{', wantKey: d == '{', seen: map[string]bool{}})
			path = append(path, "")
			continue
		case '}', ']':
			stack, path = stack[:len(stack)-1], path[:len(path)-1]
		default:
			if report && !fn(path, tok, body[start:end], false) {
				return errStop
			}
			if len(stopAt) > 0 && end > stopAt[0] {
				return nil
			}
		}
		if len(stack) > 0 {
			stack[len(stack)-1].wantKey = stack[len(stack)-1].object
		}
	}
}

// joinPath renders a path the way error messages name fields:
// drmContent.profile.emi, drmList[1].
func joinPath(path []string) string {
	var b strings.Builder
	for _, p := range path {
		if p == "" {
			continue
		}
		if b.Len() > 0 && !strings.HasPrefix(p, "[") {
			b.WriteByte('.')
		}
		b.WriteString(access.Clip(p))
	}
	return b.String()
}

// camel maps a proto field name to its JSON name (drm_content_id →
// drmContentId), so that both spellings of one field count as one.
func camel(s string) string {
	if !strings.Contains(s, "_") {
		return s
	}
	var b strings.Builder
	up := false
	for _, r := range s {
		if r == '_' {
			up = true
			continue
		}
		if up && 'a' <= r && r <= 'z' {
			r -= 'a' - 'A'
		}
		up = false
		b.WriteRune(r)
	}
	return b.String()
}

// loneSurrogate reports whether raw JSON text holds a \u escape of a
// UTF-16 surrogate that is not part of a high-low pair.
func loneSurrogate(raw []byte) bool {
	hex4 := func(i int) (rune, bool) {
		if i+6 > len(raw) || raw[i] != '\\' || raw[i+1] != 'u' {
			return 0, false
		}
		v, err := strconv.ParseUint(string(raw[i+2:i+6]), 16, 16)
		return rune(v), err == nil
	}
	for i := 0; i < len(raw); i++ {
		if raw[i] != '\\' {
			continue
		}
		r, ok := hex4(i)
		if !ok {
			i++ // skip the escaped character (it may be a backslash)
			continue
		}
		switch {
		case 0xd800 <= r && r < 0xdc00:
			lo, ok := hex4(i + 6)
			if !ok || lo < 0xdc00 || lo > 0xdfff {
				return true
			}
			i += 11
		case 0xdc00 <= r && r <= 0xdfff:
			return true
		default:
			i += 5
		}
	}
	return false
}
