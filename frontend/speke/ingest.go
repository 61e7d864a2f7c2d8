package speke

import (
	"context"
	"crypto/rsa"
	"crypto/subtle"
	"encoding/base64"
	"errors"

	"strings"

	"github.com/keyserver/keyserver/cpix"
	"github.com/keyserver/keyserver/drm"
	"github.com/keyserver/keyserver/issuer"
	"github.com/keyserver/keyserver/keystore"
)

// Recipient is this server's own key pair for encrypted key ingest: a
// document POSTed to /{tenantId}/cpix whose keys are encrypted to
// Certificate is opened with Key.
type Recipient struct {
	Certificate []byte // DER
	Key         *rsa.PrivateKey
}

// carriesKeys reports whether a ContentKey of the document holds a value
// (Data/Secret/PlainValue or EncryptedValue): the document brings keys.
func (d *document) carriesKeys() bool {
	for _, k := range d.keys {
		if cpix.Path(k.e, cpix.NS, "Data", cpix.NSPSKC, "Secret") != nil {
			return true
		}
	}
	return false
}

// ingest stores the keys a plain CPIX document brings as supplied keys,
// with the conflict rules of the native API (the same key id with the same
// key is idempotent; with another key, or bound to another content, 409),
// and answers the document with its signaling filled and its key values as
// sent. Keys encrypted in it must be encrypted to this server's Recipient.
func (h *Handler) ingest(ctx context.Context, doc *cpix.Document, d *document, tenant string) (*cpix.Document, error) {
	var dk *cpix.DeliveryKeys
	if len(d.delivery) > 0 {
		if h.cfg.Recipient == nil {
			return nil, unprocessable("the document's keys are encrypted, but this server has no recipient certificate configured for ingest")
		}
		var err error
		if dk, _, err = doc.OpenDeliveryData(h.cfg.Recipient.Key); err != nil {
			return nil, unprocessable("DeliveryDataList: %v", err)
		}
	}
	for _, k := range d.keys {
		if cpix.Path(k.e, cpix.NS, "Data", cpix.NSPSKC, "Secret") == nil {
			return nil, unprocessable("ContentKey %s has no value: a document that brings keys must bring all of them", k.kidText)
		}
		value, err := doc.ContentKeyValue(k.e, dk)
		if err != nil {
			return nil, unprocessable("ContentKey %s: %v", k.kidText, err)
		}
		if len(value) != len(drm.Key{}) {
			return nil, unprocessable("ContentKey %s: the key is %d bytes, want 16", k.kidText, len(value))
		}
		sup := &keystore.Supplied{KID: k.kid}
		copy(sup.Key[:], value)
		clear(value)
		if iv, ok := cpix.Attr(k.e, "explicitIV"); ok {
			b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(iv))
			if err != nil || len(b) != len(drm.IV{}) {
				return nil, unprocessable("ContentKey %s: explicitIV is not base64 of 16 bytes", k.kidText)
			}
			var v drm.IV
			copy(v[:], b)
			sup.IV = &v
		}
		req := issuer.Request{Tenant: tenant, ContentID: k.contentID, Scheme: k.scheme, Track: k.kid.Hex(),
			Supplied: sup, Outputs: outputsFor(k), Origin: issuer.Origin{FrontEnd: FrontEnd, Credential: credentialOf(ctx)}}
		out, err := h.iss.Issue(ctx, &req)
		if errors.Is(err, keystore.ErrConflict) {
			out, err = h.sameKey(ctx, &req)
		}
		if err != nil {
			return nil, issueError(err, k)
		}
		k.issued = out
	}
	for _, s := range d.systems {
		ss, err := h.systemSignals(s, tenant)
		if err != nil {
			return nil, err
		}
		if err := d.fillSystem(s, ss); err != nil {
			return nil, err
		}
	}
	return doc, nil
}

// sameKey answers a supplied key whose key id the tenant already has:
// idempotent if it is the same key of the same content (issued through
// any front-end), a conflict otherwise.
func (h *Handler) sameKey(ctx context.Context, req *issuer.Request) (issuer.Issued, error) {
	kid := req.Supplied.KID
	b := *req
	b.Supplied = nil
	out, err := h.iss.BindKeyID(ctx, &b, kid)
	if err != nil {
		return issuer.Issued{}, err
	}
	k := out.Record.Key
	if subtle.ConstantTimeCompare(k.Key[:], req.Supplied.Key[:]) != 1 ||
		req.Supplied.IV != nil && subtle.ConstantTimeCompare(k.IV[:], req.Supplied.IV[:]) != 1 {
		return issuer.Issued{}, keystore.ErrConflict
	}
	return out, nil
}

// dialect is the MACMethod form written for the tenant's clients: the
// tenant's choice, else AWS's on the SPEKE routes and DASH-IF's (the test
// vectors', Axinom's) on /cpix.
func (t Tenant) dialect(p profile) cpix.MACDialect {
	switch t.MACDialect {
	case "aws":
		return cpix.DialectAWS
	case "dashif":
		return cpix.DialectDASHIF
	case "pskc":
		return cpix.DialectPSKC
	}
	if p == plainCPIX {
		return cpix.DialectDASHIF
	}
	return cpix.DialectAWS
}
