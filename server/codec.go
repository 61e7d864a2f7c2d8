package server

import (
	"google.golang.org/grpc/encoding"
	_ "google.golang.org/grpc/encoding/proto" // registers the default "proto" codec
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	keyserverv1 "github.com/keyserver/keyserver/gen/keyserver/v1"
)

// responseCodec is this server's gRPC codec: grpc's default protobuf codec,
// except that a GetKeyAndSignalizationResponse is written as its few
// top-level fields followed by references to the cached encodings of its
// signaling entries (sigCache.wireOf). On the hit path the ~4 KB of
// pssh boxes, XML and URIs are then never marshalled again. The bytes are
// those proto.Marshal produces (fields in number order; codec_test.go
// checks the equality), so clients see no difference.
type responseCodec struct {
	base encoding.CodecV2
	sigs *sigCache
}

func newResponseCodec(sigs *sigCache) responseCodec {
	return responseCodec{base: encoding.GetCodecV2("proto"), sigs: sigs}
}

func (c responseCodec) Name() string { return "proto" }

func (c responseCodec) Unmarshal(data mem.BufferSlice, v any) error {
	return c.base.Unmarshal(data, v)
}

func (c responseCodec) Marshal(v any) (mem.BufferSlice, error) {
	r, ok := v.(*keyserverv1.GetKeyAndSignalizationResponse)
	if !ok || len(r.ProtoReflect().GetUnknown()) != 0 {
		return c.base.Marshal(v)
	}
	b, err := c.marshalResponse(r)
	if err != nil {
		return nil, err
	}
	return b, nil
}

// marshalResponse encodes r: fields 1–3 into one buffer, then for each
// signaling entry its tag and length and its (cached) encoding.
func (c responseCodec) marshalResponse(r *keyserverv1.GetKeyAndSignalizationResponse) (mem.BufferSlice, error) {
	head := make([]byte, 0, 96+8*len(r.DrmSignalization))
	if r.Status != 0 {
		head = protowire.AppendTag(head, 1, protowire.VarintType)
		head = protowire.AppendVarint(head, uint64(r.Status))
	}
	if r.ErrorMessage != "" {
		head = protowire.AppendTag(head, 2, protowire.BytesType)
		head = protowire.AppendString(head, r.ErrorMessage)
	}
	if r.ContentKey != nil {
		ck, err := proto.Marshal(r.ContentKey)
		if err != nil {
			return nil, err
		}
		head = protowire.AppendTag(head, 3, protowire.BytesType)
		head = protowire.AppendBytes(head, ck)
	}
	out := make(mem.BufferSlice, 0, 1+2*len(r.DrmSignalization))
	// Entry prefixes (tag + length) live after the head in the same
	// array; sub-slices of it become their own buffers.
	start := len(head)
	bounds := make([]int, 0, len(r.DrmSignalization)+1)
	bounds = append(bounds, start)
	bodies := make([][]byte, 0, len(r.DrmSignalization))
	for _, e := range r.DrmSignalization {
		w := c.sigs.wireOf(e)
		if w == nil {
			var err error
			if w, err = proto.Marshal(e); err != nil {
				return nil, err
			}
		}
		head = protowire.AppendTag(head, 4, protowire.BytesType)
		head = protowire.AppendVarint(head, uint64(len(w)))
		bounds = append(bounds, len(head))
		bodies = append(bodies, w)
	}
	out = append(out, mem.SliceBuffer(head[:start]))
	for i, w := range bodies {
		out = append(out, mem.SliceBuffer(head[bounds[i]:bounds[i+1]]))
		if len(w) > 0 {
			out = append(out, mem.SliceBuffer(w))
		}
	}
	return out, nil
}
