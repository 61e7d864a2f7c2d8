package widevine

import (
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/subtle"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
)

// Signer is one signer's credential for the Widevine Common
// Encryption API: the AES key and IV given to shaka-packager as
// --aes_signing_key/--aes_signing_iv, and/or the public half of its
// --rsa_signing_key_path. A request verifies if either credential does.
type Signer struct {
	// AESKey is 16, 24 or 32 bytes; hex in YAML (as shaka's flag).
	AESKey HexBytes `yaml:"aesKey"`
	// AESIV is 16 bytes; hex in YAML.
	AESIV HexBytes `yaml:"aesIv"`
	// RSAPublicKey verifies RSASSA-PSS/SHA-1 signatures; PEM in YAML
	// ("PUBLIC KEY" or "RSA PUBLIC KEY").
	RSAPublicKey *RSAPublicKey `yaml:"rsaPublicKey"`
}

// HexBytes is a byte string written as hex in configuration files.
type HexBytes []byte

// UnmarshalText decodes hex.
func (h *HexBytes) UnmarshalText(b []byte) error {
	v, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil {
		return errors.New("not hex")
	}
	*h = v
	return nil
}

// RSAPublicKey is an RSA public key written as PEM in configuration files.
type RSAPublicKey struct{ *rsa.PublicKey }

// UnmarshalText decodes a PEM "PUBLIC KEY" (PKIX) or "RSA PUBLIC KEY" (PKCS#1).
func (k *RSAPublicKey) UnmarshalText(b []byte) error {
	blk, _ := pem.Decode(b)
	if blk == nil {
		return errors.New("not PEM")
	}
	switch blk.Type {
	case "RSA PUBLIC KEY":
		pub, err := x509.ParsePKCS1PublicKey(blk.Bytes)
		if err != nil {
			return err
		}
		k.PublicKey = pub
	case "PUBLIC KEY":
		pub, err := x509.ParsePKIXPublicKey(blk.Bytes)
		if err != nil {
			return err
		}
		rp, ok := pub.(*rsa.PublicKey)
		if !ok {
			return errors.New("not an RSA public key")
		}
		k.PublicKey = rp
	default:
		return fmt.Errorf("PEM type %q, want PUBLIC KEY or RSA PUBLIC KEY", blk.Type)
	}
	return nil
}

// ValidateSigners reports every problem of a tenant's signers at once;
// where names the tenant's section.
func ValidateSigners(where string, signers map[string]Signer) error {
	var errs []error
	for name, s := range signers {
		at := fmt.Sprintf("config: %s: widevineSigners[%q]", where, name)
		if name == "" {
			errs = append(errs, fmt.Errorf("%s: empty signer name", at))
		}
		hasAES := len(s.AESKey) > 0 || len(s.AESIV) > 0
		if hasAES {
			switch len(s.AESKey) {
			case 16, 24, 32:
			default:
				errs = append(errs, fmt.Errorf("%s: aesKey is %d bytes, want 16, 24 or 32", at, len(s.AESKey)))
			}
			if len(s.AESIV) != aes.BlockSize {
				errs = append(errs, fmt.Errorf("%s: aesIv is %d bytes, want 16", at, len(s.AESIV)))
			}
		}
		hasRSA := s.RSAPublicKey != nil && s.RSAPublicKey.PublicKey != nil
		if hasRSA && s.RSAPublicKey.N.BitLen() < 2048 {
			errs = append(errs, fmt.Errorf("%s: rsaPublicKey is %d bits, want at least 2048", at, s.RSAPublicKey.N.BitLen()))
		}
		if !hasAES && !hasRSA {
			errs = append(errs, fmt.Errorf("%s: needs aesKey+aesIv or rsaPublicKey", at))
		}
	}
	return errors.Join(errs...)
}

// verify checks sig over msg with the AES or the RSA credential.
func (s *Signer) verify(msg, sig []byte) bool {
	digest := sha1.Sum(msg)
	if len(s.AESKey) > 0 && len(sig) == 2*aes.BlockSize {
		c, err := aes.NewCipher(s.AESKey)
		if err == nil && len(s.AESIV) == aes.BlockSize {
			// AES-CBC(PKCS#5(SHA-1(msg))): 20 bytes padded to 32.
			buf := make([]byte, 2*aes.BlockSize)
			copy(buf, digest[:])
			for i := len(digest); i < len(buf); i++ {
				buf[i] = byte(len(buf) - len(digest))
			}
			cipher.NewCBCEncrypter(c, s.AESIV).CryptBlocks(buf, buf)
			if subtle.ConstantTimeCompare(buf, sig) == 1 {
				return true
			}
		}
	}
	if s.RSAPublicKey != nil && s.RSAPublicKey.PublicKey != nil {
		err := rsa.VerifyPSS(s.RSAPublicKey.PublicKey, crypto.SHA1, digest[:], sig, &rsa.PSSOptions{SaltLength: sha1.Size, Hash: crypto.SHA1})
		if err == nil {
			return true
		}
	}
	return false
}

// decodeB64 accepts standard or URL-safe base64, padded or not.
