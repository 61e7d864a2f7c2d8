package apptest

import (
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"testing"
)

// WVCred is a Widevine Common Encryption API signer as a packager holds
// it: an AES key and IV (shaka's --aes_signing_key/--aes_signing_iv), or
// an RSA private key (--rsa_signing_key_path).
type WVCred struct {
	Name    string
	Key, IV []byte
	RSA     *rsa.PrivateKey
}

// NewAESCred returns an AES signer with a random 32-byte key and IV.
func NewAESCred(name string) WVCred {
	c := WVCred{Name: name, Key: make([]byte, 32), IV: make([]byte, 16)}
	_, _ = rand.Read(c.Key)
	_, _ = rand.Read(c.IV)
	return c
}

// Sign computes the signature the way shaka-packager's AesRequestSigner /
// RsaRequestSigner do (packager-protocols.md §3.2): AES-CBC of
// PKCS#5(SHA-1(msg)), or RSASSA-PSS/SHA-1 with a 20-byte salt.
func (c WVCred) Sign(tb testing.TB, msg []byte) []byte {
	tb.Helper()
	d := sha1.Sum(msg)
	if c.RSA != nil {
		sig, err := rsa.SignPSS(rand.Reader, c.RSA, crypto.SHA1, d[:], &rsa.PSSOptions{SaltLength: 20, Hash: crypto.SHA1})
		if err != nil {
			tb.Fatal(err)
		}
		return sig
	}
	buf := append(d[:], make([]byte, 12)...)
	for i := 20; i < 32; i++ {
		buf[i] = 12
	}
	b, err := aes.NewCipher(c.Key)
	if err != nil {
		tb.Fatal(err)
	}
	cipher.NewCBCEncrypter(b, c.IV).CryptBlocks(buf, buf)
	return buf
}

// Envelope wraps the inner request text as shaka does, signed with c (nil:
// unsigned): {"request":…,"signature":…,"signer":…}.
func Envelope(tb testing.TB, c *WVCred, inner string) []byte {
	tb.Helper()
	m := map[string]string{"request": base64.StdEncoding.EncodeToString([]byte(inner))}
	if c != nil {
		m["signer"] = c.Name
		m["signature"] = base64.StdEncoding.EncodeToString(c.Sign(tb, []byte(inner)))
	}
	b, _ := json.Marshal(m)
	return b
}
