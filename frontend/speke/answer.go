package speke

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"sync"

	"github.com/beevik/etree"

	"github.com/keyserver/keyserver/access"
	"github.com/keyserver/keyserver/cpix"
	"github.com/keyserver/keyserver/issuer"
	"github.com/keyserver/keyserver/keystore"
	"github.com/keyserver/keyserver/signaling"
)

// answer fills a document for tenant and returns the answer's bytes.
func (h *Handler) answer(ctx context.Context, doc *cpix.Document, tenant string, p profile) (*cpix.Document, error) {
	d, err := resolve(doc.Root, p)
	if err != nil {
		return nil, err
	}
	access.FromContext(ctx).ContentID = d.contentID
	if p == plainCPIX && d.carriesKeys() {
		return h.ingest(ctx, doc, d, tenant)
	}
	pol := h.tenant(tenant)
	if len(d.delivery) == 0 && pol.RequireEncryption {
		return nil, &httpError{code: http.StatusForbidden, msg: fmt.Sprintf(
			"tenant %s requires encrypted key delivery: the document names no recipient (DeliveryDataList/DeliveryData/DeliveryKey)", clip(tenant))}
	}
	recipients, err := d.recipients()
	if err != nil {
		return nil, err
	}
	if err := h.issueAll(ctx, d, tenant); err != nil {
		return nil, err
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
	if p.v2() {
		stripV1(d.root)
	}
	if err := writeKeys(doc, d, recipients, pol.dialect(p)); err != nil {
		return nil, err
	}
	return doc, nil
}

// issueAll binds every key id of the document. Keys that exist are looked
// up one after the other (a lookup is cheaper than a goroutine); from the
// first key the document creates on, the rest are bound at most
// issueParallel at once, so that the new keys of one document share store
// commits.
func (h *Handler) issueAll(ctx context.Context, d *document, tenant string) error {
	const issueParallel = 8
	errs := make([]error, len(d.keys))
	origin := issuer.Origin{FrontEnd: FrontEnd, Credential: credentialOf(ctx)}
	issue := func(n int) {
		k := d.keys[n]
		req := issuer.Request{Tenant: tenant, ContentID: k.contentID, Scheme: k.scheme, Outputs: outputsFor(k), Origin: origin}
		k.issued, errs[n] = h.iss.BindKeyID(ctx, &req, k.kid)
	}
	n := 0
	for ; n < len(d.keys); n++ {
		issue(n)
		if errs[n] != nil {
			return issueError(errs[n], d.keys[n])
		}
		if d.keys[n].issued.Created {
			n++
			break
		}
	}
	sem := make(chan struct{}, issueParallel)
	var wg sync.WaitGroup
	for i := n; i < len(d.keys); i++ {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			issue(i)
		})
	}
	wg.Wait()
	for n, err := range errs {
		if err != nil {
			return issueError(err, d.keys[n])
		}
	}
	return nil
}

// issueError turns an issuer error into the client's refusal where it is
// the client's.
func issueError(err error, k *contentKey) error {
	switch {
	case errors.Is(err, issuer.ErrKeyIDBound):
		return &httpError{code: http.StatusConflict, msg: fmt.Sprintf("ContentKey@kid %s is already bound to another content of this tenant", k.kidText)}
	case errors.Is(err, keystore.ErrConflict):
		return &httpError{code: http.StatusConflict, msg: fmt.Sprintf("ContentKey@kid %s conflicts with a stored key", k.kidText)}
	case errors.Is(err, issuer.ErrInvalidRequest), errors.Is(err, signaling.ErrInvalidContentID),
		errors.Is(err, signaling.ErrHeaderTooLarge), errors.Is(err, signaling.ErrUnsupportedScheme):
		return unprocessable("ContentKey %s: %v", k.kidText, err)
	}
	return err
}

// systemSignals returns the values of one DRMSystem's key.
func (h *Handler) systemSignals(s *drmSystem, tenant string) (*systemSignals, error) {
	if s.kind == kindAES128 {
		if h.cfg.KeyURL == nil {
			return nil, unprocessable("DRMSystem %s (HLS AES-128) is not served: no key delivery URL is configured", s.systemID)
		}
		return aes128Signals(h.cfg.KeyURL(tenant, s.key.kid)), nil
	}
	if ss := signalsOf(s.key.issued.Signaling)[s.sys]; ss != nil {
		return ss, nil
	}
	return &systemSignals{}, nil
}

// aes128Signals are the HLS AES-128 values: the key is fetched by URL.
func aes128Signals(url string) *systemSignals {
	line := `#EXT-X-KEY:METHOD=AES-128,URI="` + url + `",KEYFORMAT="identity",KEYFORMATVERSIONS="1"`
	return &systemSignals{
		hlsMedia:  b64([]byte(line)),
		hlsMaster: b64([]byte("#EXT-X-SESSION-KEY:" + line[len("#EXT-X-KEY:"):])),
		uri:       b64([]byte(url)), keyFormat: b64([]byte("identity")), keyFormatVersions: b64([]byte("1")),
	}
}

// writeKeys puts every key value into the document: in the clear, or
// encrypted for the recipients (one document key and MAC key, wrapped
// for each).
func writeKeys(doc *cpix.Document, d *document, recipients []*cpix.Recipient, dialect cpix.MACDialect) error {
	if len(recipients) == 0 {
		for _, k := range d.keys {
			doc.SetPlainValue(k.e, k.issued.Record.Key.Key[:])
		}
		return nil
	}
	dk, err := cpix.GenerateDeliveryKeys(rand.Reader)
	if err != nil {
		return err
	}
	for n, r := range recipients {
		if err := doc.WriteDeliveryData(d.delivery[n], r, dk, dialect, rand.Reader); err != nil {
			return err
		}
	}
	for _, k := range d.keys {
		if err := doc.SetEncryptedValue(k.e, k.issued.Record.Key.Key[:], dk, rand.Reader); err != nil {
			return err
		}
	}
	return nil
}

// recipients parses the certificate of every DeliveryData.
func (d *document) recipients() ([]*cpix.Recipient, error) {
	var out []*cpix.Recipient
	for n, dd := range d.delivery {
		der, err := deliveryCertificate(dd)
		if err != nil {
			return nil, unprocessable("DeliveryData %d: %v", n+1, err)
		}
		// SPEKE requires 2048-bit certificates (AWS Certificate Manager);
		// plain CPIX gets the 3072 bits its specification recommends.
		minBits := cpix.MinRSABits
		if d.profile == plainCPIX {
			minBits = 3072
		}
		r, err := cpix.ParseRecipientMinBits(der, minBits)
		if err != nil {
			return nil, unprocessable("DeliveryData %d: %v", n+1, err)
		}
		out = append(out, r)
	}
	return out, nil
}

// deliveryCertificate returns the DER of DeliveryKey/X509Data/X509Certificate.
func deliveryCertificate(dd *etree.Element) ([]byte, error) {
	c := cpix.Path(dd, cpix.NS, "DeliveryKey", cpix.NSDS, "X509Data", cpix.NSDS, "X509Certificate")
	if c == nil {
		return nil, errors.New("DeliveryKey/X509Data/X509Certificate is missing")
	}
	der, err := cpix.Base64Text(c)
	if err != nil || len(der) == 0 {
		return nil, errors.New("X509Certificate is not base64 of a certificate")
	}
	return der, nil
}
