package speke

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/beevik/etree"

	"github.com/keyserver/keyserver/access"
	"github.com/keyserver/keyserver/cpix"
	"github.com/keyserver/keyserver/drm"
	"github.com/keyserver/keyserver/issuer"
)

// maxGetPeriods bounds the crypto periods of one GET document.
const maxGetPeriods = 100

// getQuery is what GET /{tenantId}/cpix/{contentId} asks for.
type getQuery struct {
	contentID  string
	systems    []drm.System
	scheme     drm.Scheme
	tracks     []string // "" alone: one key for every track (ALL)
	start, end time.Time
	live       bool
}

// getTracks are the track types a GET may name: the Widevine API's, so
// that both front-ends give the same key for the same track.
var getTracks = []string{"SD", "HD", "UHD1", "UHD2", "AUDIO"}

func parseGetQuery(contentID string, q url.Values) (*getQuery, error) {
	g := &getQuery{contentID: contentID, scheme: drm.SchemeCBCS}
	if prob := issuer.ContentIDProblem(contentID); prob != "" {
		return nil, badRequest("contentId %s", prob)
	}
	for name := range q {
		switch name {
		case "drm", "scheme", "tracks", "start", "end":
		default:
			return nil, badRequest("unknown query parameter %q: want drm, scheme, tracks, start, end", clip(name))
		}
	}
	switch s := q.Get("scheme"); s {
	case "", "cbcs":
	case "cenc":
		g.scheme = drm.SchemeCENC
	default:
		return nil, badRequest("scheme %q: want cenc or cbcs", clip(s))
	}
	drms := q.Get("drm")
	if drms == "" {
		drms = "WV,PR"
		if g.scheme == drm.SchemeCBCS {
			drms = "WV,PR,FPS"
		}
	}
	for _, name := range strings.Split(drms, ",") {
		s, ok := drm.ParseSystem(strings.TrimSpace(name))
		if !ok {
			return nil, badRequest("drm %q: want WV, PR, FPS or PRM", clip(name))
		}
		if s == drm.FairPlay && g.scheme != drm.SchemeCBCS {
			return nil, badRequest("drm FPS needs scheme cbcs")
		}
		if !slices.Contains(g.systems, s) {
			g.systems = append(g.systems, s)
		}
	}
	if t := q.Get("tracks"); t != "" && t != trackTypeAll {
		for _, name := range strings.Split(t, ",") {
			name = strings.ToUpper(strings.TrimSpace(name))
			if !slices.Contains(getTracks, name) {
				return nil, badRequest("tracks %q: want ALL or a list of %s", clip(name), strings.Join(getTracks, ", "))
			}
			if !slices.Contains(g.tracks, name) {
				g.tracks = append(g.tracks, name)
			}
		}
	} else {
		g.tracks = []string{""}
	}
	start, end := q.Get("start"), q.Get("end")
	if (start == "") != (end == "") {
		return nil, badRequest("start and end go together (RFC 3339 times of a live window)")
	}
	if start != "" {
		var err error
		if g.start, err = time.Parse(time.RFC3339, start); err != nil {
			return nil, badRequest("start %q is not an RFC 3339 time", clip(start))
		}
		if g.end, err = time.Parse(time.RFC3339, end); err != nil {
			return nil, badRequest("end %q is not an RFC 3339 time", clip(end))
		}
		if !g.end.After(g.start) {
			return nil, badRequest("end must be after start")
		}
		g.live = true
	}
	return g, nil
}

// serveGet answers GET /{tenantId}/cpix/{contentId}: a CPIX 2.3 document
// this server authors, with every key, signaling for each DRM asked for,
// the periods of the live window and usage rules for the tracks.
func (h *Handler) serveGet(w http.ResponseWriter, r *http.Request, tenant string) {
	if err := h.authenticate(r, tenant); err != nil {
		h.writeError(w, r, err)
		return
	}
	if h.tenant(tenant).RequireEncryption {
		h.writeError(w, r, &httpError{code: http.StatusForbidden, msg: fmt.Sprintf(
			"tenant %s requires encrypted key delivery: POST a CPIX document naming a recipient instead", clip(tenant))})
		return
	}
	g, err := parseGetQuery(r.PathValue("contentId"), r.URL.Query())
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	access.FromContext(r.Context()).ContentID = g.contentID
	b, err := h.authorDocument(r.Context(), tenant, g)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	h.writeDocument(w, r, plainCPIX, b)
}

// authored is one key of an authored document.
type authored struct {
	track  string
	period int64 // index; -1 for VOD
	start  time.Time
	issued issuer.Issued
}

func (h *Handler) authorDocument(ctx context.Context, tenant string, g *getQuery) (*cpix.Document, error) {
	var outs []issuer.Output
	syss := slices.Clone(g.systems)
	slices.Sort(syss)
	for _, s := range syss {
		dash, hls := formats(s)
		if dash {
			outs = append(outs, issuer.Output{System: s, Format: issuer.FormatDASH})
		}
		if hls {
			outs = append(outs, issuer.Output{System: s, Format: issuer.FormatHLS})
		}
	}
	origin := issuer.Origin{FrontEnd: FrontEnd, Credential: credentialOf(ctx)}
	req := func(track string, at time.Time) issuer.Request {
		r := issuer.Request{Tenant: tenant, ContentID: g.contentID, Scheme: g.scheme, Track: track, Outputs: outs, Origin: origin}
		if g.live {
			r.Period = issuer.Period{Live: true, At: at}
		}
		return r
	}
	// The first key pins (or reads) the content's period length.
	first := req(g.tracks[0], g.start)
	fi, err := h.iss.Issue(ctx, &first)
	if err != nil {
		return nil, getIssueError(err)
	}
	var reqs []issuer.Request
	var keys []authored
	p := fi.Record.PeriodSeconds
	for n, at := 0, g.start; ; n++ {
		for _, tr := range g.tracks {
			reqs = append(reqs, req(tr, at))
			keys = append(keys, authored{track: tr, period: -1})
			if g.live {
				keys[len(keys)-1].period = at.Unix() / p
				keys[len(keys)-1].start = time.Unix(at.Unix()/p*p, 0).UTC()
			}
		}
		if !g.live {
			break
		}
		at = time.Unix((at.Unix()/p+1)*p, 0)
		if !at.Before(g.end) {
			break
		}
		if n+1 >= maxGetPeriods {
			return nil, badRequest("the window holds more than %d crypto periods of %d s", maxGetPeriods, p)
		}
	}
	issued, err := h.iss.IssueBatch(ctx, reqs)
	if err != nil {
		return nil, getIssueError(err)
	}
	for n := range keys {
		keys[n].issued = issued[n]
	}
	return writeAuthored(g, keys, p)
}

func getIssueError(err error) error {
	var pm *issuer.PeriodMismatchError
	switch {
	case errors.As(err, &pm), errors.Is(err, issuer.ErrInvalidRequest):
		return badRequest("%v", err)
	}
	return err
}

// writeAuthored writes the document of an authored answer.
func writeAuthored(g *getQuery, keys []authored, periodSeconds int64) (*cpix.Document, error) {
	doc := cpix.New()
	root := doc.Root
	root.CreateAttr("contentId", g.contentID)
	root.CreateAttr("version", "2.3")
	ckl := doc.NewChild(root, cpix.NS, "ContentKeyList")
	drl := doc.NewChild(root, cpix.NS, "DRMSystemList")
	var cpl *etree.Element
	if g.live {
		cpl = doc.NewChild(root, cpix.NS, "ContentKeyPeriodList")
	}
	rul := doc.NewChild(root, cpix.NS, "ContentKeyUsageRuleList")
	seenPeriod := map[int64]bool{}
	for _, k := range keys {
		rec := k.issued.Record
		ck := doc.NewChild(ckl, cpix.NS, "ContentKey")
		ck.CreateAttr("kid", rec.Key.KID.String())
		ck.CreateAttr("commonEncryptionScheme", g.scheme.String())
		doc.SetPlainValue(ck, rec.Key.Key[:])
		sig := signalsOf(k.issued.Signaling)
		for _, s := range g.systems {
			ss := sig[s]
			if ss == nil {
				continue
			}
			ds := doc.NewChild(drl, cpix.NS, "DRMSystem")
			ds.CreateAttr("kid", rec.Key.KID.String())
			ds.CreateAttr("systemId", s.SystemID())
			for _, v := range []struct{ name, value, playlist string }{
				{"PSSH", ss.pssh, ""}, {"ContentProtectionData", ss.cpd, ""},
				{"HLSSignalingData", ss.hlsMedia, "media"}, {"HLSSignalingData", ss.hlsMaster, "master"},
				{"SmoothStreamingProtectionHeaderData", ss.mss, ""},
			} {
				if v.value == "" {
					continue
				}
				e := doc.NewChild(ds, cpix.NS, v.name)
				if v.playlist != "" {
					e.CreateAttr("playlist", v.playlist)
				}
				e.SetText(v.value)
			}
		}
		periodID := ""
		if k.period >= 0 {
			periodID = "keyPeriod_" + strconv.FormatInt(k.period, 10)
			if !seenPeriod[k.period] {
				seenPeriod[k.period] = true
				cp := doc.NewChild(cpl, cpix.NS, "ContentKeyPeriod")
				cp.CreateAttr("id", periodID)
				cp.CreateAttr("index", strconv.FormatInt(k.period, 10))
				cp.CreateAttr("start", k.start.Format(time.RFC3339))
				cp.CreateAttr("end", k.start.Add(time.Duration(periodSeconds)*time.Second).Format(time.RFC3339))
			}
		}
		rule := doc.NewChild(rul, cpix.NS, "ContentKeyUsageRule")
		rule.CreateAttr("kid", rec.Key.KID.String())
		rule.CreateAttr("intendedTrackType", trackTypeName(k.track))
		if periodID != "" {
			doc.NewChild(rule, cpix.NS, "KeyPeriodFilter").CreateAttr("periodId", periodID)
		}
		writeFilters(doc, rule, k.track, g.tracks)
	}
	return doc, nil
}

func trackTypeName(track string) string {
	if track == "" {
		return trackTypeAll
	}
	return track
}

// writeFilters writes the AWS preset filters of a track (packager-protocols.md
// §2.3): pixel ranges that meet the next track asked for, and a bare
// AudioFilter for AUDIO; ALL gets one bare filter of each.
func writeFilters(doc *cpix.Document, rule *etree.Element, track string, tracks []string) {
	if track == "" {
		doc.NewChild(rule, cpix.NS, "VideoFilter")
		doc.NewChild(rule, cpix.NS, "AudioFilter")
		return
	}
	if track == "AUDIO" {
		doc.NewChild(rule, cpix.NS, "AudioFilter")
		return
	}
	bounds := map[string][2]int64{"SD": {0, 589824}, "HD": {589825, 2073600}, "UHD1": {2073601, 8847360}, "UHD2": {8847361, 0}}
	higher := map[string][]string{"SD": {"HD", "UHD1", "UHD2"}, "HD": {"UHD1", "UHD2"}, "UHD1": {"UHD2"}}
	vf := doc.NewChild(rule, cpix.NS, "VideoFilter")
	b := bounds[track]
	if b[0] > 0 {
		vf.CreateAttr("minPixels", strconv.FormatInt(b[0], 10))
	}
	capped := track == "SD"
	for _, t := range higher[track] {
		if slices.Contains(tracks, t) {
			capped = true
		}
	}
	if capped && b[1] > 0 {
		vf.CreateAttr("maxPixels", strconv.FormatInt(b[1], 10))
	}
}
