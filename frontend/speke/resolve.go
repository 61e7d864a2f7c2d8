package speke

import (
	"strings"

	"github.com/beevik/etree"

	"github.com/keyserver/keyserver/access"
	"github.com/keyserver/keyserver/cpix"
	"github.com/keyserver/keyserver/drm"
	"github.com/keyserver/keyserver/issuer"
)

// resolve reads the document's lists and checks them against the profile:
// every refusal names the element and attribute. It stores nothing.
func resolve(root *etree.Element, p profile) (*document, error) {
	d := &document{profile: p, root: root, byKID: map[drm.KeyID]*contentKey{}}
	if err := d.readRoot(); err != nil {
		return nil, err
	}
	if err := d.readKeys(); err != nil {
		return nil, err
	}
	if err := d.readSystems(); err != nil {
		return nil, err
	}
	if err := d.readPeriods(); err != nil {
		return nil, err
	}
	if err := d.readRules(); err != nil {
		return nil, err
	}
	if dl := cpix.Child(root, cpix.NS, "DeliveryDataList"); dl != nil {
		d.delivery = cpix.Children(dl, cpix.NS, "DeliveryData")
		if len(d.delivery) > maxRecipients {
			return nil, unprocessable("DeliveryDataList holds %d recipients, at most %d are served", len(d.delivery), maxRecipients)
		}
	}
	return d, nil
}

func (d *document) readRoot() error {
	root, p := d.root, d.profile
	version, hasVersion := cpix.Attr(root, "version")
	switch {
	case p == spekeV1:
		d.contentID, _ = cpix.Attr(root, "id")
		if d.contentID == "" {
			// SPEKE v1 names the content in CPIX@id; accept a v2-style
			// contentId from encoders that send it.
			d.contentID, _ = cpix.Attr(root, "contentId")
		}
		if d.contentID == "" {
			return unprocessable("Missing CPIX@id")
		}
	case p.v2():
		var ok bool
		if d.contentID, ok = cpix.Attr(root, "contentId"); !ok || d.contentID == "" {
			return unprocessable(msgMissingContentID)
		}
		if !hasVersion || version == "" {
			return unprocessable(msgMissingVersion)
		}
		if want := map[profile]string{spekeV20: "2.3", spekeV21: "2.4"}[p]; version != want {
			return unprocessable(msgUnsupportedVersion)
		}
	default:
		if hasVersion && version != "2.3" && version != "2.4" {
			return unprocessable(msgUnsupportedVersion)
		}
		d.contentID, _ = cpix.Attr(root, "contentId")
	}
	if d.contentID != "" {
		if prob := issuer.ContentIDProblem(d.contentID); prob != "" {
			return unprocessable("CPIX@contentId %s", prob)
		}
	}
	return nil
}

// list returns the items of a root list, refusing a missing list where the
// profile requires it.
func (d *document) list(name, item string, required bool) ([]*etree.Element, error) {
	l := cpix.Child(d.root, cpix.NS, name)
	if l == nil {
		if required {
			return nil, unprocessable("Missing %s", name)
		}
		return nil, nil
	}
	items := cpix.Children(l, cpix.NS, item)
	if required && len(items) == 0 {
		return nil, unprocessable("Missing %s in %s", item, name)
	}
	return items, nil
}

func (d *document) readKeys() error {
	items, err := d.list("ContentKeyList", "ContentKey", d.profile != plainCPIX)
	if err != nil {
		return err
	}
	if len(items) > maxKeys {
		return unprocessable("ContentKeyList holds %d keys, at most %d are served per document", len(items), maxKeys)
	}
	var first *contentKey
	for _, e := range items {
		k := &contentKey{e: e, contentID: d.contentID}
		var ok bool
		if k.kidText, ok = cpix.Attr(e, "kid"); !ok || k.kidText == "" {
			return unprocessable("Missing ContentKey@kid")
		}
		if k.kid, err = drm.ParseKeyID(k.kidText); err != nil || k.kid.IsZero() {
			return unprocessable("Invalid ContentKey@kid %q: want a non-nil UUID", clip(k.kidText))
		}
		if d.byKID[k.kid] != nil {
			return unprocessable("Duplicate ContentKey@kid %s", k.kidText)
		}
		if err := d.readScheme(k); err != nil {
			return err
		}
		if cid, ok := cpix.Attr(e, "contentId"); ok && (d.profile == spekeV21 || d.profile == plainCPIX) {
			if d.contentID != "" {
				return unprocessable("ContentKey@contentId and CPIX@contentId are both set (KID %s)", k.kidText)
			}
			if prob := issuer.ContentIDProblem(cid); prob != "" {
				return unprocessable("ContentKey@contentId %s (KID %s)", prob, k.kidText)
			}
			k.contentID = cid
		}
		if k.contentID == "" {
			return unprocessable(msgMissingContentID)
		}
		if _, dep := cpix.Attr(e, "dependsOnKey"); dep && d.profile != plainCPIX {
			return unprocessable("ContentKey@dependsOnKey (key hierarchies) is not supported (KID %s)", k.kidText)
		}
		if first == nil {
			first = k
		} else if d.profile.v2() && k.scheme != first.scheme {
			return unprocessable(msgMixedSchemes)
		}
		d.keys = append(d.keys, k)
		d.byKID[k.kid] = k
	}
	return nil
}

func (d *document) readScheme(k *contentKey) error {
	s, ok := cpix.Attr(k.e, "commonEncryptionScheme")
	if !ok || s == "" {
		if d.profile.v2() {
			return unprocessable(msgMissingScheme, k.kidText)
		}
		// SPEKE v1 and plain CPIX may omit it: cenc unless a FairPlay or
		// HLS AES-128 system asks for cbcs (readSystems).
		k.scheme = drm.SchemeCENC
		return nil
	}
	if k.scheme, ok = parseScheme(s, d.profile); !ok {
		return unprocessable("Unsupported ContentKey@commonEncryptionScheme %q for KID %s: cenc or cbcs", clip(s), k.kidText)
	}
	k.hasScheme = true
	return nil
}

func (d *document) readSystems() error {
	items, err := d.list("DRMSystemList", "DRMSystem", d.profile != plainCPIX)
	if err != nil {
		return err
	}
	if len(items) > maxSystems {
		return unprocessable("DRMSystemList holds %d systems, at most %d are served per document", len(items), maxSystems)
	}
	for _, e := range items {
		s := &drmSystem{e: e}
		id, ok := cpix.Attr(e, "systemId")
		if !ok || id == "" {
			return unprocessable("Missing DRMSystem@systemId")
		}
		s.systemID = strings.ToLower(id)
		if s.kind, s.sys, ok = systemOf(s.systemID); !ok {
			return unprocessable("Unsupported DRMSystem@systemId %s", clip(id))
		}
		kidText, ok := cpix.Attr(e, "kid")
		if !ok || kidText == "" {
			return unprocessable("Missing DRMSystem@kid (systemId %s)", s.systemID)
		}
		kid, err := drm.ParseKeyID(kidText)
		if err != nil || d.byKID[kid] == nil {
			return unprocessable("DRMSystem@kid %q names no ContentKey (systemId %s)", clip(kidText), s.systemID)
		}
		s.key = d.byKID[kid]
		if s.kind == kindAES128 || s.sys == drm.FairPlay {
			if s.key.hasScheme && s.key.scheme != drm.SchemeCBCS {
				return unprocessable("DRMSystem %s (%s) needs ContentKey@commonEncryptionScheme cbcs, KID %s has cenc", s.systemID, systemName(s), s.key.kidText)
			}
			s.key.scheme = drm.SchemeCBCS
		}
		s.key.systems = append(s.key.systems, s)
		d.systems = append(d.systems, s)
	}
	return nil
}

func systemName(s *drmSystem) string {
	if s.kind == kindAES128 {
		return "HLS AES-128"
	}
	return s.sys.String()
}

func (d *document) readPeriods() error {
	items, err := d.list("ContentKeyPeriodList", "ContentKeyPeriod", false)
	if err != nil {
		return err
	}
	if len(items) > maxPeriods {
		return unprocessable("ContentKeyPeriodList holds %d periods, at most %d are served per document", len(items), maxPeriods)
	}
	seen := map[string]bool{}
	for _, e := range items {
		id, _ := cpix.Attr(e, "id")
		if id != "" {
			if seen[id] {
				return unprocessable("Duplicate ContentKeyPeriod@id %q", clip(id))
			}
			seen[id] = true
		}
		_, hasIndex := cpix.Attr(e, "index")
		_, hasStart := cpix.Attr(e, "start")
		_, hasOffset := cpix.Attr(e, "startOffset")
		if !hasIndex && !hasStart && !hasOffset {
			return unprocessable("ContentKeyPeriod %q has neither @index nor @start/@end", clip(id))
		}
		if d.profile == spekeV20 || d.profile == spekeV1 {
			if !hasIndex {
				return unprocessable("ContentKeyPeriod %q needs @index in SPEKE %s", clip(id), map[profile]string{spekeV1: "v1", spekeV20: "v2.0"}[d.profile])
			}
		}
	}
	d.periods = items
	return nil
}

func (d *document) readRules() error {
	items, err := d.list("ContentKeyUsageRuleList", "ContentKeyUsageRule", d.profile.v2())
	if err != nil {
		return err
	}
	if len(items) > maxRules {
		return unprocessable("ContentKeyUsageRuleList holds %d rules, at most %d are served per document", len(items), maxRules)
	}
	periodIDs := map[string]bool{}
	for _, p := range d.periods {
		if id, ok := cpix.Attr(p, "id"); ok {
			periodIDs[id] = true
		}
	}
	for _, e := range items {
		r := &usageRule{e: e}
		kidText, ok := cpix.Attr(e, "kid")
		if !ok || kidText == "" {
			return unprocessable("Missing ContentKeyUsageRule@kid")
		}
		kid, err := drm.ParseKeyID(kidText)
		if err != nil || d.byKID[kid] == nil {
			return unprocessable("ContentKeyUsageRule@kid %q names no ContentKey", clip(kidText))
		}
		r.key = d.byKID[kid]
		r.trackType, ok = cpix.Attr(e, "intendedTrackType")
		if d.profile.v2() && (!ok || r.trackType == "") {
			return unprocessable("Missing ContentKeyUsageRule@intendedTrackType (KID %s)", kidText)
		}
		r.video = cpix.Children(e, cpix.NS, "VideoFilter")
		r.audio = cpix.Children(e, cpix.NS, "AudioFilter")
		for _, f := range cpix.Children(e, cpix.NS, "KeyPeriodFilter") {
			id, _ := cpix.Attr(f, "periodId")
			if !periodIDs[id] {
				return unprocessable("KeyPeriodFilter@periodId %q names no ContentKeyPeriod (KID %s)", clip(id), kidText)
			}
			r.periodIDs = append(r.periodIDs, id)
		}
		d.rules = append(d.rules, r)
	}
	if d.profile.v2() {
		return checkContract(d.rules)
	}
	return nil
}

// clip shortens an echoed value for a message.
func clip(s string) string { return access.Clip(s) }
