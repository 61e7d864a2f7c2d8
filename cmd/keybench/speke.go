package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
)

// The SPEKE scenarios: a SPEKE v2.0 document of 8 keys (MediaPackage's
// PRESET-VIDEO-5 and PRESET-AUDIO-3) for Widevine, PlayReady and FairPlay
// (cbcs), posted to /{tenant}/speke/v2/copyProtection over REST.
//
//   - speke-hit: the same document for a content whose keys exist, in the
//     rounds next to the REST baseline (documents/s, ratio to /healthz);
//   - speke-create: each document a new content with 8 new key ids, next
//     to create (its keys/s is 8 × documents/s).

// spekeKeysPerDocument is the keys of one scenario document.
const spekeKeysPerDocument = 8

var spekeTracks = [spekeKeysPerDocument][2]string{
	{"SD", `<cpix:VideoFilter maxPixels="589824"/>`},
	{"HD1", `<cpix:VideoFilter minPixels="589825" maxPixels="921600"/>`},
	{"HD2", `<cpix:VideoFilter minPixels="921601" maxPixels="2073600"/>`},
	{"UHD1", `<cpix:VideoFilter minPixels="2073601" maxPixels="8847360"/>`},
	{"UHD2", `<cpix:VideoFilter minPixels="8847361"/>`},
	{"STEREO_AUDIO", `<cpix:AudioFilter maxChannels="2"/>`},
	{"MULTICHANNEL_AUDIO_3_6", `<cpix:AudioFilter minChannels="3" maxChannels="6"/>`},
	{"MULTICHANNEL_AUDIO_7", `<cpix:AudioFilter minChannels="7"/>`},
}

var spekeSystems = []string{
	"edef8ba9-79d6-4ace-a3c8-27dcd51d21ed", // Widevine
	"9a04f079-9840-4286-ab92-e65be0885f95", // PlayReady
	"94ce86fb-07ff-4f43-adb8-93d2fa968ca2", // FairPlay
}

// newKID returns a random version-4 UUID.
func newKID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// spekeDocument returns the scenario document for content with new key ids.
func spekeDocument(content string) []byte {
	var kids [spekeKeysPerDocument]string
	for i := range kids {
		kids[i] = newKID()
	}
	var b strings.Builder
	b.Grow(8 << 10)
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?><cpix:CPIX contentId="`)
	b.WriteString(content)
	b.WriteString(`" version="2.3" xmlns:cpix="urn:dashif:org:cpix" xmlns:pskc="urn:ietf:params:xml:ns:keyprov:pskc"><cpix:ContentKeyList>`)
	for _, k := range kids {
		b.WriteString(`<cpix:ContentKey kid="` + k + `" commonEncryptionScheme="cbcs"/>`)
	}
	b.WriteString(`</cpix:ContentKeyList><cpix:DRMSystemList>`)
	for _, k := range kids {
		for _, s := range spekeSystems {
			b.WriteString(`<cpix:DRMSystem kid="` + k + `" systemId="` + s + `"><cpix:PSSH/>`)
			if s != spekeSystems[2] {
				b.WriteString(`<cpix:ContentProtectionData/>`)
			}
			b.WriteString(`<cpix:HLSSignalingData playlist="media"/><cpix:HLSSignalingData playlist="master"/></cpix:DRMSystem>`)
		}
	}
	b.WriteString(`</cpix:DRMSystemList><cpix:ContentKeyUsageRuleList>`)
	for i, k := range kids {
		b.WriteString(`<cpix:ContentKeyUsageRule kid="` + k + `" intendedTrackType="` + spekeTracks[i][0] + `">` + spekeTracks[i][1] + `</cpix:ContentKeyUsageRule>`)
	}
	b.WriteString(`</cpix:ContentKeyUsageRuleList></cpix:CPIX>`)
	return []byte(b.String())
}

// postSpeke posts a document with client w's buffer; only a 200 holding
// key values passes.
func (c *clients) postSpeke(ctx context.Context, w int, path string, doc []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.baseURL+path, bytes.NewReader(doc))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/xml")
	req.Header.Set("X-Speke-Version", "2.0")
	res, err := c.http.Do(req)
	if err != nil {
		return err
	}
	buf := &c.bufs[w]
	buf.Reset()
	_, err = buf.ReadFrom(res.Body)
	res.Body.Close()
	if err != nil {
		return err
	}
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("SPEKE: HTTP %d: %.200s", res.StatusCode, buf.Bytes())
	}
	if bytes.Count(buf.Bytes(), []byte("PlainValue>")) != 2*spekeKeysPerDocument {
		return fmt.Errorf("SPEKE: answer without %d key values", spekeKeysPerDocument)
	}
	return nil
}

// spekeHitOp prepares the speke-hit scenario (one document, its keys
// created first) and returns its op.
func (c *clients) spekeHitOp(ctx context.Context, tenant, runID string) (op, error) {
	path := "/" + tenant + "/speke/v2/copyProtection"
	doc := spekeDocument("speke-" + runID)
	if err := c.postSpeke(ctx, 0, path, doc); err != nil {
		return nil, fmt.Errorf("speke-hit setup: %w", err)
	}
	return func(ctx context.Context, w int, _ int64) error { return c.postSpeke(ctx, w, path, doc) }, nil
}

// spekeCreateOp makes every document a new content with new key ids.
func (c *clients) spekeCreateOp(tenant, runID string) op {
	path := "/" + tenant + "/speke/v2/copyProtection"
	prefix := "speke-create-" + runID + "-"
	var n atomic.Int64
	return func(ctx context.Context, w int, _ int64) error {
		return c.postSpeke(ctx, w, path, spekeDocument(prefix+strconv.FormatInt(n.Add(1), 10)))
	}
}
