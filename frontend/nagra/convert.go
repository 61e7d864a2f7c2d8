package nagra

import (
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/keyserver/keyserver/access"
	"github.com/keyserver/keyserver/drm"
	keyserverv1 "github.com/keyserver/keyserver/gen/keyserver/v1"
	"github.com/keyserver/keyserver/issuer"
	"github.com/keyserver/keyserver/keystore"
)

// This file is where proto types stop: requests are validated and turned
// into issuer requests.

// Default signaling orders of the matrix (api.md): with no drmList, DASH
// gets PR, PRM, WV (PRM, PR, WV in DASH-only mode) and HLS FPS, PRM, WV.
var (
	defaultBoth = []issuer.Output{
		{System: drm.PlayReady, Format: issuer.FormatDASH}, {System: drm.NagraPRM, Format: issuer.FormatDASH}, {System: drm.Widevine, Format: issuer.FormatDASH},
		{System: drm.FairPlay, Format: issuer.FormatHLS}, {System: drm.NagraPRM, Format: issuer.FormatHLS}, {System: drm.Widevine, Format: issuer.FormatHLS},
	}
	defaultDASH = []issuer.Output{{System: drm.NagraPRM, Format: issuer.FormatDASH}, {System: drm.PlayReady, Format: issuer.FormatDASH}, {System: drm.Widevine, Format: issuer.FormatDASH}}
	defaultHLS  = []issuer.Output{{System: drm.FairPlay, Format: issuer.FormatHLS}, {System: drm.NagraPRM, Format: issuer.FormatHLS}, {System: drm.Widevine, Format: issuer.FormatHLS}}
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
// request's JSON, and returns the first problem naming its field, or the
// issuer request. It does no I/O.
func parseRequest(req *keyserverv1.GetKeyAndSignalizationRequest, tenant string) (*issuer.Request, error) {
	kr := &issuer.Request{Tenant: tenant, Scheme: drm.SchemeCBCS}
	c := req.GetDrmContent()
	if c == nil {
		return nil, invalid("drmContent", "is required")
	}
	if p := issuer.ContentIDProblem(c.GetDrmContentId()); p != "" {
		return nil, invalid("drmContent.drmContentId", "%s", p)
	}
	kr.ContentID = c.GetDrmContentId()

	p := c.GetProfile()
	switch p.GetDistributionMode() {
	case keyserverv1.DistributionMode_VOD:
	case keyserverv1.DistributionMode_LIVE:
		kr.Period.Live = true
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
	kr.Outputs = outs

	if sk := req.GetScheduledKey(); sk != nil {
		if sk.GetTime() != "" {
			at, err := parseRFC3339(sk.GetTime())
			if err != nil {
				return nil, invalid("scheduledKey.time", "not an RFC 3339 time (e.g. 2026-11-24T10:00:00Z)")
			}
			if at.IsZero() {
				// The zero time means "now" below: refuse it here.
				return nil, invalid("scheduledKey.time", "time is before the Unix epoch")
			}
			kr.Period.At = at
		}
		if ck := sk.GetContentKey(); ck != nil && (ck.GetKeyId() != "" || ck.GetKey() != "" || ck.GetIv() != "") {
			s, err := parseSupplied(ck)
			if err != nil {
				return nil, err
			}
			kr.Supplied = s
		}
	}
	return kr, nil
}

// parseDRMList resolves drmList against the streaming mode (the matrix of
// api.md) into the ordered signaling entries.
func parseDRMList(list []string, mode keyserverv1.StreamingMode) ([]issuer.Output, error) {
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
	outs := make([]issuer.Output, 0, 2*len(list))
	var seen [8]bool
	for i, name := range list {
		field := "drmList[" + strconv.Itoa(i) + "]"
		sys, ok := drm.ParseSystem(name)
		if !ok {
			return nil, reject(keyserverv1.Status_UNDEFINED_DRM_SYSTEM_ID, field, "unknown DRM %q: want a system UUID or FPS, PR, PRM, WV", access.Clip(name))
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
			outs = append(outs, issuer.Output{System: sys, Format: issuer.FormatDASH})
		}
		if hls {
			outs = append(outs, issuer.Output{System: sys, Format: issuer.FormatHLS})
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

// parseRFC3339 parses an RFC 3339 date-time (§5.6): the T and Z may be
// lower case (the RFC allows it), the fraction has any number of digits,
// and a numeric offset is at most ±23:59 (Go's parser takes ±24:00 and
// more).
func parseRFC3339(s string) (time.Time, error) {
	if len(s) > 10 && s[10] == 't' {
		s = s[:10] + "T" + s[11:]
	}
	if strings.HasSuffix(s, "z") {
		s = s[:len(s)-1] + "Z"
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, err
	}
	if !strings.HasSuffix(s, "Z") {
		off := s[len(s)-6:] // ±hh:mm: time.Parse checked the shape
		if off[1:3] > "23" || off[4:6] > "59" {
			return time.Time{}, errors.New("offset out of range")
		}
	}
	return t, nil
}
