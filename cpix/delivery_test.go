package cpix

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"
)

// readmeKeys are the decrypted content keys of EncryptedContentKeys.xml as
// listed in testdata/vectors/Readme.md (kid → base64 key).
var readmeKeys = map[string]string{
	"bd5adf51-cf04-410f-aac3-ec63a69e929e": "3rWoHYasQubO6HbJGrGtLw==",
	"d2920429-87ab-41e6-a4c5-a8c836b6312e": "O5w9FdZiwmQK4uIXzAziaQ==",
	"e17ba4b8-faff-4d30-bcba-7485e3f2e884": "Cwu/3hSBBRQ7SurBdZD5ow==",
	"0ae6b9ad-92d2-4ebe-882b-1d07dee70715": "FB6/Eck9Y9SXy6bY8UU/Mw==",
}

func privateKey(t testing.TB, cert string) *rsa.PrivateKey {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "vectors", "pem", cert+".key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatalf("%s: no PEM block", cert)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return k.(*rsa.PrivateKey)
}

func certDER(t testing.TB, name string) []byte {
	t.Helper()
	return readVector(t, name+".cer")
}

func recipient(t testing.TB, cert string) *Recipient {
	t.Helper()
	r, err := ParseRecipient(certDER(t, cert))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func contentKeys(d *Document) []*etree.Element {
	return Children(Child(d.Root, NS, "ContentKeyList"), NS, "ContentKey")
}

// values decrypts every content key of d with k: kid → base64 key.
func values(t *testing.T, d *Document, k *DeliveryKeys) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, ck := range contentKeys(d) {
		v, err := d.ContentKeyValue(ck, k)
		if err != nil {
			t.Fatal(err)
		}
		kid, _ := Attr(ck, "kid")
		out[kid] = base64.StdEncoding.EncodeToString(v)
	}
	return out
}

func sameMap(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestVector_EncryptedContentKeys(t *testing.T) {
	d := mustParse(t, readVector(t, "EncryptedContentKeys.xml"))
	k, dd, err := d.OpenDeliveryData(privateKey(t, "Cert1"))
	if err != nil {
		t.Fatal(err)
	}
	if !Is(dd, NS, "DeliveryData") {
		t.Errorf("OpenDeliveryData returned %v", dd.FullTag())
	}
	if got := values(t, d, k); !sameMap(got, readmeKeys) {
		t.Errorf("decrypted keys\n got %v\nwant %v (Readme.md)", got, readmeKeys)
	}
	for _, other := range []string{"Cert2", "Cert3", "Cert4"} {
		if _, _, err := d.OpenDeliveryData(privateKey(t, other)); !errors.Is(err, ErrNoRecipient) {
			t.Errorf("%s: err %v, want ErrNoRecipient", other, err)
		}
	}
	// Decrypt turns it into the clear document of the same keys.
	if err := d.Decrypt(privateKey(t, "Cert1")); err != nil {
		t.Fatal(err)
	}
	e := echo(t, d)
	if Child(e.Root, NS, "DeliveryDataList") != nil {
		t.Error("DeliveryDataList left after Decrypt")
	}
	for _, ck := range contentKeys(e) {
		if Path(ck, NS, "Data", NSPSKC, "Secret", NSPSKC, "ValueMAC") != nil {
			t.Error("ValueMAC left after Decrypt")
		}
	}
	if got := values(t, e, nil); !sameMap(got, readmeKeys) {
		t.Errorf("after Decrypt\n got %v\nwant %v", got, readmeKeys)
	}
}

// TestVector_Recipients: every recipient of a vector opens it, to the same
// keys; the vector's other certificates do not.
func TestVector_Recipients(t *testing.T) {
	for _, c := range []struct {
		file       string
		recipients []string
	}{
		{"EncryptedContentKeysWithMultipleRecipients.xml", []string{"Cert1", "Cert2", "Cert3", "Cert4"}},
		{"RecipientsWithoutContentKeys.xml", []string{"Cert3", "Cert4"}},
		{"Complex.xml", []string{"Cert1", "Cert2"}},
		{"EvenMoreComplex.xml", []string{"Cert1", "Cert2"}}, // UTF-16, odd prefixes
		{"Invalid_BadDocumentSignature.xml", []string{"Cert1"}},
	} {
		t.Run(c.file, func(t *testing.T) {
			d := mustParse(t, readVector(t, c.file))
			var first map[string]string
			for _, cert := range []string{"Cert1", "Cert2", "Cert3", "Cert4"} {
				k, _, err := d.OpenDeliveryData(privateKey(t, cert))
				want := strings.Contains(strings.Join(c.recipients, " "), cert)
				if !want {
					if !errors.Is(err, ErrNoRecipient) {
						t.Errorf("%s: err %v, want ErrNoRecipient", cert, err)
					}
					continue
				}
				if err != nil {
					t.Fatalf("%s: %v", cert, err)
				}
				got := values(t, d, k)
				for kid, v := range got {
					if b, _ := base64.StdEncoding.DecodeString(v); len(b) != 16 {
						t.Errorf("%s: key %s is %d bytes", cert, kid, len(b))
					}
				}
				if first == nil {
					first = got
				} else if !sameMap(got, first) {
					t.Errorf("%s decrypts to other keys than %s", cert, c.recipients[0])
				}
			}
			if len(first) != len(contentKeys(d)) {
				t.Errorf("%d keys decrypted of %d", len(first), len(contentKeys(d)))
			}
		})
	}
}

func TestVector_WrongMAC(t *testing.T) {
	in := readVector(t, "Invalid_WrongMac.xml")
	d := mustParse(t, in) // loading succeeds: the MAC is only checked on decryption
	k, _, err := d.OpenDeliveryData(privateKey(t, "Cert1"))
	if err != nil {
		t.Fatal(err)
	}
	ck := contentKeys(d)[0]
	if _, err := d.ContentKeyValue(ck, k); !errors.Is(err, ErrMACMismatch) || !strings.Contains(err.Error(), "5ad2b739-4f46-48df-9a44-aab8c35abf71") {
		t.Errorf("ContentKeyValue: %v, want ErrMACMismatch naming the kid", err)
	}
	before, _ := d.Bytes()
	if err := d.Decrypt(privateKey(t, "Cert1")); !errors.Is(err, ErrMACMismatch) {
		t.Errorf("Decrypt: %v, want ErrMACMismatch", err)
	}
	if after, _ := d.Bytes(); !bytes.Equal(before, after) {
		t.Error("a failed Decrypt changed the document")
	}
}

func TestParseRecipient(t *testing.T) {
	for _, c := range []string{"Cert1", "Cert2", "Cert3", "Cert4"} { // Cert2, Cert4: negative serials
		r, err := ParseRecipient(certDER(t, c))
		if err != nil {
			t.Errorf("%s: %v", c, err)
			continue
		}
		if !r.PublicKey.Equal(&privateKey(t, c).PublicKey) || !bytes.Equal(r.Certificate, certDER(t, c)) {
			t.Errorf("%s: wrong key or certificate bytes", c)
		}
	}
	if _, err := x509.ParseCertificate(certDER(t, "Cert2")); err == nil {
		t.Log("note: this Go accepts negative serials (GODEBUG x509negativeserial=1?)")
	}

	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rsa1024, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		der  []byte
		msg  string
	}{
		{"WeakCert_Sha1", certDER(t, "WeakCert_Sha1"), "signed with SHA1-RSA; SHA-1 and MD5 signatures are not accepted"},
		{"ECDSA", selfSigned(t, ecKey, &ecKey.PublicKey), "its key is ECDSA, not RSA"},
		{"RSA 1024", selfSigned(t, ecKey, &rsa1024.PublicKey), "its RSA key has 1024 bits, fewer than 2048"},
		{"garbage", []byte("not a certificate"), "x509"},
		{"empty", nil, "x509"},
	}
	for _, c := range cases {
		_, err := ParseRecipient(c.der)
		if !errors.Is(err, ErrCertificate) || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: %v, want ErrCertificate with %q", c.name, err, c.msg)
		}
	}

	// WeakCert_SmallKey's key is 2048 bits (openssl x509 -text): weak for
	// CPIX, which recommends 3072, but what SPEKE requires.
	small := certDER(t, "WeakCert_SmallKey")
	if _, err := ParseRecipient(small); err != nil {
		t.Errorf("WeakCert_SmallKey (2048 bits) refused at the SPEKE minimum: %v", err)
	}
	_, err = ParseRecipientMinBits(small, 3072)
	if !errors.Is(err, ErrCertificate) || !strings.Contains(err.Error(), "its RSA key has 2048 bits, fewer than 3072") {
		t.Errorf("WeakCert_SmallKey at 3072: %v", err)
	}
	if _, err := ParseRecipientMinBits(certDER(t, "Cert1"), 3072); err != nil {
		t.Errorf("Cert1 (4096 bits) at 3072: %v", err)
	}
}

// selfSigned returns a certificate for pub signed by signer (SHA-256).
func selfSigned(t *testing.T, signer *ecdsa.PrivateKey, pub any) []byte {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(7),
		Subject:      pkix.Name{CommonName: "test"},
		NotBefore:    time.Unix(0, 0),
		NotAfter:     time.Unix(1<<31, 0),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, signer)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// clearKeys returns the plain keys of ClearContentKeysOnly.xml, read with
// encoding/base64 from the vector's text (kid → base64 key).
func clearKeys(t *testing.T) map[string]string {
	t.Helper()
	return map[string]string{
		"40d02dd1-61a3-4787-a155-572325d47b80": "gPxt0PMwrHM4TdjwdQmhhQ==",
		"0a30ea4f-539d-4b02-94b2-2b3fba2576d3": "x/gaoS/fDi8BqGNIhkixwQ==",
		"9f7908fa-5d5c-4097-ba53-50edc2235fbc": "3iv9lYwafpe0uEmxDc6PSw==",
		"fac2cbf5-889c-412b-a385-04a29d409bdc": "1OZVZZoYFSU2X/7qT3sHwg==",
	}
}

// encryptFor turns ClearContentKeysOnly.xml into a document encrypted for
// the given certificates in dialect and returns its bytes.
func encryptFor(t *testing.T, dialect MACDialect, certs ...string) []byte {
	t.Helper()
	d := mustParse(t, readVector(t, "ClearContentKeysOnly.xml"))
	if got := values(t, d, nil); !sameMap(got, clearKeys(t)) {
		t.Fatalf("clear vector reads as %v", got)
	}
	k, err := GenerateDeliveryKeys(nil)
	if err != nil {
		t.Fatal(err)
	}
	ddl := d.NewChild(d.Root, NS, "DeliveryDataList")
	for _, c := range certs {
		dd := d.NewChild(ddl, NS, "DeliveryData")
		d.NewChild(dd, NS, "Description").SetText("for " + c) // must end up after the keys
		if err := d.WriteDeliveryData(dd, recipient(t, c), k, dialect, nil); err != nil {
			t.Fatal(err)
		}
	}
	for _, ck := range contentKeys(d) {
		v, err := d.ContentKeyValue(ck, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := d.SetEncryptedValue(ck, v, k, nil); err != nil {
			t.Fatal(err)
		}
	}
	b, err := d.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var dialects = []MACDialect{DialectDASHIF, DialectAWS, DialectPSKC}

func TestRoundTrip_Dialects(t *testing.T) {
	for _, dialect := range dialects {
		t.Run(dialect.String(), func(t *testing.T) {
			b := encryptFor(t, dialect, "Cert1")
			if bytes.Contains(b, []byte(clearKeys(t)["40d02dd1-61a3-4787-a155-572325d47b80"])) {
				t.Fatal("a clear key is in the encrypted document")
			}
			d := mustParse(t, b)
			dd := d.DeliveryData()[0]
			mm := Child(dd, NS, "MACMethod")
			var shape bool
			switch dialect {
			case DialectDASHIF:
				shape = Path(mm, NS, "Key", NSEnc, "CipherData", NSEnc, "CipherValue") != nil
			case DialectAWS:
				shape = Path(mm, NS, "Key", NSPSKC, "EncryptedValue", NSEnc, "CipherData") != nil &&
					Path(mm, NS, "Key", NSPSKC, "ValueMAC") != nil &&
					Path(dd, NS, "DocumentKey", NS, "Data", NSPSKC, "Secret", NSPSKC, "ValueMAC") != nil
			case DialectPSKC:
				shape = Path(mm, NSPSKC, "MACKey", NSEnc, "CipherData", NSEnc, "CipherValue") != nil
			}
			if !shape {
				t.Errorf("MACMethod is not in the %v shape:\n%s", dialect, b)
			}
			if got := strings.Join(names(dd), " "); got != "{"+NS+"}DeliveryKey {"+NS+"}DocumentKey {"+NS+"}MACMethod {"+NS+"}Description" {
				t.Errorf("DeliveryData children %s", got)
			}
			k, _, err := d.OpenDeliveryData(privateKey(t, "Cert1"))
			if err != nil {
				t.Fatal(err)
			}
			if got := values(t, d, k); !sameMap(got, clearKeys(t)) {
				t.Errorf("decrypted\n got %v\nwant %v", got, clearKeys(t))
			}
			if _, _, err := d.OpenDeliveryData(privateKey(t, "Cert2")); !errors.Is(err, ErrNoRecipient) {
				t.Errorf("Cert2: %v, want ErrNoRecipient", err)
			}
			if err := d.Decrypt(privateKey(t, "Cert1")); err != nil {
				t.Fatal(err)
			}
			if got := values(t, echo(t, d), nil); !sameMap(got, clearKeys(t)) {
				t.Errorf("after Decrypt\n got %v", got)
			}
		})
	}
}

// TestRoundTrip_ManyRecipients: WrapDeliveryKeys wraps one pair of keys for
// every DeliveryData; each private key opens the document to the same keys.
func TestRoundTrip_ManyRecipients(t *testing.T) {
	d := mustParse(t, readVector(t, "ClearContentKeysOnly.xml"))
	ddl := d.NewChild(d.Root, NS, "DeliveryDataList")
	certs := []string{"Cert1", "Cert2", "Cert3", "Cert4"}
	for _, c := range certs { // as a request carries them: DeliveryKey only
		dd := d.NewChild(ddl, NS, "DeliveryData")
		x := d.NewChild(d.NewChild(d.NewChild(dd, NS, "DeliveryKey"), NSDS, "X509Data"), NSDS, "X509Certificate")
		x.SetText(base64.StdEncoding.EncodeToString(certDER(t, c)))
	}
	k, err := GenerateDeliveryKeys(nil)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := d.WrapDeliveryKeys(k, DialectAWS, nil); err != nil || n != 4 {
		t.Fatalf("WrapDeliveryKeys: %d, %v", n, err)
	}
	for _, ck := range contentKeys(d) {
		v, _ := d.ContentKeyValue(ck, nil)
		if err := d.SetEncryptedValue(ck, v, k, nil); err != nil {
			t.Fatal(err)
		}
	}
	e := echo(t, d)
	for _, c := range certs {
		got, _, err := e.OpenDeliveryData(privateKey(t, c))
		if err != nil {
			t.Fatalf("%s: %v", c, err)
		}
		if *got != *k {
			t.Errorf("%s unwraps other delivery keys", c)
		}
		if v := values(t, e, got); !sameMap(v, clearKeys(t)) {
			t.Errorf("%s decrypts %v", c, v)
		}
	}

	// A weak certificate among them: refused, document unchanged.
	dd := d.NewChild(ddl, NS, "DeliveryData")
	x := d.NewChild(d.NewChild(d.NewChild(dd, NS, "DeliveryKey"), NSDS, "X509Data"), NSDS, "X509Certificate")
	x.SetText(base64.StdEncoding.EncodeToString(certDER(t, "WeakCert_Sha1")))
	before, _ := d.Bytes()
	if _, err := d.WrapDeliveryKeys(k, DialectAWS, nil); !errors.Is(err, ErrCertificate) || !strings.Contains(err.Error(), "DeliveryData 5") {
		t.Errorf("WrapDeliveryKeys with a SHA-1 certificate: %v", err)
	}
	if after, _ := d.Bytes(); !bytes.Equal(before, after) {
		t.Error("a refused WrapDeliveryKeys changed the document")
	}
}

// TestTamper: any change to a ciphertext or MAC is detected before
// decryption, in every dialect, and no error shows key material.
func TestTamper(t *testing.T) {
	flip := func(e *etree.Element) {
		b, _ := base64.StdEncoding.DecodeString(e.Text())
		b[len(b)/2] ^= 1
		e.SetText(base64.StdEncoding.EncodeToString(b))
	}
	secretOf := func(d *Document) *etree.Element {
		return Path(contentKeys(d)[0], NS, "Data", NSPSKC, "Secret")
	}
	cases := []struct {
		name    string
		dialect MACDialect
		edit    func(d *Document)
		open    bool // the error comes from OpenDeliveryData
		want    error
	}{
		{"ValueMAC", DialectDASHIF, func(d *Document) { flip(Child(secretOf(d), NSPSKC, "ValueMAC")) }, false, ErrMACMismatch},
		{"CipherValue", DialectDASHIF, func(d *Document) {
			flip(Path(secretOf(d), NSPSKC, "EncryptedValue", NSEnc, "CipherData", NSEnc, "CipherValue"))
		}, false, ErrMACMismatch},
		{"ValueMAC removed", DialectPSKC, func(d *Document) {
			s := secretOf(d)
			s.RemoveChild(Child(s, NSPSKC, "ValueMAC"))
		}, false, ErrNoMAC},
		{"other algorithm", DialectPSKC, func(d *Document) {
			Path(secretOf(d), NSPSKC, "EncryptedValue", NSEnc, "EncryptionMethod").CreateAttr("Algorithm", "http://www.w3.org/2001/04/xmlenc#aes128-cbc")
		}, false, ErrUnsupported},
		{"AWS MAC key ValueMAC", DialectAWS, func(d *Document) {
			flip(Path(d.DeliveryData()[0], NS, "MACMethod", NS, "Key", NSPSKC, "ValueMAC"))
		}, true, ErrMACMismatch},
		{"AWS DocumentKey ValueMAC", DialectAWS, func(d *Document) {
			flip(Path(d.DeliveryData()[0], NS, "DocumentKey", NS, "Data", NSPSKC, "Secret", NSPSKC, "ValueMAC"))
		}, true, ErrMACMismatch},
		{"wrapped document key", DialectDASHIF, func(d *Document) {
			flip(Path(d.DeliveryData()[0], NS, "DocumentKey", NS, "Data", NSPSKC, "Secret", NSPSKC, "EncryptedValue", NSEnc, "CipherData", NSEnc, "CipherValue"))
		}, true, ErrBadValue},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := mustParse(t, encryptFor(t, c.dialect, "Cert1"))
			c.edit(d)
			k, _, err := d.OpenDeliveryData(privateKey(t, "Cert1"))
			if !c.open {
				if err != nil {
					t.Fatal(err)
				}
				_, err = d.ContentKeyValue(contentKeys(d)[0], k)
			}
			if !errors.Is(err, c.want) {
				t.Fatalf("err %v, want %v", err, c.want)
			}
			for _, v := range clearKeys(t) {
				if strings.Contains(err.Error(), v) {
					t.Errorf("error %q shows a key", err)
				}
			}
		})
	}
}

func TestContentKeyValue_Errors(t *testing.T) {
	d := mustParse(t, readVector(t, "EncryptedContentKeys.xml"))
	if _, err := d.ContentKeyValue(contentKeys(d)[0], nil); !errors.Is(err, ErrNeedDeliveryKeys) {
		t.Errorf("no keys: %v", err)
	}
	d = mustParse(t, []byte(`<CPIX xmlns="urn:dashif:org:cpix"><ContentKeyList><ContentKey kid="0ae6b9ad-92d2-4ebe-882b-1d07dee70715"/></ContentKeyList></CPIX>`))
	if _, err := d.ContentKeyValue(contentKeys(d)[0], nil); !errors.Is(err, ErrNoValue) || !strings.Contains(err.Error(), "0ae6b9ad") {
		t.Errorf("no value: %v", err)
	}
	if err := d.SetEncryptedValue(contentKeys(d)[0], make([]byte, 15), &DeliveryKeys{}, nil); err == nil {
		t.Error("SetEncryptedValue accepted a 15-byte key")
	}
	if err := d.WriteDeliveryData(d.Root, recipient(t, "Cert1"), &DeliveryKeys{}, DialectAWS, nil); err == nil {
		t.Error("WriteDeliveryData accepted a CPIX element")
	}
	dd := d.NewChild(d.NewChild(d.Root, NS, "DeliveryDataList"), NS, "DeliveryData")
	if err := d.WriteDeliveryData(dd, recipient(t, "Cert1"), &DeliveryKeys{}, 0, nil); err == nil {
		t.Error("WriteDeliveryData accepted the zero dialect")
	}
	if err := d.WriteDeliveryData(dd, recipient(t, "Cert1"), &DeliveryKeys{}, DialectDASHIF, nil); err != nil {
		t.Fatal(err)
	}
	if err := d.WriteDeliveryData(dd, recipient(t, "Cert2"), &DeliveryKeys{}, DialectDASHIF, nil); err == nil {
		t.Error("WriteDeliveryData wrote for Cert2 into Cert1's DeliveryData")
	}
}

// TestSetValue_Replaces: setting a value replaces the previous one, plain
// or encrypted, and keeps other children of Secret's parent.
func TestSetValue_Replaces(t *testing.T) {
	d := mustParse(t, readVector(t, "EncryptedContentKeys.xml"))
	ck := contentKeys(d)[0]
	d.SetPlainValue(ck, []byte("0123456789abcdef"))
	s := Path(ck, NS, "Data", NSPSKC, "Secret")
	if got := strings.Join(names(s), " "); got != "{"+NSPSKC+"}PlainValue" {
		t.Errorf("Secret children after SetPlainValue: %s", got)
	}
	k, _ := GenerateDeliveryKeys(nil)
	if err := d.SetEncryptedValue(ck, []byte("0123456789abcdef0123456789abcdef"), k, nil); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(names(s), " "); got != "{"+NSPSKC+"}EncryptedValue {"+NSPSKC+"}ValueMAC" {
		t.Errorf("Secret children after SetEncryptedValue: %s", got)
	}
	if v, err := d.ContentKeyValue(ck, k); err != nil || string(v) != "0123456789abcdef0123456789abcdef" {
		t.Errorf("32-byte key reads back as %d bytes, %v", len(v), err)
	}
}

func TestDeliveryKeys_Redacted(t *testing.T) {
	k, err := GenerateDeliveryKeys(nil)
	if err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	slog.New(slog.NewTextHandler(&log, nil)).Info("x", "keys", k, "value", *k)
	out := fmt.Sprintf("%v %+v %#v %s %x %v", k, *k, k, k, k, []any{k}) + log.String()
	for _, secret := range [][]byte{k.DocumentKey[:8], k.MACKey[:8]} {
		for _, enc := range []string{fmt.Sprintf("%x", secret), fmt.Sprint(secret[:4]), base64.StdEncoding.EncodeToString(secret)[:8]} {
			if strings.Contains(out, enc) {
				t.Fatalf("key material %q printed: %s", enc, out)
			}
		}
	}
	if !strings.Contains(out, "REDACTED") {
		t.Errorf("no REDACTED in %s", out)
	}
}

// countingReader fails after n bytes.
type countingReader struct{ n int }

func (r *countingReader) Read(p []byte) (int, error) {
	if r.n <= 0 {
		return 0, errors.New("exhausted")
	}
	if len(p) > r.n {
		p = p[:r.n]
	}
	for i := range p {
		p[i] = 7
	}
	r.n -= len(p)
	return len(p), nil
}

func TestGenerateDeliveryKeys(t *testing.T) {
	k, err := GenerateDeliveryKeys(&countingReader{n: 96})
	if err != nil {
		t.Fatal(err)
	}
	if k.DocumentKey != [32]byte(bytes.Repeat([]byte{7}, 32)) || k.MACKey != [64]byte(bytes.Repeat([]byte{7}, 64)) {
		t.Error("keys not drawn from the reader given")
	}
	if _, err := GenerateDeliveryKeys(&countingReader{n: 40}); err == nil {
		t.Error("a short reader gave keys")
	}
	a, _ := GenerateDeliveryKeys(nil)
	b, _ := GenerateDeliveryKeys(nil)
	if *a == *b {
		t.Error("two calls gave the same keys")
	}
}
