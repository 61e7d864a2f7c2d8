package cpix

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/beevik/etree"
)

// Algorithm URIs of CPIX encrypted delivery.
const (
	AlgAES256CBC  = "http://www.w3.org/2001/04/xmlenc#aes256-cbc"
	AlgRSAOAEP    = "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p"
	AlgHMACSHA512 = "http://www.w3.org/2001/04/xmldsig-more#hmac-sha512"
)

// Errors of key values and delivery data. Callers match them with errors.Is;
// messages add the element concerned (a kid, never a key).
var (
	// ErrNoValue: the ContentKey has no Data/Secret/PlainValue or EncryptedValue.
	ErrNoValue = errors.New("cpix: content key has no value")
	// ErrNeedDeliveryKeys: the value is encrypted and no DeliveryKeys were given.
	ErrNeedDeliveryKeys = errors.New("cpix: content key is encrypted and no delivery keys were given")
	// ErrMACMismatch: a ValueMAC does not authenticate its ciphertext (a
	// wrong MAC key, or a tampered value or MAC).
	ErrMACMismatch = errors.New("cpix: ValueMAC does not match the encrypted value")
	// ErrNoMAC: an encrypted content key has no ValueMAC; it is not decrypted.
	ErrNoMAC = errors.New("cpix: encrypted value has no ValueMAC")
	// ErrUnsupported: an algorithm or construct this package does not implement.
	ErrUnsupported = errors.New("cpix: unsupported")
	// ErrBadValue: an encrypted value that cannot be decrypted (length,
	// padding, RSA decryption), after its MAC was checked where there is one.
	ErrBadValue = errors.New("cpix: encrypted value cannot be decrypted")
)

// DeliveryKeys are the two secrets of one encrypted CPIX document: the
// 256-bit document key (AES-256-CBC over every content key) and the 512-bit
// MAC key (HMAC-SHA512 over every ciphertext). Every recipient of a
// document gets the same pair, wrapped with its own RSA key.
//
// Printing a DeliveryKeys (fmt, slog) shows REDACTED.
type DeliveryKeys struct {
	DocumentKey [32]byte
	MACKey      [64]byte
}

// String returns "cpix.DeliveryKeys{REDACTED}".
func (DeliveryKeys) String() string { return "cpix.DeliveryKeys{REDACTED}" }

// GoString returns "cpix.DeliveryKeys{REDACTED}".
func (DeliveryKeys) GoString() string { return "cpix.DeliveryKeys{REDACTED}" }

// Format prints "cpix.DeliveryKeys{REDACTED}" for every verb.
func (k DeliveryKeys) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, k.String()) }

// LogValue implements slog.LogValuer.
func (DeliveryKeys) LogValue() slog.Value { return slog.StringValue("REDACTED") }

// GenerateDeliveryKeys draws a fresh document key and MAC key from random,
// or from crypto/rand when random is nil (tests pass a deterministic one).
func GenerateDeliveryKeys(random io.Reader) (*DeliveryKeys, error) {
	if random == nil {
		random = rand.Reader
	}
	k := new(DeliveryKeys)
	if _, err := io.ReadFull(random, k.DocumentKey[:]); err != nil {
		return nil, fmt.Errorf("cpix: drawing the document key: %w", err)
	}
	if _, err := io.ReadFull(random, k.MACKey[:]); err != nil {
		return nil, fmt.Errorf("cpix: drawing the MAC key: %w", err)
	}
	return k, nil
}

// secret returns ck's Data/pskc:Secret, creating the missing elements and
// emptying an existing one of its value and MAC.
func (d *Document) secret(ck *etree.Element) *etree.Element {
	s := d.ensureChild(d.ensureChild(ck, NS, "Data"), NSPSKC, "Secret")
	removeChildren(s, NSPSKC, "PlainValue")
	removeChildren(s, NSPSKC, "EncryptedValue")
	removeChildren(s, NSPSKC, "ValueMAC")
	return s
}

// SetPlainValue writes key in the clear as ck's
// Data/pskc:Secret/pskc:PlainValue, replacing any value (plain or
// encrypted) and ValueMAC already there; other children of Data and Secret
// stay. ck is a ContentKey element.
func (d *Document) SetPlainValue(ck *etree.Element, key []byte) {
	d.NewChild(d.secret(ck), NSPSKC, "PlainValue").SetText(base64.StdEncoding.EncodeToString(key))
}

// SetEncryptedValue writes key encrypted for delivery as ck's
// Data/pskc:Secret: pskc:EncryptedValue (enc:EncryptionMethod aes256-cbc,
// enc:CipherValue = base64(IV ‖ AES-256-CBC(k.DocumentKey, PKCS#7(key))))
// followed by pskc:ValueMAC = base64(HMAC-SHA512(k.MACKey, IV ‖ ciphertext)).
// The IV is drawn from random (crypto/rand when nil). Any previous value is
// replaced. key must be 16 or 32 bytes; the document is unchanged on error.
func (d *Document) SetEncryptedValue(ck *etree.Element, key []byte, k *DeliveryKeys, random io.Reader) error {
	if k == nil {
		return fmt.Errorf("cpix: SetEncryptedValue: %w", ErrNeedDeliveryKeys)
	}
	if len(key) != 16 && len(key) != 32 {
		return fmt.Errorf("cpix: content key must be 16 or 32 bytes, not %d", len(key))
	}
	if random == nil {
		random = rand.Reader
	}
	blob := make([]byte, aes.BlockSize, aes.BlockSize+len(key)+aes.BlockSize)
	if _, err := io.ReadFull(random, blob); err != nil {
		return fmt.Errorf("cpix: drawing an IV: %w", err)
	}
	block, err := aes.NewCipher(k.DocumentKey[:])
	if err != nil {
		return fmt.Errorf("cpix: %v", err) // impossible: the key is 32 bytes
	}
	pad := aes.BlockSize - len(key)%aes.BlockSize
	pt := append(append([]byte(nil), key...), bytes.Repeat([]byte{byte(pad)}, pad)...)
	ct := make([]byte, len(pt))
	cipher.NewCBCEncrypter(block, blob[:aes.BlockSize]).CryptBlocks(ct, pt)
	clear(pt)
	blob = append(blob, ct...)

	s := d.secret(ck)
	d.writeEncrypted(d.NewChild(s, NSPSKC, "EncryptedValue"), AlgAES256CBC, blob)
	d.NewChild(s, NSPSKC, "ValueMAC").SetText(base64.StdEncoding.EncodeToString(mac(k, blob)))
	return nil
}

// mac returns HMAC-SHA512(k.MACKey, data).
func mac(k *DeliveryKeys, data []byte) []byte {
	h := hmac.New(sha512.New, k.MACKey[:])
	h.Write(data)
	return h.Sum(nil)
}

// writeEncrypted adds to parent an xenc EncryptedDataType body:
// enc:EncryptionMethod@Algorithm and enc:CipherData/enc:CipherValue.
func (d *Document) writeEncrypted(parent *etree.Element, alg string, ciphertext []byte) {
	d.NewChild(parent, NSEnc, "EncryptionMethod").CreateAttr("Algorithm", alg)
	cd := d.NewChild(parent, NSEnc, "CipherData")
	d.NewChild(cd, NSEnc, "CipherValue").SetText(base64.StdEncoding.EncodeToString(ciphertext))
}

// readEncrypted returns the CipherValue of an xenc EncryptedDataType body
// after checking its EncryptionMethod is alg (an absent EncryptionMethod is
// taken to mean alg, which is the only algorithm CPIX allows there).
func readEncrypted(e *etree.Element, alg, what string) ([]byte, error) {
	if em := Child(e, NSEnc, "EncryptionMethod"); em != nil {
		if a, _ := Attr(em, "Algorithm"); strings.TrimSpace(a) != alg {
			return nil, fmt.Errorf("%w: %s encryption algorithm %q (want %s)", ErrUnsupported, what, a, alg)
		}
	}
	cv := Path(e, NSEnc, "CipherData", NSEnc, "CipherValue")
	if cv == nil {
		return nil, fmt.Errorf("%w: %s has no CipherData/CipherValue", ErrBadValue, what)
	}
	return Base64Text(cv)
}

// ContentKeyValue returns the key of ContentKey ck: the PlainValue, or the
// EncryptedValue decrypted with k. For an encrypted value the ValueMAC is
// verified before anything is decrypted; a missing or wrong MAC is an error
// (ErrNoMAC, ErrMACMismatch). Other errors wrap ErrNoValue (no value at
// all), ErrNeedDeliveryKeys (k is nil), ErrUnsupported (an algorithm other
// than aes256-cbc) or ErrBadValue. Errors name the kid, never the key.
func (d *Document) ContentKeyValue(ck *etree.Element, k *DeliveryKeys) ([]byte, error) {
	kid, _ := Attr(ck, "kid")
	what := "ContentKey " + kid
	s := Path(ck, NS, "Data", NSPSKC, "Secret")
	if pv := Child(s, NSPSKC, "PlainValue"); pv != nil {
		v, err := Base64Text(pv)
		if err != nil {
			return nil, fmt.Errorf("%w (%s)", err, what)
		}
		return v, nil
	}
	ev := Child(s, NSPSKC, "EncryptedValue")
	if ev == nil {
		return nil, fmt.Errorf("%w (%s)", ErrNoValue, what)
	}
	if k == nil {
		return nil, fmt.Errorf("%w (%s)", ErrNeedDeliveryKeys, what)
	}
	blob, err := readEncrypted(ev, AlgAES256CBC, what)
	if err != nil {
		return nil, err
	}
	mv := Child(s, NSPSKC, "ValueMAC")
	if mv == nil {
		return nil, fmt.Errorf("%w (%s)", ErrNoMAC, what)
	}
	if err := checkMAC(k, mv, blob, what); err != nil {
		return nil, err
	}
	return decryptCBC(k, blob, what)
}

// checkMAC verifies that ValueMAC element mv holds HMAC-SHA512(k.MACKey, data).
func checkMAC(k *DeliveryKeys, mv *etree.Element, data []byte, what string) error {
	got, err := Base64Text(mv)
	if err != nil {
		return fmt.Errorf("%w (%s)", err, what)
	}
	if !hmac.Equal(got, mac(k, data)) {
		return fmt.Errorf("%w (%s)", ErrMACMismatch, what)
	}
	return nil
}

// decryptCBC decrypts IV ‖ AES-256-CBC ciphertext with k.DocumentKey and
// removes the PKCS#7 padding. It runs only on MAC-checked input.
func decryptCBC(k *DeliveryKeys, blob []byte, what string) ([]byte, error) {
	if len(blob) < 2*aes.BlockSize || len(blob)%aes.BlockSize != 0 {
		return nil, fmt.Errorf("%w: %s ciphertext is %d bytes, not IV + whole AES blocks", ErrBadValue, what, len(blob))
	}
	block, err := aes.NewCipher(k.DocumentKey[:])
	if err != nil {
		return nil, fmt.Errorf("cpix: %v", err) // impossible: the key is 32 bytes
	}
	pt := make([]byte, len(blob)-aes.BlockSize)
	cipher.NewCBCDecrypter(block, blob[:aes.BlockSize]).CryptBlocks(pt, blob[aes.BlockSize:])
	pad := int(pt[len(pt)-1])
	if pad == 0 || pad > aes.BlockSize {
		clear(pt)
		return nil, fmt.Errorf("%w: %s has bad PKCS#7 padding", ErrBadValue, what)
	}
	for _, b := range pt[len(pt)-pad:] {
		if int(b) != pad {
			clear(pt)
			return nil, fmt.Errorf("%w: %s has bad PKCS#7 padding", ErrBadValue, what)
		}
	}
	return pt[:len(pt)-pad], nil
}
