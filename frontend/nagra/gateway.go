package nagra

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/keyserver/keyserver/access"
	keyserverv1 "github.com/keyserver/keyserver/gen/keyserver/v1"
)

// Headers forwarded between REST and gRPC. Both names are also the gRPC
// metadata keys.
const (
	headerCorrelationID = "x-correlation-id"
	headerAuthorization = "nv-authorizations"
)

// newGatewayMux returns the REST mux. JSON options are set deliberately:
// camelCase names (the API's), unpopulated fields omitted (Nagra's
// responses omit absent fields), unknown request fields ignored (packagers
// send dialect extras), and enum values as names.
func newGatewayMux(m *requestMarshaler) *runtime.ServeMux {
	return runtime.NewServeMux(
		runtime.WithMarshalerOption(runtime.MIMEWildcard, m),
		// A Content-Length instead of chunked encoding: the ~5 KB answer
		// leaves in one write, and clients know its size up front.
		runtime.WithWriteContentLength(),
		runtime.WithErrorHandler(writeError),
		runtime.WithIncomingHeaderMatcher(func(h string) (string, bool) {
			// EqualFold: called for every header of every request, and
			// strings.ToLower allocates for canonical (capitalised) names.
			for _, name := range [...]string{headerCorrelationID, headerAuthorization} {
				if strings.EqualFold(h, name) {
					return name, true
				}
			}
			return "", false
		}),
		// The HTTP middleware already set X-Correlation-Id; forward no
		// other gRPC metadata as headers.
		runtime.WithOutgoingHeaderMatcher(func(string) (string, bool) { return "", false }),
	)
}

// requestMarshaler is runtime.JSONPb with a decoder that turns malformed
// requests into the API's statuses, naming the field.
type requestMarshaler struct {
	runtime.JSONPb
	sigs *setIndex // the service's, for the cached entries' JSON
}

func newRequestMarshaler(sigs *setIndex) *requestMarshaler {
	return &requestMarshaler{sigs: sigs, JSONPb: runtime.JSONPb{
		MarshalOptions:   protojson.MarshalOptions{UseProtoNames: false, EmitUnpopulated: false},
		UnmarshalOptions: protojson.UnmarshalOptions{},
	}}
}

// Marshal writes the key answer with keyResponseJSON (responsejson.go),
// anything else with protojson.
func (m *requestMarshaler) Marshal(v any) ([]byte, error) {
	if r, ok := v.(*keyserverv1.GetKeyAndSignalizationResponse); ok {
		if b, err := keyResponseJSON(r, m.sigs); err == nil {
			return b, nil
		}
		// Invalid UTF-8: let protojson report it as it always did.
	}
	return m.JSONPb.Marshal(v)
}

func (m *requestMarshaler) NewDecoder(r io.Reader) runtime.Decoder {
	return runtime.DecoderFunc(func(v any) error { return m.decode(r, v) })
}

// decode reads r to its end and decodes it into v, a proto message. An
// empty (or all-space) body is io.EOF.
func (m *requestMarshaler) decode(r io.Reader, v any) error {
	buf := bodyBuffers.Get().(*bytes.Buffer)
	defer putBodyBuffer(buf)
	buf.Reset()
	_, err := buf.ReadFrom(r)
	body := buf.Bytes() // nothing keeps it: decoding copies what it keeps
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return &bodyError{reason: keyserverv1.Status_INVALID_REQUEST, httpCode: http.StatusRequestEntityTooLarge, msg: bodyTooLarge + strconv.FormatInt(mbe.Limit, 10) + " bytes"}
		}
		return &bodyError{reason: keyserverv1.Status_INVALID_REQUEST, msg: "reading request body failed"}
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return io.EOF
	}
	msg, ok := v.(proto.Message)
	if !ok {
		return errors.New("server: decoder needs a proto message")
	}
	return unmarshalRequest(body, msg, m.UnmarshalOptions)
}

// bodyBuffers holds request body buffers for reuse: a key request's body
// is small, and reading it with io.ReadAll cost an allocation or more per
// request.
var bodyBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// putBodyBuffer returns buf to bodyBuffers unless a large body grew it.
func putBodyBuffer(buf *bytes.Buffer) {
	if buf.Cap() <= 64<<10 {
		bodyBuffers.Put(buf)
	}
}

// bodyError is a decoding failure: the API status, the field, the
// message and, if not 400, the HTTP status. keyRoute hands it to
// writeError as it is. The generated gateway handler (the reference,
// used for Grpc-Timeout and TE requests) turns it into InvalidArgument
// with its text, so the text starts with the API status, and writeError
// splits it off again there.
type bodyError struct {
	reason   keyserverv1.Status
	field    string
	msg      string
	httpCode int // 0: 400
}

// bodyTooLarge starts the message of a body over the limit.
const bodyTooLarge = "request body exceeds "

func (e *bodyError) Error() string {
	s := e.reason.String() + ": "
	if e.field != "" {
		s += e.field + ": "
	}
	return s + e.msg
}

// unmarshalRequest decodes a JSON request. The fast paths are
// decodeKeyRequest (requestjson.go) and then strict protojson; a body both
// refuse goes through the lenient path, which ignores unknown fields,
// accepts Nagra dialects (mode names in any case, an empty streamingMode,
// emi as a 0x-hex string, drmList as objects) and otherwise reports what
// is wrong with which field. (The protojson path must not discard
// unknown fields: protojson's DiscardUnknown also silently drops unknown
// enum names, turning "streamingMode": "SMOOTH" into "unset".)
func unmarshalRequest(body []byte, m proto.Message, opts protojson.UnmarshalOptions) error {
	if r, ok := m.(*keyserverv1.GetKeyAndSignalizationRequest); ok && decodeKeyRequest(body, r) {
		return nil // requestjson.go: what protojson would make of body
	}
	err := opts.Unmarshal(body, m)
	if err == nil {
		return nil
	}
	if berr := checkJSON(body); berr != nil {
		return berr
	}
	var doc map[string]any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if derr := dec.Decode(&doc); derr != nil || doc == nil {
		return &bodyError{reason: keyserverv1.Status_INVALID_REQUEST, msg: "request body is not a JSON object"}
	}
	if dec.More() {
		return &bodyError{reason: keyserverv1.Status_INVALID_REQUEST, msg: "request body has data after the JSON object"}
	}
	if berr := normalize(doc); berr != nil {
		return berr
	}
	fixed, merr := json.Marshal(doc)
	if merr != nil {
		return &bodyError{reason: keyserverv1.Status_INVALID_REQUEST, msg: "request body is not valid JSON"}
	}
	proto.Reset(m)
	lenient := opts
	lenient.DiscardUnknown = true // enum names were checked by normalize
	if err := lenient.Unmarshal(fixed, m); err != nil {
		return &bodyError{reason: keyserverv1.Status_INVALID_REQUEST, field: fieldOfProtoJSONError(fixed, err), msg: cleanProtoJSONError(err)}
	}
	return nil
}

// cleanProtoJSONError keeps protojson's description (it names the field)
// without its "proto: (line 1:23): " position prefix.
func cleanProtoJSONError(err error) string {
	s := err.Error()
	s = strings.TrimPrefix(s, "proto:")
	s = strings.TrimSpace(strings.ReplaceAll(s, "\u00a0", " "))
	if strings.HasPrefix(s, "(line") {
		if i := strings.Index(s, "): "); i >= 0 {
			s = s[i+3:]
		}
	}
	return s
}

// fieldOfProtoJSONError names the field at the position a protojson error
// gives ("(line 1:23)"), for the messages that do not name it.
func fieldOfProtoJSONError(body []byte, err error) string {
	s := err.Error()
	i := strings.Index(s, "(line 1:")
	if i < 0 {
		return ""
	}
	j := strings.IndexByte(s[i:], ')')
	if j < 0 {
		return ""
	}
	col, cerr := strconv.Atoi(s[i+len("(line 1:") : i+j])
	if cerr != nil || col < 1 {
		return ""
	}
	return pathAt(body, int64(col-1))
}

// member returns obj's member under its JSON name or its proto name
// (protojson accepts both), renaming it to the JSON name.
func member(obj map[string]any, jsonName, protoName string) (any, bool) {
	if v, ok := obj[protoName]; ok && protoName != jsonName {
		delete(obj, protoName)
		obj[jsonName] = v
	}
	v, ok := obj[jsonName]
	return v, ok
}

func normalize(doc map[string]any) *bodyError {
	c, _ := member(doc, "drmContent", "drm_content")
	if content, ok := c.(map[string]any); ok {
		if profile, ok := content["profile"].(map[string]any); ok {
			member(profile, "distributionMode", "distribution_mode")
			member(profile, "streamingMode", "streaming_mode")
			if e := normalizeEnum(profile, "distributionMode", keyserverv1.Status_UNDEFINED_DISTRIBUTION_MODE, "VOD", "LIVE"); e != nil {
				return e
			}
			if e := normalizeEnum(profile, "streamingMode", keyserverv1.Status_UNDEFINED_STREAMING_MODE, "HLS", "DASH"); e != nil {
				return e
			}
			if e := normalizeEMI(profile); e != nil {
				return e
			}
		}
	}
	if list, ok := member(doc, "drmList", "drm_list"); ok {
		ids, e := normalizeDRMList(list)
		if e != nil {
			return e
		}
		doc["drmList"] = ids
	}
	return nil
}

func normalizeEnum(profile map[string]any, name string, reason keyserverv1.Status, values ...string) *bodyError {
	v, ok := profile[name]
	if !ok || v == nil {
		return nil
	}
	field := "drmContent.profile." + name
	s, ok := v.(string)
	if !ok {
		if _, isNum := v.(json.Number); isNum {
			return nil // protojson takes enum numbers; the service validates the range
		}
		return &bodyError{reason: reason, field: field, msg: "must be one of " + strings.Join(values, ", ")}
	}
	if s == "" && name == "streamingMode" {
		delete(profile, name)
		return nil
	}
	for _, want := range values {
		if strings.EqualFold(s, want) {
			profile[name] = want
			return nil
		}
	}
	return &bodyError{reason: reason, field: field, msg: "unknown value " + strconv.Quote(access.Clip(s)) + ": want one of " + strings.Join(values, ", ")}
}

func normalizeEMI(profile map[string]any) *bodyError {
	v, ok := profile["emi"]
	if !ok || v == nil {
		return nil
	}
	const field = "drmContent.profile.emi"
	bad := &bodyError{reason: keyserverv1.Status_UNDEFINED_ENCRYPTION_METHOD, field: field, msg: "must be an integer EMI such as 16426 or \"0x402A\""}
	switch e := v.(type) {
	case json.Number:
		if _, err := strconv.ParseUint(e.String(), 10, 32); err != nil {
			return bad
		}
	case string:
		s := strings.TrimSpace(e)
		if s == "" {
			delete(profile, "emi")
			return nil
		}
		n, ok := parseEMI(s)
		if !ok {
			return bad
		}
		profile["emi"] = n
	default:
		return bad
	}
	return nil
}

// parseEMI reads an EMI written as a string: decimal digits, or 0x (or
// 0X) and hexadecimal digits, up to 32 bits. Nothing else: no sign, no
// octal or binary prefix, no digit separators (strconv's base 0 would take
// "0o40052", "0b…" and "0x40_2A").
func parseEMI(s string) (uint64, bool) {
	base, digits := 10, s
	if len(s) > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') {
		base, digits = 16, s[2:]
	}
	// With an explicit base, ParseUint takes neither a sign nor "_".
	n, err := strconv.ParseUint(digits, base, 32)
	return n, err == nil
}

// normalizeDRMList accepts ["WV"], [{"drmSystemId": "…"}], {"drm": […]}
// and {"drm": {…}} (nagra-ckm-notes.md §2.2) and returns a list of ids.
func normalizeDRMList(v any) ([]any, *bodyError) {
	if obj, ok := v.(map[string]any); ok {
		inner, ok := obj["drm"]
		if !ok {
			return nil, &bodyError{reason: keyserverv1.Status_INVALID_REQUEST, field: "drmList", msg: "must be a list of DRM system ids or names"}
		}
		if one, ok := inner.(map[string]any); ok {
			inner = []any{one}
		}
		v = inner
	}
	list, ok := v.([]any)
	if !ok {
		if v == nil {
			return nil, nil
		}
		return nil, &bodyError{reason: keyserverv1.Status_INVALID_REQUEST, field: "drmList", msg: "must be a list of DRM system ids or names"}
	}
	out := make([]any, 0, len(list))
	for i, e := range list {
		switch x := e.(type) {
		case string:
			out = append(out, x)
		case map[string]any:
			id, ok := x["drmSystemId"].(string)
			if !ok {
				id, ok = x["drmName"].(string)
			}
			if !ok {
				return nil, &bodyError{reason: keyserverv1.Status_INVALID_REQUEST, field: "drmList[" + strconv.Itoa(i) + "]", msg: "needs a drmSystemId"}
			}
			out = append(out, id)
		default:
			return nil, &bodyError{reason: keyserverv1.Status_INVALID_REQUEST, field: "drmList[" + strconv.Itoa(i) + "]", msg: "must be a DRM system id or name"}
		}
	}
	return out, nil
}

// errorBody is the REST error shape of api.md.
type errorBody struct {
	Status       string `json:"status"`
	ErrorMessage string `json:"errorMessage"`
}

// writeError renders any gateway error as {"status", "errorMessage"} with
// the HTTP code of its gRPC code.
func writeError(ctx context.Context, _ *runtime.ServeMux, _ runtime.Marshaler, w http.ResponseWriter, _ *http.Request, err error) {
	code := 0
	var hse *runtime.HTTPStatusError
	if errors.As(err, &hse) {
		code, err = hse.HTTPStatus, hse.Err
	}
	var be *bodyError
	if errors.As(err, &be) {
		code = be.httpCode
		if code == 0 {
			code = http.StatusBadRequest
		}
		msg := be.msg
		if be.field != "" {
			msg = be.field + ": " + msg
		}
		writeJSONError(ctx, w, code, be.reason, msg)
		return
	}
	st := status.Convert(err)
	reason, msg := reasonOf(st), st.Message()
	if !hasErrorInfo(st) {
		if st.Code() == codes.InvalidArgument {
			// A decoding failure (bodyError) or a path parameter problem.
			if name, rest, ok := strings.Cut(msg, ": "); ok {
				if v, known := keyserverv1.Status_value[name]; known {
					reason, msg = keyserverv1.Status(v), rest
				}
			}
		}
		if st.Code() == codes.Unimplemented || st.Code() == codes.NotFound {
			msg = "no such route"
		}
	}
	if code == 0 && reason == keyserverv1.Status_INVALID_REQUEST && strings.HasPrefix(msg, bodyTooLarge) {
		code = http.StatusRequestEntityTooLarge // limits.go
	}
	if code == 0 {
		code = runtime.HTTPStatusFromCode(st.Code())
	}
	writeJSONError(ctx, w, code, reason, msg)
}

// writeJSONError writes the API's error body and notes the outcome for
// the access log.
func writeJSONError(ctx context.Context, w http.ResponseWriter, code int, reason keyserverv1.Status, msg string) {
	note := access.FromContext(ctx)
	note.Status, note.HTTPCode = reason.String(), code
	b, _ := json.Marshal(errorBody{Status: reason.String(), ErrorMessage: msg})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(b)
}

func hasErrorInfo(st *status.Status) bool {
	for _, d := range st.Details() {
		if _, ok := d.(*errdetails.ErrorInfo); ok {
			return true
		}
	}
	return false
}
