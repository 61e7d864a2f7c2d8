package cpix

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"errors"
	"fmt"
	"io"

	"github.com/beevik/etree"
)

// MACDialect selects where WriteDeliveryData puts the wrapped MAC key. The
// CPIX XSD types MACMethod as pskc:MACMethodType, but real peers disagree:
//
//   - DialectDASHIF: MACMethod/cpix:Key/{enc:EncryptionMethod, enc:CipherData},
//     as the DASH-IF test vectors and the Axinom library (which refuses
//     anything else) write and read it.
//   - DialectAWS: MACMethod/cpix:Key/{pskc:EncryptedValue, pskc:ValueMAC},
//     as AWS's SPEKE documentation and speke-reference-server write it; that
//     server also adds DocumentKey@Algorithm (aes256-cbc) and a
//     pskc:ValueMAC after the DocumentKey's EncryptedValue and after the
//     MAC key's, each an HMAC-SHA512 of the RSA ciphertext beside it under
//     the MAC key. This dialect writes them too, except DocumentKey@Algorithm
//     in a document of CPIX@version 2.4, whose XSD no longer allows it.
//   - DialectPSKC: MACMethod/pskc:MACKey/{enc:EncryptionMethod,
//     enc:CipherData}, what RFC 6030's schema says.
//
// OpenDeliveryData reads all three.
type MACDialect int

// The dialects; the zero MACDialect is none of them and is refused.
const (
	DialectDASHIF MACDialect = iota + 1
	DialectAWS
	DialectPSKC
)

// String returns "DASH-IF", "AWS", "PSKC" or MACDialect(n).
func (m MACDialect) String() string {
	switch m {
	case DialectDASHIF:
		return "DASH-IF"
	case DialectAWS:
		return "AWS"
	case DialectPSKC:
		return "PSKC"
	}
	return fmt.Sprintf("MACDialect(%d)", int(m))
}

// ErrCertificate is wrapped by ParseRecipient's refusals.
var ErrCertificate = errors.New("cpix: recipient certificate refused")

// ErrNoRecipient: no DeliveryData of the document is for the private key
// given (or the document has none).
var ErrNoRecipient = errors.New("cpix: no DeliveryData for this private key")

// Recipient is the holder of an X.509 certificate that content keys are
// encrypted for.
type Recipient struct {
	Certificate []byte         // DER, exactly as given to ParseRecipient
	PublicKey   *rsa.PublicKey // the certificate's key
}

// MinRSABits is the smallest RSA key ParseRecipient accepts: 2048 bits, the
// size SPEKE requires (AWS Certificate Manager certificates). CPIX itself
// recommends at least 3072; see ParseRecipientMinBits.
const MinRSABits = 2048

// ParseRecipient parses a DER certificate as a CPIX recipient. It refuses,
// with errors wrapping ErrCertificate, a certificate that does not parse,
// a key that is not RSA, an RSA key shorter than MinRSABits and a
// certificate signed with SHA-1 or MD5 (or an algorithm Go does not know).
// Validity dates and the issuer are not checked: the certificate only
// carries the key the peer chose.
//
// Certificates with a negative serial number (DASH-IF's Cert2 and Cert4;
// Go refuses them since 1.23) are accepted: when x509.ParseCertificate
// refuses one, ParseRecipient parses a copy whose serial number is replaced
// by 1, so every other check of x509.ParseCertificate still applies.
// Recipient.Certificate keeps the original bytes.
func ParseRecipient(der []byte) (*Recipient, error) {
	return ParseRecipientMinBits(der, MinRSABits)
}

// ParseRecipientMinBits is ParseRecipient with a larger minimum RSA key
// size, such as the 3072 bits CPIX recommends (the DASH-IF vector
// WeakCert_SmallKey has 2048). A minBits below MinRSABits means MinRSABits.
func ParseRecipientMinBits(der []byte, minBits int) (*Recipient, error) {
	minBits = max(minBits, MinRSABits)
	c, err := parseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCertificate, err)
	}
	pub, ok := c.PublicKey.(*rsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("%w: its key is %v, not RSA", ErrCertificate, c.PublicKeyAlgorithm)
	}
	if n := pub.N.BitLen(); n < minBits {
		return nil, fmt.Errorf("%w: its RSA key has %d bits, fewer than %d", ErrCertificate, n, minBits)
	}
	switch c.SignatureAlgorithm {
	case x509.MD2WithRSA, x509.MD5WithRSA, x509.SHA1WithRSA, x509.DSAWithSHA1, x509.ECDSAWithSHA1:
		return nil, fmt.Errorf("%w: it is signed with %v; SHA-1 and MD5 signatures are not accepted", ErrCertificate, c.SignatureAlgorithm)
	case x509.UnknownSignatureAlgorithm:
		return nil, fmt.Errorf("%w: its signature algorithm is unknown", ErrCertificate)
	}
	return &Recipient{Certificate: append([]byte(nil), der...), PublicKey: pub}, nil
}

// parseCertificate is x509.ParseCertificate that also accepts a negative
// serial number (see ParseRecipient).
func parseCertificate(der []byte) (*x509.Certificate, error) {
	c, err := x509.ParseCertificate(der)
	if err == nil {
		return c, nil
	}
	if fixed, ok := positiveSerial(der); ok {
		if c, err2 := x509.ParseCertificate(fixed); err2 == nil {
			return c, nil
		}
	}
	return nil, err
}

// positiveSerial returns a copy of the certificate der with its serial
// number replaced by 1 if that serial number is negative, and false
// otherwise. The copy's signature no longer matches; it is parsed, never
// verified or sent.
func positiveSerial(der []byte) ([]byte, bool) {
	var cert struct {
		TBS, SigAlg, Sig asn1.RawValue
	}
	if rest, err := asn1.Unmarshal(der, &cert); err != nil || len(rest) != 0 {
		return nil, false
	}
	tbs := cert.TBS.Bytes
	var first, serial asn1.RawValue
	rest, err := asn1.Unmarshal(tbs, &first)
	if err != nil {
		return nil, false
	}
	var version []byte
	if first.Class == asn1.ClassContextSpecific && first.Tag == 0 {
		version = first.FullBytes
		if rest, err = asn1.Unmarshal(rest, &serial); err != nil {
			return nil, false
		}
	} else {
		serial = first
	}
	if serial.Class != asn1.ClassUniversal || serial.Tag != asn1.TagInteger || len(serial.Bytes) == 0 || serial.Bytes[0]&0x80 == 0 {
		return nil, false
	}
	body := append(append(append([]byte(nil), version...), 0x02, 0x01, 0x01), rest...)
	newTBS, err := asn1.Marshal(asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSequence, IsCompound: true, Bytes: body})
	if err != nil {
		return nil, false
	}
	all := append(append(newTBS, cert.SigAlg.FullBytes...), cert.Sig.FullBytes...)
	out, err := asn1.Marshal(asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSequence, IsCompound: true, Bytes: all})
	if err != nil {
		return nil, false
	}
	return out, true
}

// DeliveryData returns the document's DeliveryDataList/DeliveryData
// elements (none for a document that asks for keys in the clear).
func (d *Document) DeliveryData() []*etree.Element {
	return Children(Child(d.Root, NS, "DeliveryDataList"), NS, "DeliveryData")
}

// certificates returns the DER certificates of DeliveryData dd's
// DeliveryKey/ds:X509Data/ds:X509Certificate elements.
func certificates(dd *etree.Element) ([][]byte, error) {
	var out [][]byte
	for _, xd := range Children(Child(dd, NS, "DeliveryKey"), NSDS, "X509Data") {
		for _, xc := range Children(xd, NSDS, "X509Certificate") {
			der, err := Base64Text(xc)
			if err != nil {
				return nil, err
			}
			out = append(out, der)
		}
	}
	return out, nil
}

// RecipientOf parses the certificate in DeliveryData dd
// (DeliveryKey/ds:X509Data/ds:X509Certificate) with ParseRecipient. It is
// an error if there is none, or more than one.
func RecipientOf(dd *etree.Element) (*Recipient, error) {
	certs, err := certificates(dd)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCertificate, err)
	}
	if len(certs) != 1 {
		return nil, fmt.Errorf("%w: DeliveryData has %d DeliveryKey/X509Data/X509Certificate elements, want 1", ErrCertificate, len(certs))
	}
	return ParseRecipient(certs[0])
}

// WriteDeliveryData makes DeliveryData dd deliver k to recipient r: it
// writes DocumentKey (k.DocumentKey) and MACMethod (hmac-sha512, k.MACKey)
// in the given dialect, each key wrapped with RSA-OAEP (SHA-1, MGF1-SHA-1)
// under r.PublicKey with randomness from random (crypto/rand when nil).
// Existing DocumentKey and MACMethod elements are replaced; other children
// (Description, SendingEntity, …) stay. If dd has no DeliveryKey, one is
// written with r's certificate; if it has one, it must hold r's certificate.
// The document is unchanged on error.
func (d *Document) WriteDeliveryData(dd *etree.Element, r *Recipient, k *DeliveryKeys, dialect MACDialect, random io.Reader) error {
	switch {
	case !Is(dd, NS, "DeliveryData"):
		return errors.New("cpix: WriteDeliveryData: not a DeliveryData element")
	case r == nil || r.PublicKey == nil:
		return errors.New("cpix: WriteDeliveryData: no recipient")
	case k == nil:
		return fmt.Errorf("cpix: WriteDeliveryData: %w", ErrNeedDeliveryKeys)
	case dialect < DialectDASHIF || dialect > DialectPSKC:
		return fmt.Errorf("cpix: WriteDeliveryData: unknown %v", dialect)
	}
	if Child(dd, NS, "DeliveryKey") != nil {
		certs, err := certificates(dd)
		if err != nil || len(certs) != 1 || !bytes.Equal(certs[0], r.Certificate) {
			return errors.New("cpix: WriteDeliveryData: the DeliveryData's DeliveryKey does not hold the recipient's certificate")
		}
	}
	if random == nil {
		random = rand.Reader
	}
	wrappedDoc, err := rsa.EncryptOAEP(sha1.New(), random, r.PublicKey, k.DocumentKey[:], nil)
	if err != nil {
		return fmt.Errorf("cpix: wrapping the document key: %v", err)
	}
	wrappedMAC, err := rsa.EncryptOAEP(sha1.New(), random, r.PublicKey, k.MACKey[:], nil)
	if err != nil {
		return fmt.Errorf("cpix: wrapping the MAC key: %v", err)
	}

	if Child(dd, NS, "DeliveryKey") == nil {
		x := d.NewChild(d.NewChild(d.NewChild(dd, NS, "DeliveryKey"), NSDS, "X509Data"), NSDS, "X509Certificate")
		x.SetText(base64.StdEncoding.EncodeToString(r.Certificate))
	}
	removeChildren(dd, NS, "DocumentKey")
	removeChildren(dd, NS, "MACMethod")

	dk := d.NewChild(dd, NS, "DocumentKey")
	if dialect == DialectAWS && d.Version() != "2.4" { // the 2.4 XSD has no DocumentKey@Algorithm
		dk.CreateAttr("Algorithm", AlgAES256CBC)
	}
	s := d.NewChild(d.NewChild(dk, NS, "Data"), NSPSKC, "Secret")
	d.writeEncrypted(d.NewChild(s, NSPSKC, "EncryptedValue"), AlgRSAOAEP, wrappedDoc)
	if dialect == DialectAWS {
		d.NewChild(s, NSPSKC, "ValueMAC").SetText(base64.StdEncoding.EncodeToString(mac(k, wrappedDoc)))
	}

	mm := d.NewChild(dd, NS, "MACMethod")
	mm.CreateAttr("Algorithm", AlgHMACSHA512)
	switch dialect {
	case DialectDASHIF:
		d.writeEncrypted(d.NewChild(mm, NS, "Key"), AlgRSAOAEP, wrappedMAC)
	case DialectAWS:
		key := d.NewChild(mm, NS, "Key")
		d.writeEncrypted(d.NewChild(key, NSPSKC, "EncryptedValue"), AlgRSAOAEP, wrappedMAC)
		d.NewChild(key, NSPSKC, "ValueMAC").SetText(base64.StdEncoding.EncodeToString(mac(k, wrappedMAC)))
	case DialectPSKC:
		d.writeEncrypted(d.NewChild(mm, NSPSKC, "MACKey"), AlgRSAOAEP, wrappedMAC)
	}
	return nil
}

// WrapDeliveryKeys writes DocumentKey and MACMethod for every DeliveryData
// of the document (WriteDeliveryData), all with the same k, as CPIX
// specifies: one document key and one MAC key per document, wrapped for
// each recipient. Every recipient certificate is parsed (RecipientOf) before
// anything is written, so a refused certificate leaves the document
// unchanged. It returns the number of recipients; 0 means the document
// asks for keys in the clear.
func (d *Document) WrapDeliveryKeys(k *DeliveryKeys, dialect MACDialect, random io.Reader) (int, error) {
	dds := d.DeliveryData()
	rs := make([]*Recipient, len(dds))
	for i, dd := range dds {
		r, err := RecipientOf(dd)
		if err != nil {
			return 0, fmt.Errorf("%w (DeliveryData %d)", err, i+1)
		}
		rs[i] = r
	}
	for i, dd := range dds {
		if err := d.WriteDeliveryData(dd, rs[i], k, dialect, random); err != nil {
			return 0, err
		}
	}
	return len(dds), nil
}

// OpenDeliveryData finds the DeliveryData whose certificate holds priv's
// public key and unwraps its document key and MAC key, in any of the three
// MACMethod dialects. Where the AWS dialect adds ValueMACs over the wrapped
// keys they are verified too. It returns ErrNoRecipient when no
// DeliveryData matches, and errors wrapping ErrUnsupported, ErrBadValue or
// ErrMACMismatch for a matching one it cannot open. A DocumentKey with
// @encryptsKey (CPIX 2.4 per-key document keys) is not supported.
func (d *Document) OpenDeliveryData(priv *rsa.PrivateKey) (*DeliveryKeys, *etree.Element, error) {
	if priv == nil {
		return nil, nil, errors.New("cpix: OpenDeliveryData: no private key")
	}
	for i, dd := range d.DeliveryData() {
		certs, err := certificates(dd)
		if err != nil {
			return nil, nil, fmt.Errorf("%w (DeliveryData %d)", err, i+1)
		}
		for _, der := range certs {
			c, err := parseCertificate(der)
			if err != nil {
				continue // someone else's certificate Go cannot read
			}
			if pub, ok := c.PublicKey.(*rsa.PublicKey); ok && pub.Equal(&priv.PublicKey) {
				k, err := openDeliveryData(dd, priv)
				if err != nil {
					return nil, nil, fmt.Errorf("%w (DeliveryData %d)", err, i+1)
				}
				return k, dd, nil
			}
		}
	}
	return nil, nil, ErrNoRecipient
}

func openDeliveryData(dd *etree.Element, priv *rsa.PrivateKey) (*DeliveryKeys, error) {
	dks := Children(dd, NS, "DocumentKey")
	if len(dks) != 1 {
		return nil, fmt.Errorf("%w: %d DocumentKey elements (CPIX 2.4 per-key document keys)", ErrUnsupported, len(dks))
	}
	if _, ok := Attr(dks[0], "encryptsKey"); ok {
		return nil, fmt.Errorf("%w: DocumentKey@encryptsKey (CPIX 2.4 per-key document keys)", ErrUnsupported)
	}
	if a, ok := Attr(dks[0], "Algorithm"); ok && a != AlgAES256CBC {
		return nil, fmt.Errorf("%w: DocumentKey algorithm %q", ErrUnsupported, a)
	}
	docSecret := Path(dks[0], NS, "Data", NSPSKC, "Secret")
	docEV := Child(docSecret, NSPSKC, "EncryptedValue")
	if docEV == nil {
		return nil, fmt.Errorf("%w: DocumentKey has no Data/Secret/EncryptedValue", ErrBadValue)
	}
	wrappedDoc, err := readEncrypted(docEV, AlgRSAOAEP, "DocumentKey")
	if err != nil {
		return nil, err
	}

	mm := Child(dd, NS, "MACMethod")
	if mm == nil {
		return nil, fmt.Errorf("%w: DeliveryData has no MACMethod", ErrBadValue)
	}
	if a, _ := Attr(mm, "Algorithm"); a != AlgHMACSHA512 {
		return nil, fmt.Errorf("%w: MACMethod algorithm %q", ErrUnsupported, a)
	}
	var macContainer, macValueMAC *etree.Element
	switch key := Child(mm, NS, "Key"); {
	case Child(mm, NSPSKC, "MACKey") != nil: // PSKC
		macContainer = Child(mm, NSPSKC, "MACKey")
	case key != nil && Child(key, NSPSKC, "EncryptedValue") != nil: // AWS
		macContainer = Child(key, NSPSKC, "EncryptedValue")
		macValueMAC = Child(key, NSPSKC, "ValueMAC")
	case key != nil: // DASH-IF
		macContainer = key
	default:
		return nil, fmt.Errorf("%w: MACMethod has neither Key nor pskc:MACKey", ErrBadValue)
	}
	wrappedMAC, err := readEncrypted(macContainer, AlgRSAOAEP, "MACMethod key")
	if err != nil {
		return nil, err
	}

	k := new(DeliveryKeys)
	if err := unwrap(priv, wrappedDoc, k.DocumentKey[:], "document key"); err != nil {
		return nil, err
	}
	if err := unwrap(priv, wrappedMAC, k.MACKey[:], "MAC key"); err != nil {
		return nil, err
	}
	if macValueMAC != nil {
		if err := checkMAC(k, macValueMAC, wrappedMAC, "MACMethod key"); err != nil {
			return nil, err
		}
	}
	if mv := Child(docSecret, NSPSKC, "ValueMAC"); mv != nil {
		if err := checkMAC(k, mv, wrappedDoc, "DocumentKey"); err != nil {
			return nil, err
		}
	}
	return k, nil
}

// unwrap RSA-OAEP-decrypts wrapped into dst, which it must fill exactly.
func unwrap(priv *rsa.PrivateKey, wrapped, dst []byte, what string) error {
	v, err := rsa.DecryptOAEP(sha1.New(), nil, priv, wrapped, nil)
	if err != nil {
		return fmt.Errorf("%w: the %s does not RSA-OAEP-decrypt with this private key", ErrBadValue, what)
	}
	defer clear(v)
	if len(v) != len(dst) {
		return fmt.Errorf("%w: the %s is %d bytes, want %d", ErrBadValue, what, len(v), len(dst))
	}
	copy(dst, v)
	return nil
}

// Decrypt turns an encrypted document into a clear one for the holder of
// priv (an operator's tool): every ContentKey's EncryptedValue and
// ValueMAC become a PlainValue, and DeliveryDataList is removed. Signatures
// over the changed elements no longer verify. Every value is decrypted
// (and its MAC checked) before the document is changed, so on error it is
// unchanged. Errors are those of OpenDeliveryData (ErrNoRecipient also for
// a document without DeliveryDataList) and ContentKeyValue.
func (d *Document) Decrypt(priv *rsa.PrivateKey) error {
	k, _, err := d.OpenDeliveryData(priv)
	if err != nil {
		return err
	}
	type clearKey struct {
		ck  *etree.Element
		key []byte
	}
	var keys []clearKey
	defer func() {
		for _, c := range keys {
			clear(c.key)
		}
	}()
	for _, ck := range d.ContentKeys() {
		if Path(ck, NS, "Data", NSPSKC, "Secret", NSPSKC, "EncryptedValue") == nil {
			continue
		}
		v, err := d.ContentKeyValue(ck, k)
		if err != nil {
			return err
		}
		keys = append(keys, clearKey{ck, v})
	}
	for _, c := range keys {
		d.SetPlainValue(c.ck, c.key)
	}
	removeChildren(d.Root, NS, "DeliveryDataList")
	return nil
}
