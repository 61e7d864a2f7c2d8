package speke

import (
	"encoding/base64"
	"slices"

	"github.com/beevik/etree"

	"github.com/keyserver/keyserver/drm"
	"github.com/keyserver/keyserver/issuer"
	"github.com/keyserver/keyserver/signaling"
)

// signals is this front-end's encoding of one key's signaling: per DRM
// system, the base64 values CPIX carries. It is derived once per cached
// signaling set (issuer.Signaling.Derived) and shared by every later
// answer for the same key.
type signals map[drm.System]*systemSignals

// systemSignals holds one DRM system's CPIX values, base64, "" where the
// system has no such form.
type systemSignals struct {
	pssh      string // PSSH: the complete pssh box
	cpd       string // ContentProtectionData: the MPD fragment inside ContentProtection
	hlsMedia  string // HLSSignalingData playlist="media": the #EXT-X-KEY line
	hlsMaster string // HLSSignalingData playlist="master" or "multiVariant": #EXT-X-SESSION-KEY
	mss       string // SmoothStreamingProtectionHeaderData (PlayReady): the PlayReady Object
	// SPEKE v1: URIExtXKey, speke:KeyFormat, speke:KeyFormatVersions.
	uri, keyFormat, keyFormatVersions string
}

var derivedSignals = issuer.NewDerivedKey()

var b64 = base64.StdEncoding.EncodeToString

// outputsFor lists the issuer outputs a key's DRM systems need, in a
// canonical order so that documents naming the same systems share one
// cached signaling set.
func outputsFor(k *contentKey) []issuer.Output {
	var syss []drm.System
	for _, s := range k.systems {
		if s.kind == kindDRM && !slices.Contains(syss, s.sys) {
			syss = append(syss, s.sys)
		}
	}
	slices.Sort(syss)
	var outs []issuer.Output
	for _, s := range syss {
		dash, hls := formats(s)
		if dash {
			outs = append(outs, issuer.Output{System: s, Format: issuer.FormatDASH})
		}
		if hls {
			outs = append(outs, issuer.Output{System: s, Format: issuer.FormatHLS})
		}
	}
	return outs
}

// formats reports which forms package signaling has for s.
func formats(s drm.System) (dash, hls bool) {
	switch s {
	case drm.FairPlay:
		return false, true
	case drm.Widevine, drm.PlayReady, drm.NagraPRM:
		return true, true
	}
	return false, false
}

// signalsOf returns the CPIX encodings of a key's signaling set.
func signalsOf(s *issuer.Signaling) signals {
	if s == nil {
		return nil
	}
	return s.Derived(derivedSignals, func(s *issuer.Signaling) any { return buildSignals(s) }).(signals)
}

func buildSignals(s *issuer.Signaling) signals {
	out := signals{}
	get := func(sys drm.System) *systemSignals {
		if out[sys] == nil {
			out[sys] = &systemSignals{}
		}
		return out[sys]
	}
	for _, e := range s.Entries {
		ss := get(e.System)
		switch e.Format {
		case issuer.FormatDASH:
			ss.pssh = b64(e.DASH.PSSH)
			ss.cpd = b64([]byte(innerFragment(e.DASH.ContentProtection)))
			if e.System == drm.PlayReady {
				if boxes, err := signaling.ParsePSSH(e.DASH.PSSH); err == nil && len(boxes) == 1 {
					ss.mss = b64(boxes[0].Data)
				}
			}
		case issuer.FormatHLS:
			ss.hlsMedia = b64([]byte(e.HLS.Line))
			ss.hlsMaster = b64([]byte(signaling.SessionKey(e.HLS.Line)))
			ss.uri = b64([]byte(e.HLS.URI))
			ss.keyFormat = b64([]byte(e.HLS.KeyFormat))
			ss.keyFormatVersions = b64([]byte(e.HLS.KeyFormatVersions))
		}
	}
	return out
}

// innerFragment returns what goes inside a ContentProtection element
// (CPIX ContentProtectionData): each child of the standalone element
// signaling writes, with the namespaces it uses declared on itself, so
// that the fragment stands alone and pastes into any MPD.
func innerFragment(contentProtection string) string {
	doc := etree.NewDocument()
	if err := doc.ReadFromString(contentProtection); err != nil || doc.Root() == nil {
		return ""
	}
	root := doc.Root()
	var out string
	for _, c := range root.ChildElements() {
		cc := c.Copy()
		declare(cc, c)
		w := etree.NewDocument()
		w.SetRoot(cc)
		w.WriteSettings.CanonicalEndTags = true
		s, err := w.WriteToString()
		if err != nil {
			return ""
		}
		out += s
	}
	return out
}

// declare puts on cc the declarations of the prefixes cc and its
// descendants use, resolved from orig's scope.
func declare(cc, orig *etree.Element) {
	used := map[string]bool{}
	var walk func(e *etree.Element)
	walk = func(e *etree.Element) {
		used[e.Space] = true
		for _, a := range e.Attr {
			if a.Space != "" && a.Space != "xmlns" {
				used[a.Space] = true
			}
		}
		for _, c := range e.ChildElements() {
			walk(c)
		}
	}
	walk(cc)
	for p := range used {
		uri := orig.NamespaceURI()
		if p != orig.Space {
			uri = lookupPrefix(orig, p)
		}
		if uri == "" {
			continue
		}
		key := "xmlns"
		if p != "" {
			key = "xmlns:" + p
		}
		if cc.SelectAttr(key) == nil {
			cc.CreateAttr(key, uri)
		}
	}
}

// lookupPrefix resolves prefix in e's scope ("" for none).
func lookupPrefix(e *etree.Element, prefix string) string {
	for ; e != nil; e = e.Parent() {
		for _, a := range e.Attr {
			if prefix == "" && a.Space == "" && a.Key == "xmlns" || prefix != "" && a.Space == "xmlns" && a.Key == prefix {
				return a.Value
			}
		}
	}
	return ""
}
