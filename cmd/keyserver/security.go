package main

// Authentication and TLS settings. Secrets (signing keys, TLS private keys)
// come only from files: the YAML config or --credentials-file, and the
// --tls-*-file paths. They never come from command-line values, which show
// up in process listings, and they are never logged.

import (
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/keyserver/keyserver/app"
	"github.com/keyserver/keyserver/cpix"
	"github.com/keyserver/keyserver/frontend/speke"

	"go.yaml.in/yaml/v3"
)

// fileAuth is the config file's auth section.
type fileAuth struct {
	// Leeway tolerates clock skew on exp; empty means 60s.
	Leeway      string           `yaml:"leeway"`
	Credentials []fileCredential `yaml:"credentials"`
}

// fileCredential is one SSP credential, with Nagra's JSON field names so
// that an exported credential can be used as is.
type fileCredential struct {
	CredentialID   string   `yaml:"credentialId"`
	CredentialName string   `yaml:"credentialName"`
	TenantID       string   `yaml:"tenantId"`
	SigningKey     string   `yaml:"signingKey"` // standard base64
	Privilege      []string `yaml:"privilege"`
	// ClientCertificateSHA256 binds client certificates (mutual TLS) to the
	// credential: hex SHA-256 fingerprints of their DER (openssl x509
	// -noout -fingerprint -sha256; colons allowed). The CPIX/SPEKE routes
	// accept them instead of a token.
	ClientCertificateSHA256 []string `yaml:"clientCertificateSha256"`
}

// loadCredentialsFile reads a YAML or JSON file holding a list of
// credentials, an object {"credentials": [...]}, or a single credential.
// Unknown fields (such as a credential's encryption key) are ignored.
func loadCredentialsFile(path string) ([]fileCredential, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--credentials-file: %w", err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("--credentials-file %s: not YAML or JSON", path)
	}
	if len(doc.Content) == 0 {
		return nil, fmt.Errorf("--credentials-file %s: empty", path)
	}
	root := doc.Content[0]
	var creds []fileCredential
	switch {
	case root.Kind == yaml.SequenceNode:
		err = root.Decode(&creds)
	case root.Kind == yaml.MappingNode && hasKey(root, "credentials"):
		var w struct {
			Credentials []fileCredential `yaml:"credentials"`
		}
		err = root.Decode(&w)
		creds = w.Credentials
	case root.Kind == yaml.MappingNode:
		var c fileCredential
		err = root.Decode(&c)
		creds = []fileCredential{c}
	default:
		err = errors.New("want a list of credentials or a credential object")
	}
	if err != nil {
		// yaml errors quote offending values: keep only the position-free gist.
		return nil, fmt.Errorf("--credentials-file %s: malformed credentials", path)
	}
	return creds, nil
}

func hasKey(m *yaml.Node, key string) bool {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return true
		}
	}
	return false
}

// buildAuth turns the mode flag, the config's auth section and the
// credentials file into app.Auth.
func buildAuth(o *options, fa fileAuth) (app.Auth, error) {
	var a app.Auth
	switch o.authMode {
	case "required":
		a.Required = true
	case "optional":
	default:
		return a, fmt.Errorf("--auth: %q is not required or optional", o.authMode)
	}
	if fa.Leeway != "" {
		d, err := time.ParseDuration(fa.Leeway)
		if err != nil || d < 0 {
			return a, fmt.Errorf("config: auth.leeway: %q is not a non-negative duration", fa.Leeway)
		}
		if d == 0 {
			d = -1 // app.Auth: negative means no leeway
		}
		a.Leeway = d
	}
	creds := fa.Credentials
	if o.credentialsFile != "" {
		more, err := loadCredentialsFile(o.credentialsFile)
		if err != nil {
			return a, err
		}
		creds = append(creds, more...)
	}
	var errs []error
	for i, c := range creds {
		key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(c.SigningKey))
		if err != nil {
			errs = append(errs, fmt.Errorf("credentials[%d] (credentialId %q): signingKey is not standard base64", i, c.CredentialID))
			continue
		}
		cred := app.Credential{ID: c.CredentialID, Tenant: c.TenantID, SigningKey: key, Privileges: c.Privilege}
		for _, f := range c.ClientCertificateSHA256 {
			b, err := hex.DecodeString(strings.ReplaceAll(strings.TrimSpace(f), ":", ""))
			if err != nil || len(b) != 32 {
				errs = append(errs, fmt.Errorf("credentials[%d] (credentialId %q): clientCertificateSha256 %q is not 64 hex digits", i, c.CredentialID, f))
				continue
			}
			cred.ClientCertificates = append(cred.ClientCertificates, [32]byte(b))
		}
		a.Credentials = append(a.Credentials, cred)
	}
	return a, errors.Join(errs...)
}

// buildCPIXRecipient loads the CPIX ingest recipient, if configured.
func buildCPIXRecipient(o *options) (*speke.Recipient, error) {
	if (o.cpixRecipientCert == "") != (o.cpixRecipientKey == "") {
		return nil, errors.New("--cpix-recipient-cert-file and --cpix-recipient-key-file go together")
	}
	if o.cpixRecipientCert == "" {
		return nil, nil
	}
	pair, err := tls.LoadX509KeyPair(o.cpixRecipientCert, o.cpixRecipientKey)
	if err != nil {
		return nil, fmt.Errorf("--cpix-recipient-cert-file/--cpix-recipient-key-file: %w", err)
	}
	key, ok := pair.PrivateKey.(*rsa.PrivateKey)
	if !ok {
		return nil, errors.New("--cpix-recipient-key-file: CPIX needs an RSA key")
	}
	if _, err := cpix.ParseRecipientMinBits(pair.Certificate[0], 3072); err != nil {
		return nil, fmt.Errorf("--cpix-recipient-cert-file: %w", err)
	}
	return &speke.Recipient{Certificate: pair.Certificate[0], Key: key}, nil
}

// buildTLS loads the TLS files.
func buildTLS(o *options) (app.TLS, error) {
	var t app.TLS
	if (o.tlsCertFile == "") != (o.tlsKeyFile == "") {
		return t, errors.New("--tls-cert-file and --tls-key-file go together")
	}
	if o.tlsCertFile == "" {
		if o.clientCAFile != "" {
			return t, errors.New("--client-ca-file needs --tls-cert-file and --tls-key-file")
		}
		return t, nil
	}
	cert, err := tls.LoadX509KeyPair(o.tlsCertFile, o.tlsKeyFile)
	if err != nil {
		return t, fmt.Errorf("--tls-cert-file/--tls-key-file: %w", err)
	}
	t.Certificate = &cert
	if o.clientCAFile != "" {
		b, err := os.ReadFile(o.clientCAFile)
		if err != nil {
			return t, fmt.Errorf("--client-ca-file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(b) {
			return t, fmt.Errorf("--client-ca-file %s: no PEM certificate", o.clientCAFile)
		}
		t.ClientCAs = pool
	}
	return t, nil
}
