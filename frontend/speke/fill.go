package speke

import (
	"github.com/beevik/etree"

	"github.com/keyserver/keyserver/cpix"
	"github.com/keyserver/keyserver/drm"
)

// fillSystem fills the placeholders of one DRMSystem with the key's
// signaling: every child the request carries comes back, filled where this
// server has a value for it; nothing is added. In a SPEKE v2 answer the
// v1 elements (URIExtXKey, speke:*) are removed: MediaPackage v2 rejects
// them.
func (d *document) fillSystem(s *drmSystem, ss *systemSignals) error {
	var drop []*etree.Element
	for _, c := range s.e.ChildElements() {
		ns := c.NamespaceURI()
		if ns == cpix.NSSpeke {
			if d.profile.v2() {
				drop = append(drop, c)
				continue
			}
			switch c.Tag {
			case "ProtectionHeader":
				setText(c, ss.mss)
			case "KeyFormat":
				setText(c, ss.keyFormat)
			case "KeyFormatVersions":
				setText(c, ss.keyFormatVersions)
			}
			continue
		}
		if ns != cpix.NS {
			continue // unknown elements are kept as sent
		}
		switch c.Tag {
		case "PSSH":
			setText(c, ss.pssh)
		case "ContentProtectionData":
			setText(c, ss.cpd)
		case "SmoothStreamingProtectionHeaderData":
			setText(c, ss.mss)
		case "URIExtXKey":
			if d.profile.v2() {
				drop = append(drop, c)
				continue
			}
			setText(c, ss.uri)
		case "HLSSignalingData":
			pl, _ := cpix.Attr(c, "playlist")
			switch pl {
			case "", "media":
				setText(c, ss.hlsMedia)
			case "master", "multiVariant":
				setText(c, ss.hlsMaster)
			default:
				return unprocessable("HLSSignalingData@playlist %q is not media, master or multiVariant (systemId %s)", clip(pl), s.systemID)
			}
		}
	}
	for _, c := range drop {
		s.e.RemoveChild(c)
	}
	return nil
}

// setText replaces c's content by v, if v is not empty (a placeholder this
// server has no value for stays as sent).
func setText(c *etree.Element, v string) {
	if v == "" {
		return
	}
	for _, ch := range c.Child {
		c.RemoveChild(ch)
	}
	c.SetText(v)
}

// stripV1 removes what a SPEKE v2 answer must not carry anywhere: elements
// and namespace declarations of the speke namespace.
func stripV1(root *etree.Element) {
	var walk func(e *etree.Element)
	walk = func(e *etree.Element) {
		for _, c := range e.ChildElements() {
			if c.NamespaceURI() == cpix.NSSpeke {
				e.RemoveChild(c)
				continue
			}
			walk(c)
		}
		keep := e.Attr[:0]
		for _, a := range e.Attr {
			if (a.Space == "xmlns" || a.Space == "" && a.Key == "xmlns") && a.Value == cpix.NSSpeke {
				continue
			}
			keep = append(keep, a)
		}
		e.Attr = keep
	}
	walk(root)
}

// keyURL is the HLS AES-128 key URL of a key.
type keyURL func(tenant string, kid drm.KeyID) string
