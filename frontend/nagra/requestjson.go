package nagra

import (
	"unicode/utf8"

	"google.golang.org/protobuf/proto"

	keyserverv1 "github.com/keyserver/keyserver/gen/keyserver/v1"
)

// decodeKeyRequest decodes the JSON of a key request the way packagers
// send it, without protojson's reflection (a measurable part of a REST
// hit's server CPU: BENCHMARKS.md). It takes a strict subset of what
// protojson takes: the members by their JSON (camelCase) names, each at
// most once; strings without escapes; enum values by name; the emi as a
// plain decimal number. For anything else (escapes, proto names, null, numbers as
// strings, unknown members, malformed JSON) it returns false, having left
// m empty, and the caller decodes the body with protojson and its lenient
// path as before. When it returns true, m is what protojson.Unmarshal
// makes of body: FuzzDecodeKeyRequest checks that on any input.
func decodeKeyRequest(body []byte, m *keyserverv1.GetKeyAndSignalizationRequest) bool {
	d := jsonReader{b: body}
	if d.request(m) && d.end() {
		return true
	}
	proto.Reset(m)
	return false
}

// jsonReader reads JSON from b at i. Its methods return false on anything
// outside the subset decodeKeyRequest takes.
type jsonReader struct {
	b []byte
	i int
}

func (d *jsonReader) space() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// end reports whether only white space is left.
func (d *jsonReader) end() bool {
	d.space()
	return d.i == len(d.b)
}

// next consumes c, after white space.
func (d *jsonReader) next(c byte) bool {
	d.space()
	if d.i < len(d.b) && d.b[d.i] == c {
		d.i++
		return true
	}
	return false
}

// str reads a string without escapes or control characters, valid UTF-8.
// The result shares b's memory (callers copy what they keep).
func (d *jsonReader) str() ([]byte, bool) {
	if !d.next('"') {
		return nil, false
	}
	start := d.i
	ascii := true
	for ; d.i < len(d.b); d.i++ {
		switch c := d.b[d.i]; {
		case c == '"':
			s := d.b[start:d.i]
			d.i++
			return s, ascii || utf8.Valid(s)
		case c == '\\' || c < 0x20:
			return nil, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return nil, false
}

// uint32 reads a JSON number that is a decimal uint32: no sign, fraction,
// exponent or leading zero.
func (d *jsonReader) uint32() (uint32, bool) {
	d.space()
	start := d.i
	var v uint64
	for d.i < len(d.b) && d.b[d.i] >= '0' && d.b[d.i] <= '9' {
		v = v*10 + uint64(d.b[d.i]-'0')
		if v > 1<<32-1 {
			return 0, false
		}
		d.i++
	}
	n := d.i - start
	if n == 0 || n > 1 && d.b[start] == '0' {
		return 0, false
	}
	if d.i < len(d.b) {
		switch d.b[d.i] {
		case '.', 'e', 'E':
			return 0, false
		}
	}
	return uint32(v), true
}

// object reads a JSON object, calling member for each member with the
// reader at its value. A name must be one of names; each may come once.
func (d *jsonReader) object(names []string, member func(i int) bool) bool {
	if !d.next('{') {
		return false
	}
	if d.next('}') {
		return true
	}
	var seen uint32
	for {
		name, ok := d.str()
		if !ok || !d.next(':') {
			return false
		}
		i := indexOf(names, name)
		if i < 0 || seen&(1<<i) != 0 {
			return false // unknown or repeated: protojson decides
		}
		seen |= 1 << i
		if !member(i) {
			return false
		}
		if d.next('}') {
			return true
		}
		if !d.next(',') {
			return false
		}
	}
}

func indexOf(names []string, name []byte) int {
	for i, n := range names {
		if n == string(name) {
			return i
		}
	}
	return -1
}

// enum reads an enum value by name: values maps names to numbers.
func (d *jsonReader) enum(values map[string]int32) (int32, bool) {
	s, ok := d.str()
	if !ok {
		return 0, false
	}
	v, ok := values[string(s)]
	return v, ok
}

var (
	requestNames      = []string{"tenantId", "drmContent", "scheduledKey", "drmList"}
	drmContentNames   = []string{"drmContentId", "profile"}
	profileNames      = []string{"distributionMode", "streamingMode", "emi"}
	scheduledKeyNames = []string{"time", "contentKey"}
	contentKeyNames   = []string{"keyId", "key", "iv"}
)

func (d *jsonReader) request(m *keyserverv1.GetKeyAndSignalizationRequest) bool {
	return d.object(requestNames, func(i int) bool {
		switch i {
		case 0:
			s, ok := d.str()
			m.TenantId = string(s)
			return ok
		case 1:
			m.DrmContent = new(keyserverv1.DrmContent)
			return d.drmContent(m.DrmContent)
		case 2:
			m.ScheduledKey = new(keyserverv1.ScheduledKey)
			return d.scheduledKey(m.ScheduledKey)
		default:
			return d.stringList(&m.DrmList)
		}
	})
}

func (d *jsonReader) drmContent(c *keyserverv1.DrmContent) bool {
	return d.object(drmContentNames, func(i int) bool {
		if i == 0 {
			s, ok := d.str()
			c.DrmContentId = string(s)
			return ok
		}
		c.Profile = new(keyserverv1.Profile)
		return d.profile(c.Profile)
	})
}

func (d *jsonReader) profile(p *keyserverv1.Profile) bool {
	return d.object(profileNames, func(i int) bool {
		switch i {
		case 0:
			v, ok := d.enum(keyserverv1.DistributionMode_value)
			p.DistributionMode = keyserverv1.DistributionMode(v)
			return ok
		case 1:
			v, ok := d.enum(keyserverv1.StreamingMode_value)
			p.StreamingMode = keyserverv1.StreamingMode(v)
			return ok
		default:
			v, ok := d.uint32()
			p.Emi = &v
			return ok
		}
	})
}

func (d *jsonReader) scheduledKey(k *keyserverv1.ScheduledKey) bool {
	return d.object(scheduledKeyNames, func(i int) bool {
		if i == 0 {
			s, ok := d.str()
			k.Time = string(s)
			return ok
		}
		k.ContentKey = new(keyserverv1.ContentKey)
		return d.object(contentKeyNames, func(i int) bool {
			s, ok := d.str()
			switch i {
			case 0:
				k.ContentKey.KeyId = string(s)
			case 1:
				k.ContentKey.Key = string(s)
			default:
				k.ContentKey.Iv = string(s)
			}
			return ok
		})
	})
}

// stringList reads an array of strings into *list.
func (d *jsonReader) stringList(list *[]string) bool {
	if !d.next('[') {
		return false
	}
	if d.next(']') {
		return true
	}
	for {
		s, ok := d.str()
		if !ok {
			return false
		}
		*list = append(*list, string(s))
		if d.next(']') {
			return true
		}
		if !d.next(',') {
			return false
		}
	}
}
