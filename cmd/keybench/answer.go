package main

import (
	"errors"
	"fmt"

	"google.golang.org/grpc/encoding"
	_ "google.golang.org/grpc/encoding/proto" // registers the "proto" codec
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"

	keyserverv1 "github.com/keyserver/keyserver/gen/keyserver/v1"
)

// rawAnswer is a GetKeyAndSignalization answer left in its wire encoding.
type rawAnswer struct{ b []byte }

// answerCodec marshals requests as gRPC's protobuf codec does and keeps
// answers encoded, in the client's reused buffer.
type answerCodec struct{}

// protoCodec is gRPC's protobuf codec, looked up once.
var protoCodec = encoding.GetCodecV2("proto")

func (answerCodec) Name() string { return "proto" }

func (answerCodec) Marshal(v any) (mem.BufferSlice, error) {
	return protoCodec.Marshal(v)
}

func (answerCodec) Unmarshal(data mem.BufferSlice, v any) error {
	a, ok := v.(*rawAnswer)
	if !ok {
		return fmt.Errorf("keybench: answerCodec cannot decode into %T", v)
	}
	a.b = a.b[:0]
	for _, buf := range data {
		a.b = append(a.b, buf.ReadOnlyData()...)
	}
	return nil
}

// Field numbers of GetKeyAndSignalizationResponse and ContentKey.
const (
	fieldStatus           = 1
	fieldContentKey       = 3
	fieldDrmSignalization = 4
	fieldKeyID            = 1
)

// checkAnswer walks an encoded answer and returns its content key id. It
// requires what a packager needs: status OK, a key id, and at least one
// drmSignalization entry, each a non-empty message; the wire format must
// be well-formed throughout.
func checkAnswer(b []byte) (keyID []byte, err error) {
	var status uint64
	entries := 0
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, protowire.ParseError(n)
		}
		b = b[n:]
		switch {
		case num == fieldStatus && typ == protowire.VarintType:
			status, n = protowire.ConsumeVarint(b)
		case num == fieldContentKey && typ == protowire.BytesType:
			var ck []byte
			ck, n = protowire.ConsumeBytes(b)
			if n >= 0 {
				if keyID, err = keyIDOf(ck); err != nil {
					return nil, err
				}
			}
		case num == fieldDrmSignalization && typ == protowire.BytesType:
			var e []byte
			e, n = protowire.ConsumeBytes(b)
			if n >= 0 && len(e) == 0 {
				return nil, fmt.Errorf("unexpected answer: drmSignalization[%d] is empty", entries)
			}
			entries++
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return nil, protowire.ParseError(n)
		}
		b = b[n:]
	}
	switch {
	case status != uint64(keyserverv1.Status_OK):
		return nil, fmt.Errorf("unexpected answer: status %v", keyserverv1.Status(status))
	case len(keyID) == 0:
		return nil, errors.New("unexpected answer: no contentKey.keyId")
	case entries == 0:
		return nil, errors.New("unexpected answer: no drmSignalization")
	}
	return keyID, nil
}

// keyIDOf returns field 1 of an encoded ContentKey.
func keyIDOf(b []byte) ([]byte, error) {
	var id []byte
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, protowire.ParseError(n)
		}
		b = b[n:]
		if num == fieldKeyID && typ == protowire.BytesType {
			id, n = protowire.ConsumeBytes(b)
		} else {
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return nil, protowire.ParseError(n)
		}
		b = b[n:]
	}
	return id, nil
}
