package server

import (
	"encoding/base64"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/keyserver/keyserver/drm"
	keyserverv1 "github.com/keyserver/keyserver/gen/keyserver/v1"
	"github.com/keyserver/keyserver/keystore"
)

// This file is where proto types stop: requests are validated and turned
// into a keyRequest, and stored records are turned into responses.

// maxContentIDBytes bounds drmContentId (api.md: 1–256 bytes of UTF-8).
const maxContentIDBytes = 256

type format uint8

const (
	formatDASH format = iota + 1
	formatHLS
)

// output is one drmSignalization entry to produce.
type output struct {
	sys    drm.System
	format format
}

// keyRequest is a validated GetKeyAndSignalization request.
type keyRequest struct {
	tenant    string
	contentID string
	live      bool
	scheme    drm.Scheme
	outputs   []output
	at        time.Time // zero: now
	supplied  *keystore.Supplied
}

// Default signaling orders of the matrix (api.md): with no drmList, DASH
// gets PR, PRM, WV (PRM, PR, WV in DASH-only mode) and HLS FPS, PRM, WV.
var (
	defaultBoth = []output{
		{drm.PlayReady, formatDASH}, {drm.NagraPRM, formatDASH}, {drm.Widevine, formatDASH},
		{drm.FairPlay, formatHLS}, {drm.NagraPRM, formatHLS}, {drm.Widevine, formatHLS},
	}
	defaultDASH = []output{{drm.NagraPRM, formatDASH}, {drm.PlayReady, formatDASH}, {drm.Widevine, formatDASH}}
	defaultHLS  = []output{{drm.FairPlay, formatHLS}, {drm.NagraPRM, formatHLS}, {drm.Widevine, formatHLS}}
)

// formatsOf is which streaming formats a DRM is signaled in.
func formatsOf(s drm.System) (dash, hls bool) {
	switch s {
	case drm.PlayReady:
		return true, false
	case drm.FairPlay:
		return false, true
	}
	return true, true
}

// parseRequest validates every field of req, in the order of the
// request's JSON, and returns the first problem naming its field. It does
// no I/O.
func parseRequest(req *keyserverv1.GetKeyAndSignalizationRequest, tenant string) (*keyRequest, error) {
	kr := &keyRequest{tenant: tenant, scheme: drm.SchemeCBCS}
	c := req.GetDrmContent()
	if c == nil {
		return nil, invalid("drmContent", "is required")
	}
	if err := checkContentID(c.GetDrmContentId()); err != nil {
		return nil, err
	}
	kr.contentID = c.GetDrmContentId()

	p := c.GetProfile()
	switch p.GetDistributionMode() {
	case keyserverv1.DistributionMode_VOD:
	case keyserverv1.DistributionMode_LIVE:
		kr.live = true
	case keyserverv1.DistributionMode_DISTRIBUTION_MODE_UNSPECIFIED:
		return nil, reject(keyserverv1.Status_UNDEFINED_DISTRIBUTION_MODE, "drmContent.profile.distributionMode", "is required: VOD or LIVE")
	default:
		return nil, reject(keyserverv1.Status_UNDEFINED_DISTRIBUTION_MODE, "drmContent.profile.distributionMode", "unknown value %d: want VOD or LIVE", p.GetDistributionMode())
	}
	mode := p.GetStreamingMode()
	switch mode {
	case keyserverv1.StreamingMode_STREAMING_MODE_UNSPECIFIED, keyserverv1.StreamingMode_HLS, keyserverv1.StreamingMode_DASH:
	default:
		return nil, reject(keyserverv1.Status_UNDEFINED_STREAMING_MODE, "drmContent.profile.streamingMode", "unknown value %d: want HLS, DASH or none", mode)
	}
	if p != nil && p.Emi != nil && p.GetEmi() != drm.EMICBCS {
		return nil, reject(keyserverv1.Status_UNDEFINED_ENCRYPTION_METHOD, "drmContent.profile.emi", "unsupported EMI %d: this endpoint signals cbcs, EMI 16426 (0x402A)", p.GetEmi())
	}

	outs, err := parseDRMList(req.GetDrmList(), mode)
	if err != nil {
		return nil, err
	}
	kr.outputs = outs

	if sk := req.GetScheduledKey(); sk != nil {
		if sk.GetTime() != "" {
			at, err := time.Parse(time.RFC3339Nano, sk.GetTime())
			if err != nil {
				return nil, invalid("scheduledKey.time", "not an RFC 3339 time (e.g. 2026-11-24T10:00:00Z)")
			}
			if at.IsZero() {
				// The zero time means "now" below: refuse it here.
				return nil, invalid("scheduledKey.time", "time is before the Unix epoch")
			}
			kr.at = at
		}
		if ck := sk.GetContentKey(); ck != nil && (ck.GetKeyId() != "" || ck.GetKey() != "" || ck.GetIv() != "") {
			s, err := parseSupplied(ck)
			if err != nil {
				return nil, err
			}
			kr.supplied = s
		}
	}
	return kr, nil
}

func checkContentID(id string) error {
	const field = "drmContent.drmContentId"
	switch {
	case id == "":
		return invalid(field, "is required")
	case len(id) > maxContentIDBytes:
		return invalid(field, "is %d bytes, at most %d allowed", len(id), maxContentIDBytes)
	case !utf8.ValidString(id):
		return invalid(field, "is not valid UTF-8")
	}
	for _, r := range id {
		// XML 1.0 cannot carry C0 controls, and a content id with line
		// breaks or controls is never a CMS id: refuse rather than mangle.
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == 0xfffe || r == 0xffff {
			return invalid(field, "contains control character U+%04X", r)
		}
	}
	return nil
}

// parseDRMList resolves drmList against the streaming mode (the matrix of
// api.md) into the ordered signaling entries.
func parseDRMList(list []string, mode keyserverv1.StreamingMode) ([]output, error) {
	if len(list) == 0 {
		switch mode {
		case keyserverv1.StreamingMode_DASH:
			return defaultDASH, nil
		case keyserverv1.StreamingMode_HLS:
			return defaultHLS, nil
		}
		return defaultBoth, nil
	}
	if len(list) > len(drm.Systems) {
		return nil, invalid("drmList", "has %d entries, at most %d distinct DRMs exist", len(list), len(drm.Systems))
	}
	outs := make([]output, 0, 2*len(list))
	var seen [8]bool
	for i, name := range list {
		field := "drmList[" + strconv.Itoa(i) + "]"
		sys, ok := drm.ParseSystem(name)
		if !ok {
			return nil, reject(keyserverv1.Status_UNDEFINED_DRM_SYSTEM_ID, field, "unknown DRM %q: want a system UUID or FPS, PR, PRM, WV", clip(name))
		}
		if seen[sys] {
			return nil, invalid(field, "%s is listed twice", sys)
		}
		seen[sys] = true
		dash, hls := formatsOf(sys)
		switch mode {
		case keyserverv1.StreamingMode_DASH:
			if !dash {
				return nil, reject(keyserverv1.Status_UNDEFINED_DRM_SYSTEM_ID, field, "%s is not signaled for DASH", sys)
			}
			hls = false
		case keyserverv1.StreamingMode_HLS:
			if !hls {
				return nil, reject(keyserverv1.Status_UNDEFINED_DRM_SYSTEM_ID, field, "%s is not signaled for HLS", sys)
			}
			dash = false
		}
		if dash {
			outs = append(outs, output{sys, formatDASH})
		}
		if hls {
			outs = append(outs, output{sys, formatHLS})
		}
	}
	return outs, nil
}

func parseSupplied(ck *keyserverv1.ContentKey) (*keystore.Supplied, error) {
	const prefix = "scheduledKey.contentKey."
	if ck.GetKeyId() == "" {
		return nil, reject(keyserverv1.Status_MISSING_KEY_ID, prefix+"keyId", "is required when a key or IV is supplied")
	}
	kid, err := drm.ParseKeyID(ck.GetKeyId())
	if err != nil {
		return nil, invalid(prefix+"keyId", "not a dashed UUID (8-4-4-4-12 hex digits)")
	}
	if kid.IsZero() {
		return nil, invalid(prefix+"keyId", "the all-zero key id is not a key id")
	}
	if ck.GetKey() == "" {
		return nil, reject(keyserverv1.Status_MISSING_CONTENT_KEY, prefix+"key", "is required when a key id is supplied")
	}
	s := &keystore.Supplied{KID: kid}
	if err := decode16(s.Key[:], ck.GetKey()); err != nil {
		return nil, invalid(prefix+"key", "%v", err)
	}
	if ck.GetIv() != "" {
		var iv drm.IV
		if err := decode16(iv[:], ck.GetIv()); err != nil {
			return nil, invalid(prefix+"iv", "%v", err)
		}
		s.IV = &iv
	}
	return s, nil
}

type decodeError string

func (e decodeError) Error() string { return string(e) }

// decode16 decodes standard padded base64 of exactly 16 bytes into dst.
// Its errors never include the input (it may be a key).
func decode16(dst []byte, s string) error {
	if len(s) != 24 {
		return decodeError("must be standard base64 of 16 bytes (24 characters), got " + strconv.Itoa(len(s)) + " characters")
	}
	// Decode needs room for DecodedLen(24) = 18 bytes: 24 characters
	// without padding (or with skipped newlines) decode to more than 16.
	var buf [18]byte
	n, err := base64.StdEncoding.Strict().Decode(buf[:], []byte(s))
	if err != nil || n != 16 {
		return decodeError("not standard base64 of 16 bytes")
	}
	copy(dst, buf[:16])
	return nil
}

// clip shortens client text echoed in an error message.
func clip(s string) string {
	const max = 64
	if len(s) <= max {
		return s
	}
	for i := max; i > 0; i-- {
		if utf8.RuneStart(s[i]) {
			return s[:i] + "…"
		}
	}
	return ""
}

func contentKeyOf(ck drm.ContentKey, withKey bool) *keyserverv1.ContentKey {
	out := &keyserverv1.ContentKey{
		KeyId: ck.KID.String(),
		Iv:    base64.StdEncoding.EncodeToString(ck.IV[:]),
	}
	if withKey {
		out.Key = base64.StdEncoding.EncodeToString(ck.Key[:])
	}
	return out
}
