package nagra

import (
	"unicode/utf8"

	"google.golang.org/grpc/encoding"
	_ "google.golang.org/grpc/encoding/proto" // registers the default "proto" codec
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	keyserverv1 "github.com/keyserver/keyserver/gen/keyserver/v1"
)

// sigCodec is grpc's default protobuf codec with a shortcut for a
// GetKeyAndSignalizationResponse whose entries are a cached set
// (sigcache.go): Marshal writes the few top-level fields followed by the
// set's stored encoding, so on the hit path the ~4 KB of pssh boxes, XML
// and URIs are never marshalled again. The bytes are those proto.Marshal
// produces (fields in number order); codec_test.go checks them against
// it. Everything else, and all decoding, is the default codec's.
type sigCodec struct {
	base encoding.CodecV2
	sigs *setIndex
}

func newSigCodec(sigs *setIndex) sigCodec {
	return sigCodec{base: encoding.GetCodecV2("proto"), sigs: sigs}
}

func (c sigCodec) Name() string { return "proto" }

func (c sigCodec) Marshal(v any) (mem.BufferSlice, error) {
	r, ok := v.(*keyserverv1.GetKeyAndSignalizationResponse)
	if !ok || len(r.ProtoReflect().GetUnknown()) != 0 {
		return c.base.Marshal(v)
	}
	set := c.sigs.setOf(r.DrmSignalization)
	if set == nil || set.wire == nil {
		return c.base.Marshal(v)
	}
	head, ok := appendResponseHead(make([]byte, 0, 128), r)
	if !ok {
		return c.base.Marshal(v)
	}
	// set.wire is shared and read only; a SliceBuffer is never recycled.
	return mem.BufferSlice{mem.SliceBuffer(head), mem.SliceBuffer(set.wire)}, nil
}

// appendResponseHead appends fields 1–3 of r as proto.Marshal writes
// them. It reports false for a string that is not UTF-8, which
// proto.Marshal refuses: the caller lets it report the error.
func appendResponseHead(b []byte, r *keyserverv1.GetKeyAndSignalizationResponse) ([]byte, bool) {
	if r.Status != 0 {
		b = protowire.AppendTag(b, 1, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(r.Status))
	}
	if !utf8.ValidString(r.ErrorMessage) {
		return nil, false
	}
	b = appendString(b, 2, r.ErrorMessage)
	if ck := r.ContentKey; ck != nil {
		if len(ck.ProtoReflect().GetUnknown()) != 0 || !utf8.ValidString(ck.KeyId) || !utf8.ValidString(ck.Key) || !utf8.ValidString(ck.Iv) {
			return nil, false
		}
		size := stringSize(1, ck.KeyId) + stringSize(2, ck.Key) + stringSize(3, ck.Iv)
		b = protowire.AppendTag(b, 3, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(size))
		b = appendString(b, 1, ck.KeyId)
		b = appendString(b, 2, ck.Key)
		b = appendString(b, 3, ck.Iv)
	}
	return b, true
}

// appendString appends string field num unless s is empty (proto3).
func appendString(b []byte, num protowire.Number, s string) []byte {
	if s == "" {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}

func stringSize(num protowire.Number, s string) int {
	if s == "" {
		return 0
	}
	return protowire.SizeTag(num) + protowire.SizeBytes(len(s))
}

// Unmarshal is the default codec's, except that a key request that does
// not decode (a truncated message, invalid UTF-8 in a string) is not an
// error here: grpc-go would answer it Internal, before any interceptor,
// with no log line. The request is left empty but for a marker (an
// unknown field, see malformedOf), and the service answers it
// INVALID_REQUEST with its ErrorInfo, logged like any other request.
func (c sigCodec) Unmarshal(data mem.BufferSlice, v any) error {
	err := c.base.Unmarshal(data, v)
	if r, ok := v.(*keyserverv1.GetKeyAndSignalizationRequest); ok && err != nil {
		proto.Reset(r)
		var b []byte
		b = protowire.AppendTag(b, malformedField, protowire.BytesType)
		b = protowire.AppendString(b, err.Error())
		r.ProtoReflect().SetUnknown(b)
		return nil
	}
	return err
}

// malformedField is the field number of the marker Unmarshal leaves in a
// request that did not decode: the largest field number, which the API
// will never use.
const malformedField = protowire.MaxValidNumber

// malformedOf returns why the request did not decode, or "" if it did.
func malformedOf(r *keyserverv1.GetKeyAndSignalizationRequest) string {
	b := r.ProtoReflect().GetUnknown()
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return ""
		}
		b = b[n:]
		if num == malformedField && typ == protowire.BytesType {
			v, m := protowire.ConsumeString(b)
			if m < 0 {
				return ""
			}
			return v
		}
		m := protowire.ConsumeFieldValue(num, typ, b)
		if m < 0 {
			return ""
		}
		b = b[m:]
	}
	return ""
}
