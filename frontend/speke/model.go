package speke

import (
	"strings"

	"github.com/beevik/etree"

	"github.com/keyserver/keyserver/drm"
	"github.com/keyserver/keyserver/issuer"
)

// profile is the protocol a document arrived in.
type profile uint8

const (
	spekeV1   profile = iota + 1 // SPEKE v1: CPIX 2.0 with the speke namespace; content id in CPIX@id
	spekeV20                     // SPEKE v2.0: CPIX 2.3, X-Speke-Version 2.0
	spekeV21                     // SPEKE v2.1: CPIX 2.4, X-Speke-Version 2.1
	plainCPIX                    // POST /{tenantId}/cpix: CPIX 2.3 or 2.4
)

func (p profile) v2() bool { return p == spekeV20 || p == spekeV21 }

// Limits on one document, each refused with a message naming it.
const (
	maxKeys       = 256
	maxSystems    = 1024
	maxPeriods    = 256
	maxRules      = 1024
	maxRecipients = 8
)

// Well-known system ids a document may name besides drm.Systems.
const (
	systemIDClearKeyAES128  = "3ea8778f-7742-4bf9-b18b-e834b2acbd47" // AWS "ClearKey AES-128" (HLS AES-128), SPEKE v2
	systemIDAWSReferenceHLS = "81376844-f976-481e-a84e-cc25d39b0b33" // speke-reference-server's HLS AES-128 id, SPEKE v1
)

// document is a parsed request with its references resolved.
type document struct {
	profile   profile
	root      *etree.Element
	contentID string
	keys      []*contentKey
	byKID     map[drm.KeyID]*contentKey
	systems   []*drmSystem
	periods   []*etree.Element
	rules     []*usageRule
	delivery  []*etree.Element // DeliveryData elements
}

// contentKey is one ContentKey of the document.
type contentKey struct {
	e         *etree.Element
	kidText   string
	kid       drm.KeyID
	scheme    drm.Scheme
	hasScheme bool
	contentID string // the document's, or CPIX 2.4 ContentKey@contentId
	systems   []*drmSystem
	issued    issuer.Issued
}

// systemKind tells how a DRMSystem is filled.
type systemKind uint8

const (
	kindDRM    systemKind = iota + 1 // a drm.System: pssh, DASH and HLS forms from package signaling
	kindAES128                       // HLS AES-128 (the key delivered in the clear by URL)
)

// drmSystem is one DRMSystem of the document.
type drmSystem struct {
	e        *etree.Element
	systemID string // lower case
	kind     systemKind
	sys      drm.System
	key      *contentKey
}

// usageRule is one ContentKeyUsageRule.
type usageRule struct {
	e         *etree.Element
	key       *contentKey
	trackType string
	video     []*etree.Element
	audio     []*etree.Element
	periodIDs []string
}

// parseScheme maps commonEncryptionScheme to the key space's scheme: the
// CENC 4CCs and, from CPIX 2.4, the HLS method names.
func parseScheme(s string, p profile) (drm.Scheme, bool) {
	switch s {
	case "cenc":
		return drm.SchemeCENC, true
	case "cbcs":
		return drm.SchemeCBCS, true
	case "SAMPLE-AES", "AES-128":
		if p == spekeV21 || p == plainCPIX {
			return drm.SchemeCBCS, true
		}
	}
	return 0, false
}

// systemOf classifies a DRMSystem@systemId.
func systemOf(id string) (systemKind, drm.System, bool) {
	switch id {
	case systemIDClearKeyAES128, systemIDAWSReferenceHLS:
		return kindAES128, 0, true
	}
	if s, ok := drm.ParseSystem(id); ok && strings.Contains(id, "-") {
		return kindDRM, s, true
	}
	return 0, 0, false
}
