package widevine

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/keyserver/keyserver/access"
	"github.com/keyserver/keyserver/drm"
	"github.com/keyserver/keyserver/issuer"
)

// Widevine protocol statuses (CommonEncryptionResponse.Status).
const (
	wvOK                      = "OK"
	wvSignatureFailed         = "SIGNATURE_FAILED"
	wvContentIDMissing        = "CONTENT_ID_MISSING"
	wvTrackTypeMissing        = "TRACK_TYPE_MISSING"
	wvTrackTypeUnknown        = "TRACK_TYPE_UNKNOWN"
	wvMalformedRequest        = "MALFORMED_REQUEST"
	wvAccessDenied            = "ACCESS_DENIED"
	wvInternalError           = "INTERNAL_ERROR"
	wvNoRequestedCryptoPeriod = "NO_REQUESTED_CRYPTO_PERIODS"
)

// Limits of the endpoint.
const (
	wvMaxPeriodsBatch = 100 // crypto_period_count (shaka asks for 10)
)

// wvTrackTypes are the track types served, in shaka's order.
var wvTrackTypes = map[string]bool{"SD": true, "HD": true, "UHD1": true, "UHD2": true, "AUDIO": true}

// wvError is a protocol status with a message for status_message.
type wvError struct {
	status string
	msg    string
}

func (e *wvError) Error() string { return e.status + ": " + e.msg }

func wvErr(status, format string, args ...any) *wvError {
	return &wvError{status: status, msg: fmt.Sprintf(format, args...)}
}

// wvRequest is the CommonEncryptionRequest as read here. Numbers are
// json.RawMessage because proto3 JSON allows both 7 and "7".
type wvRequest struct {
	ContentID              *string           `json:"content_id"`
	Policy                 *string           `json:"policy"`
	Tracks                 []json.RawMessage `json:"tracks"`
	DRMTypes               []json.RawMessage `json:"drm_types"`
	ProtectionScheme       json.RawMessage   `json:"protection_scheme"`
	FirstCryptoPeriodIndex json.RawMessage   `json:"first_crypto_period_index"`
	CryptoPeriodCount      json.RawMessage   `json:"crypto_period_count"`
	CryptoPeriodSeconds    json.RawMessage   `json:"crypto_period_seconds"`
	PSSHData               *string           `json:"pssh_data"`
	AssetID                json.RawMessage   `json:"asset_id"`
}

// wvParsed is a validated request.
type wvParsed struct {
	contentID []byte
	tracks    []string
	scheme    drm.Scheme
	rotation  bool
	first     uint32
	count     uint32
	seconds   int64 // 0: not sent
}

// wvTrack is one tracks[] entry of the response; field order is shaka's.
type wvTrack struct {
	Type              string   `json:"type"`
	KeyID             []byte   `json:"key_id"`
	Key               []byte   `json:"key"`
	IV                []byte   `json:"iv"`
	PSSH              []wvPSSH `json:"pssh"`
	CryptoPeriodIndex *uint32  `json:"crypto_period_index,omitempty"`
}

type wvPSSH struct {
	DRMType string `json:"drm_type"`
	Data    []byte `json:"data"`
}

type wvResponse struct {
	Status        string    `json:"status"`
	StatusMessage string    `json:"status_message,omitempty"`
	DRM           []wvDRM   `json:"drm,omitempty"`
	Tracks        []wvTrack `json:"tracks,omitempty"`
	ContentID     []byte    `json:"content_id,omitempty"`
}

type wvDRM struct {
	Type     string `json:"type"`
	SystemID string `json:"system_id"`
}

func decodeB64(s string) ([]byte, error) {
	s = strings.TrimRight(s, "=")
	if strings.ContainsAny(s, "-_") {
		return base64.RawURLEncoding.DecodeString(s)
	}
	return base64.RawStdEncoding.DecodeString(s)
}

// parseUint32 reads a proto3 JSON uint32: a number or a decimal string.
// absent reports a missing or null field.
func parseUint32(field string, raw json.RawMessage) (v uint32, absent bool, err *wvError) {
	s := strings.TrimSpace(string(raw))
	if s == "" || s == "null" {
		return 0, true, nil
	}
	if unq, uerr := strconv.Unquote(s); uerr == nil && strings.HasPrefix(s, `"`) {
		s = unq
	}
	f, perr := strconv.ParseFloat(s, 64)
	if perr != nil || f < 0 || f > math.MaxUint32 || f != math.Trunc(f) {
		return 0, false, wvErr(wvMalformedRequest, "%s: %s is not a uint32", field, access.Clip(string(raw)))
	}
	return uint32(f), false, nil
}

// parseString reads a JSON string.
func parseString(raw json.RawMessage) (string, bool) {
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false
	}
	return s, true
}

func parseWVRequest(b []byte) (*wvParsed, *wvError) {
	var req wvRequest
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&req); err != nil {
		return nil, wvErr(wvMalformedRequest, "request is not a CommonEncryptionRequest JSON object: %v", err)
	}
	if dec.More() {
		return nil, wvErr(wvMalformedRequest, "request has data after the JSON object")
	}
	if req.PSSHData != nil || len(req.AssetID) > 0 {
		return nil, wvErr(wvMalformedRequest, "pssh_data/asset_id: decryption requests are not supported; send content_id")
	}
	p := &wvParsed{}
	if req.ContentID == nil || *req.ContentID == "" {
		return nil, wvErr(wvContentIDMissing, "content_id: is required")
	}
	cid, err := decodeB64(*req.ContentID)
	if err != nil {
		return nil, wvErr(wvMalformedRequest, "content_id: is not base64")
	}
	if msg := wvContentIDProblem(cid); msg != "" {
		return nil, wvErr(wvMalformedRequest, "content_id: %s", msg)
	}
	p.contentID = cid

	if len(req.Tracks) == 0 {
		return nil, wvErr(wvTrackTypeMissing, "tracks: at least one track type is required")
	}
	seen := map[string]bool{}
	for i, raw := range req.Tracks {
		var tr struct {
			Type *string `json:"type"`
		}
		if err := json.Unmarshal(raw, &tr); err != nil {
			return nil, wvErr(wvMalformedRequest, "tracks[%d]: is not an object with a string type", i)
		}
		if tr.Type == nil || *tr.Type == "" {
			return nil, wvErr(wvTrackTypeMissing, "tracks[%d].type: is required", i)
		}
		if !wvTrackTypes[*tr.Type] {
			return nil, wvErr(wvTrackTypeUnknown, "tracks[%d].type: %q is not SD, HD, UHD1, UHD2 or AUDIO", i, access.Clip(*tr.Type))
		}
		if seen[*tr.Type] {
			return nil, wvErr(wvMalformedRequest, "tracks[%d].type: %s is requested twice", i, *tr.Type)
		}
		seen[*tr.Type] = true
		p.tracks = append(p.tracks, *tr.Type)
	}

	for i, raw := range req.DRMTypes {
		s, ok := parseString(raw)
		if !ok {
			// Enum as number: WIDEVINE = 1 in the proto.
			if v, _, e := parseUint32("drm_types", raw); e == nil && v == 1 {
				continue
			}
			return nil, wvErr(wvMalformedRequest, "drm_types[%d]: %s is not WIDEVINE", i, access.Clip(string(raw)))
		}
		if s != "WIDEVINE" {
			return nil, wvErr(wvMalformedRequest, "drm_types[%d]: only WIDEVINE is served here (got %q); PlayReady and FairPlay signaling is made by the packager or the native API", i, access.Clip(s))
		}
	}

	p.scheme = drm.SchemeCENC // the protocol's default, as shaka's
	if len(req.ProtectionScheme) > 0 && string(req.ProtectionScheme) != "null" {
		name, isName := parseString(req.ProtectionScheme)
		if !isName {
			v, _, e := parseUint32("protection_scheme", req.ProtectionScheme)
			if e != nil {
				return nil, e
			}
			switch v {
			case drm.SchemeCBCS.FourCC():
				name = "CBCS"
			case drm.SchemeCENC.FourCC():
				name = "CENC"
			case 0:
				name = "UNSPECIFIED"
			default:
				name = strconv.FormatUint(uint64(v), 10)
			}
		}
		switch name {
		case "CBCS":
			p.scheme = drm.SchemeCBCS
		case "CENC", "UNSPECIFIED":
		default:
			return nil, wvErr(wvMalformedRequest, "protection_scheme: %s is not supported (CENC or CBCS)", access.Clip(name))
		}
	}

	first, firstAbsent, e := parseUint32("first_crypto_period_index", req.FirstCryptoPeriodIndex)
	if e != nil {
		return nil, e
	}
	count, countAbsent, e := parseUint32("crypto_period_count", req.CryptoPeriodCount)
	if e != nil {
		return nil, e
	}
	secs, secsAbsent, e := parseUint32("crypto_period_seconds", req.CryptoPeriodSeconds)
	if e != nil {
		return nil, e
	}
	switch {
	case countAbsent && firstAbsent && secsAbsent:
		return p, nil // one key per track type (VOD, or the start of a live run)
	case countAbsent || count == 0:
		return nil, wvErr(wvNoRequestedCryptoPeriod, "crypto_period_count: must be at least 1 with key rotation")
	case count > wvMaxPeriodsBatch:
		return nil, wvErr(wvMalformedRequest, "crypto_period_count: %d exceeds %d", count, wvMaxPeriodsBatch)
	case uint64(first)+uint64(count)-1 > math.MaxUint32:
		return nil, wvErr(wvMalformedRequest, "first_crypto_period_index + crypto_period_count exceeds uint32")
	}
	if !secsAbsent && (secs == 0 || secs > 366*24*3600) {
		return nil, wvErr(wvMalformedRequest, "crypto_period_seconds: %d is outside 1..%d", secs, 366*24*3600)
	}
	p.rotation, p.first, p.count, p.seconds = true, first, count, int64(secs)
	return p, nil
}

// wvContentIDProblem returns why a content id cannot be a key-space content
// id (the native API's rules), or "".
func wvContentIDProblem(b []byte) string {
	if !utf8.Valid(b) {
		return "is not UTF-8 text (shaka's --content_id is the hex of the text)"
	}
	return issuer.ContentIDProblem(string(b))
}
