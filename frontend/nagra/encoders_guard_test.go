package nagra

import (
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/google/go-cmp/cmp"

	keyserverv1 "github.com/keyserver/keyserver/gen/keyserver/v1"
)

// The hand-written encoders and decoders (codec.go, responsejson.go,
// requestjson.go) name fields by number and by JSON name. These tests walk
// the messages' descriptors and set every field, in every oneof choice, so
// that a field added to the proto and not handled by a fast path fails
// here instead of being dropped silently from answers.

// fill sets every field of m (recursively) to a non-default value; of each
// oneof it sets the choice-th field (modulo the oneof's size).
func fill(m protoreflect.Message, choice int) {
	fields := m.Descriptor().Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		if od := fd.ContainingOneof(); od != nil && od.Fields().Get(choice%od.Fields().Len()) != fd {
			continue
		}
		switch {
		case fd.IsList():
			l := m.Mutable(fd).List()
			for range 2 {
				if fd.Kind() == protoreflect.MessageKind {
					e := l.NewElement()
					fill(e.Message(), choice)
					l.Append(e)
				} else {
					l.Append(scalar(fd))
				}
			}
		case fd.IsMap():
			panic("fill: maps are not used by this API; teach fill and the encoders about them")
		case fd.Kind() == protoreflect.MessageKind:
			fill(m.Mutable(fd).Message(), choice)
		default:
			m.Set(fd, scalar(fd))
		}
	}
}

// scalar is a non-default value for fd, with characters JSON escapes.
func scalar(fd protoreflect.FieldDescriptor) protoreflect.Value {
	switch fd.Kind() {
	case protoreflect.StringKind:
		return protoreflect.ValueOfString(string(fd.Name()) + ` <&> "ü"`)
	case protoreflect.EnumKind:
		vals := fd.Enum().Values()
		return protoreflect.ValueOfEnum(vals.Get(vals.Len() - 1).Number())
	case protoreflect.BoolKind:
		return protoreflect.ValueOfBool(true)
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return protoreflect.ValueOfInt32(7)
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return protoreflect.ValueOfInt64(7)
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return protoreflect.ValueOfUint32(16426)
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return protoreflect.ValueOfUint64(7)
	case protoreflect.BytesKind:
		return protoreflect.ValueOfBytes([]byte("b"))
	}
	panic("fill: field kind " + fd.Kind().String() + " is not used by this API; teach fill and the encoders about it")
}

// oneofChoices is the largest oneof size in the response's messages, so
// that every choice of every oneof is filled once.
const oneofChoices = 2

// TestEncodersGuard_Response: a response with every field set encodes,
// through the gRPC codec's shortcut and the REST JSON writer, to what
// proto.Marshal and protojson make of it.
func TestEncodersGuard_Response(t *testing.T) {
	for choice := range oneofChoices {
		resp := &keyserverv1.GetKeyAndSignalizationResponse{}
		fill(resp.ProtoReflect(), choice)
		// The fast paths serve a cached set's entries.
		var x setIndex
		set := newSigSet(resp.DrmSignalization)
		x.add(set)
		resp.DrmSignalization = set.entries

		want, err := proto.MarshalOptions{Deterministic: true}.Marshal(resp)
		if err != nil {
			t.Fatal(err)
		}
		bs, err := newSigCodec(&x).Marshal(resp)
		if err != nil {
			t.Fatal(err)
		}
		if got := bs.Materialize(); string(got) != string(want) {
			back := &keyserverv1.GetKeyAndSignalizationResponse{}
			_ = proto.Unmarshal(got, back)
			t.Errorf("choice %d: gRPC codec bytes differ from proto.Marshal (a field it does not write?):\n%s", choice, cmp.Diff(resp, back, protocmp.Transform()))
		}
		for range 2 { // the set's first REST answer, then the kept one
			js, err := keyResponseJSON(resp, &x)
			if err != nil {
				t.Fatal(err)
			}
			back := &keyserverv1.GetKeyAndSignalizationResponse{}
			if err := protojson.Unmarshal(js, back); err != nil {
				t.Fatalf("protojson cannot read %s: %v", js, err)
			}
			if d := cmp.Diff(resp, back, protocmp.Transform()); d != "" {
				t.Errorf("choice %d: REST JSON loses fields (-sent +read):\n%s", choice, d)
			}
		}
		// Uncached entries go through appendEntriesJSON directly.
		plain := proto.Clone(resp).(*keyserverv1.GetKeyAndSignalizationResponse)
		js, err := marshalKeyResponse(nil, plain, nil)
		if err != nil {
			t.Fatal(err)
		}
		back := &keyserverv1.GetKeyAndSignalizationResponse{}
		if err := protojson.Unmarshal(js, back); err != nil || !proto.Equal(plain, back) {
			t.Errorf("choice %d: uncached REST JSON loses fields: %v\n%s", choice, err, cmp.Diff(plain, back, protocmp.Transform()))
		}
	}
}

// TestEncodersGuard_Request: for a request with every field set, and for
// each field alone, the fast decoder either declines (protojson then
// decodes) or decodes exactly what protojson does: it never drops a field.
func TestEncodersGuard_Request(t *testing.T) {
	full := &keyserverv1.GetKeyAndSignalizationRequest{}
	fill(full.ProtoReflect(), 0)
	bodies := []proto.Message{full}
	fields := full.ProtoReflect().Descriptor().Fields()
	for i := 0; i < fields.Len(); i++ {
		one := &keyserverv1.GetKeyAndSignalizationRequest{}
		fd := fields.Get(i)
		one.ProtoReflect().Set(fd, full.ProtoReflect().Get(fd))
		bodies = append(bodies, one)
	}
	// The usual shapes, without escapes, which the fast path does take.
	usual := &keyserverv1.GetKeyAndSignalizationRequest{TenantId: "T", DrmList: []string{"WV", "PR"},
		DrmContent: &keyserverv1.DrmContent{DrmContentId: "c", Profile: &keyserverv1.Profile{
			DistributionMode: keyserverv1.DistributionMode_LIVE, StreamingMode: keyserverv1.StreamingMode_DASH, Emi: proto.Uint32(16426)}},
		ScheduledKey: &keyserverv1.ScheduledKey{Time: "2026-12-02T10:00:00Z", ContentKey: &keyserverv1.ContentKey{KeyId: "k", Key: "v", Iv: "i"}}}
	bodies = append(bodies, usual)
	fastTaken := 0
	for _, msg := range bodies {
		body, err := protojson.Marshal(msg)
		if err != nil {
			t.Fatal(err)
		}
		got := &keyserverv1.GetKeyAndSignalizationRequest{}
		if !decodeKeyRequest(body, got) {
			continue
		}
		fastTaken++
		want := &keyserverv1.GetKeyAndSignalizationRequest{}
		if err := protojson.Unmarshal(body, want); err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(want, got, protocmp.Transform()); d != "" {
			t.Errorf("fast decoder of %s differs from protojson (-protojson +fast):\n%s", body, d)
		}
	}
	if fastTaken == 0 {
		t.Fatal("the fast decoder took none of the bodies: the guard checked nothing")
	}
}
