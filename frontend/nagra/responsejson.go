package nagra

import (
	"errors"
	"math/bits"
	"strconv"
	"unicode/utf8"

	keyserverv1 "github.com/keyserver/keyserver/gen/keyserver/v1"
)

// The REST answer to GetKeyAndSignalization is written by hand instead of
// by protojson, which was the largest single cost of a REST hit (reflection
// over six nested messages, about 4 KB of output). The output means exactly
// what protojson writes with the gateway's options (camelCase names, enum
// names, unpopulated fields omitted) and uses protojson's string escaping,
// without its randomized whitespace; responsejson_test.go checks both
// against protojson.

// errInvalidUTF8 mirrors protojson's refusal of a string that is not UTF-8.
var errInvalidUTF8 = errors.New("server: response string is not valid UTF-8")

// marshalKeyResponse appends the JSON of r to b. Entries that are a
// cached set (sigcache.go) are copied from the set's JSON, written once.
func marshalKeyResponse(b []byte, r *keyserverv1.GetKeyAndSignalizationResponse, sigs *setIndex) ([]byte, error) {
	b, _, _, err := appendKeyResponse(b, r, sigs)
	return b, err
}

// appendKeyResponse is marshalKeyResponse that also returns where the
// members of the drmSignalization array are in the result (start == end
// if there are none).
func appendKeyResponse(b []byte, r *keyserverv1.GetKeyAndSignalizationResponse, sigs *setIndex) (_ []byte, start, end int, _ error) {
	w := jsonWriter{b: b}
	w.open('{')
	if r.GetStatus() != keyserverv1.Status_STATUS_UNSPECIFIED {
		w.name("status")
		if name, ok := keyserverv1.Status_name[int32(r.GetStatus())]; ok {
			w.str(name)
		} else {
			w.b = strconv.AppendInt(w.b, int64(r.GetStatus()), 10)
		}
	}
	w.field("errorMessage", r.GetErrorMessage())
	if ck := r.GetContentKey(); ck != nil {
		w.name("contentKey")
		w.open('{')
		w.field("keyId", ck.GetKeyId())
		w.field("key", ck.GetKey())
		w.field("iv", ck.GetIv())
		w.close('}')
	}
	if list := r.GetDrmSignalization(); len(list) > 0 {
		w.name("drmSignalization")
		w.b = append(w.b, '[')
		start = len(w.b)
		if set := sigs.setOf(list); set != nil {
			frag, err := set.jsonOf()
			if err != nil {
				return nil, 0, 0, err
			}
			w.b = append(w.b, frag...)
		} else if w.b, w.err = appendEntriesJSON(w.b, list); w.err != nil {
			return nil, 0, 0, w.err
		}
		end = len(w.b)
		w.close(']')
	}
	w.close('}')
	return w.b, start, end, w.err
}

// keyResponseJSON returns the REST answer of r. When r's entries are a
// cached set (sigcache.go), the whole answer of the set's first response
// is kept, and returned again for every response with the same status and
// contentKey: a hit's answer is then neither built nor allocated. The
// bytes are shared and read only (the gateway only writes them out).
func keyResponseJSON(r *keyserverv1.GetKeyAndSignalizationResponse, sigs *setIndex) ([]byte, error) {
	set := sigs.setOf(r.GetDrmSignalization())
	if set == nil {
		return marshalKeyResponse(make([]byte, 0, 8192), r, nil)
	}
	h := headOf(r)
	a := set.answer.Load()
	if a != nil && a.head == h {
		return a.b, nil
	}
	if a == nil && set.json.Load() == nil {
		// The set's first REST answer: its entries' part becomes the
		// set's JSON, sharing the answer's memory.
		b, start, end, err := appendKeyResponse(make([]byte, 0, 256+len(set.wire)*5/4), r, nil)
		if err != nil {
			set.json.CompareAndSwap(nil, &jsonFragment{err: err})
			return nil, err
		}
		if set.json.CompareAndSwap(nil, &jsonFragment{b: b[start:end:end]}) {
			set.answer.CompareAndSwap(nil, &jsonAnswer{head: h, b: b})
		}
		return b, nil
	}
	frag, err := set.jsonOf()
	if err != nil {
		return nil, err
	}
	b, err := marshalKeyResponse(make([]byte, 0, 256+len(frag)), r, sigs)
	if err == nil {
		set.answer.CompareAndSwap(nil, &jsonAnswer{head: h, b: b})
	}
	return b, err
}

// jsonAnswer is a whole REST answer and the top-level fields it was
// written from (the entries being its set's).
type jsonAnswer struct {
	head answerHead
	b    []byte
}

// answerHead is what a REST answer holds besides the entries.
type answerHead struct {
	status       keyserverv1.Status
	errorMessage string
	hasKey       bool
	keyID        string
	key          string
	iv           string
}

func headOf(r *keyserverv1.GetKeyAndSignalizationResponse) answerHead {
	h := answerHead{status: r.GetStatus(), errorMessage: r.GetErrorMessage()}
	if ck := r.GetContentKey(); ck != nil {
		h.hasKey, h.keyID, h.key, h.iv = true, ck.GetKeyId(), ck.GetKey(), ck.GetIv()
	}
	return h
}

// appendEntriesJSON appends the members of the drmSignalization array:
// the entries' JSON objects, comma-separated.
func appendEntriesJSON(b []byte, list []*keyserverv1.DrmSignalization) ([]byte, error) {
	w := jsonWriter{b: b, first: true}
	for _, e := range list {
		w.comma()
		w.open('{')
		switch f := e.GetFormat().(type) {
		case *keyserverv1.DrmSignalization_Dash:
			w.name("dash")
			w.open('{')
			d := f.Dash
			w.field("drmSystemId", d.GetDrmSystemId())
			w.field("drmName", d.GetDrmName())
			w.field("manifestHeader", d.GetManifestHeader())
			w.field("psshBox", d.GetPsshBox())
			w.close('}')
		case *keyserverv1.DrmSignalization_Hls:
			w.name("hls")
			w.open('{')
			h := f.Hls
			w.field("drmSystemId", h.GetDrmSystemId())
			w.field("drmName", h.GetDrmName())
			w.field("keyUri", h.GetKeyUri())
			w.field("method", h.GetMethod())
			w.field("keyFormat", h.GetKeyFormat())
			w.field("keyFormatVersions", h.GetKeyFormatVersions())
			w.field("extXKey", h.GetExtXKey())
			w.close('}')
		}
		w.close('}')
	}
	return w.b, w.err
}

// jsonWriter appends JSON; first tracks whether the current object or
// array has a member yet.
type jsonWriter struct {
	b     []byte
	first bool
	err   error
}

func (w *jsonWriter) open(c byte) { w.b = append(w.b, c); w.first = true }

func (w *jsonWriter) close(c byte) { w.b = append(w.b, c); w.first = false }

func (w *jsonWriter) comma() {
	if !w.first {
		w.b = append(w.b, ',')
	}
	w.first = false
}

func (w *jsonWriter) name(n string) {
	w.comma()
	w.b = append(w.b, '"')
	w.b = append(w.b, n...)
	w.b = append(w.b, '"', ':')
}

// field writes a string member unless it is empty (unpopulated).
func (w *jsonWriter) field(n, v string) {
	if v != "" {
		w.name(n)
		w.str(v)
	}
}

// str appends s quoted exactly as protojson does: ", \ and control
// characters escaped (\b \f \n \r \t or \u00XX), everything else as is;
// invalid UTF-8 is an error.
func (w *jsonWriter) str(s string) {
	w.b = append(w.b, '"')
	for len(s) > 0 {
		i := 0
		for i < len(s) && s[i] >= ' ' && s[i] != '"' && s[i] != '\\' && s[i] < utf8.RuneSelf {
			i++
		}
		w.b, s = append(w.b, s[:i]...), s[i:]
		if len(s) == 0 {
			break
		}
		r, n := utf8.DecodeRuneInString(s)
		switch {
		case r == utf8.RuneError && n == 1:
			w.err = errInvalidUTF8
			return
		case r < ' ' || r == '"' || r == '\\':
			w.b = append(w.b, '\\')
			switch r {
			case '"', '\\':
				w.b = append(w.b, byte(r))
			case '\b':
				w.b = append(w.b, 'b')
			case '\f':
				w.b = append(w.b, 'f')
			case '\n':
				w.b = append(w.b, 'n')
			case '\r':
				w.b = append(w.b, 'r')
			case '\t':
				w.b = append(w.b, 't')
			default:
				w.b = append(w.b, 'u')
				w.b = append(w.b, "0000"[1+(bits.Len32(uint32(r))-1)/4:]...)
				w.b = strconv.AppendUint(w.b, uint64(r), 16)
			}
		default:
			w.b = append(w.b, s[:n]...)
		}
		s = s[n:]
	}
	w.b = append(w.b, '"')
}
