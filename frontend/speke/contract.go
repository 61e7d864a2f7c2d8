package speke

import (
	"slices"
	"strings"
)

// The SPEKE v2 encryption contract (packager-protocols.md §2.3): the
// intendedTrackType names of the AWS presets and what filters each takes.
var (
	videoTrackTypes = map[string]bool{"VIDEO": true, "SD": true, "HD": true, "HD1": true, "HD2": true,
		"UHD": true, "UHD1": true, "UHD2": true, "HDR": true, "HFR": true}
	audioTrackTypes = map[string]bool{"AUDIO": true, "STEREO_AUDIO": true, "MULTICHANNEL_AUDIO": true,
		"MULTICHANNEL_AUDIO_3_6": true, "MULTICHANNEL_AUDIO_7": true}
)

// trackTypeAll is the SHARED preset: one key for audio and video.
const trackTypeAll = "ALL"

// checkContract checks the usage rules of a SPEKE v2 document: every rule
// has a VideoFilter or an AudioFilter, of the kinds its intendedTrackType's
// preset names call for, intendedTrackType unique within a crypto period,
// and ALL alone with exactly one bare VideoFilter and one bare AudioFilter.
func checkContract(rules []*usageRule) error {
	groups := map[string][]*usageRule{}
	for _, r := range rules {
		if err := checkRule(r); err != nil {
			return err
		}
		ids := slices.Clone(r.periodIDs)
		slices.Sort(ids)
		g := strings.Join(ids, " ")
		groups[g] = append(groups[g], r)
	}
	for _, g := range groups {
		seen := map[string]bool{}
		for _, r := range g {
			if r.trackType == trackTypeAll && len(g) > 1 {
				return unprocessable("intendedTrackType ALL cannot be combined with other ContentKeyUsageRules")
			}
			if seen[r.trackType] {
				return unprocessable("intendedTrackType %q is used by more than one ContentKeyUsageRule", clip(r.trackType))
			}
			seen[r.trackType] = true
		}
	}
	return nil
}

func checkRule(r *usageRule) error {
	if len(r.video)+len(r.audio) == 0 {
		return unprocessable("ContentKeyUsageRule %q (KID %s) has neither VideoFilter nor AudioFilter", clip(r.trackType), r.key.kidText)
	}
	if r.trackType == trackTypeAll {
		if len(r.video) != 1 || len(r.audio) != 1 || len(r.video[0].Attr) != 0 || len(r.audio[0].Attr) != 0 {
			return unprocessable("intendedTrackType ALL needs exactly one VideoFilter and one AudioFilter, both without attributes (KID %s)", r.key.kidText)
		}
		return nil
	}
	// A '+' combination of preset names (SD+HD1) takes one filter per part
	// or fewer covering several (one VideoFilter maxPixels=921600): refuse
	// only a kind of filter without a part of that kind, or more filters
	// of a kind than parts.
	video, audio := 0, 0
	for _, p := range strings.Split(r.trackType, "+") {
		switch {
		case videoTrackTypes[p]:
			video++
		case audioTrackTypes[p]:
			audio++
		default:
			return nil // not a preset name: kept as sent
		}
	}
	if (video > 0) != (len(r.video) > 0) || (audio > 0) != (len(r.audio) > 0) || len(r.video) > video || len(r.audio) > audio {
		return unprocessable("ContentKeyUsageRule %q (KID %s) has %d VideoFilter and %d AudioFilter, which do not match its intendedTrackType",
			clip(r.trackType), r.key.kidText, len(r.video), len(r.audio))
	}
	return nil
}
