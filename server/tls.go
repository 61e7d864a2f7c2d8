package server

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
)

// TLS configures transport security for both listeners.
type TLS struct {
	// Certificate is the server's certificate chain and private key. nil
	// serves plain text on both listeners (development, loopback only).
	Certificate *tls.Certificate
	// ClientCAs, when set, turns on mutual TLS: both listeners require a
	// client certificate that verifies against this pool. nil accepts
	// clients without certificates.
	ClientCAs *x509.CertPool
}

// Enabled reports whether the listeners serve TLS.
func (t *TLS) Enabled() bool { return t.Certificate != nil }

// Validate reports a TLS configuration that cannot serve.
func (t *TLS) Validate() error {
	if t.Certificate == nil {
		if t.ClientCAs != nil {
			return errors.New("server: config: tls: client CAs need a server certificate")
		}
		return nil
	}
	if len(t.Certificate.Certificate) == 0 || t.Certificate.PrivateKey == nil {
		return errors.New("server: config: tls: certificate needs a chain and a private key")
	}
	return nil
}

// serverConfig is the listeners' TLS configuration.
func (t *TLS) serverConfig() *tls.Config {
	c := &tls.Config{
		Certificates: []tls.Certificate{*t.Certificate},
		MinVersion:   tls.VersionTLS12,
	}
	if t.ClientCAs != nil {
		c.ClientCAs = t.ClientCAs
		c.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return c
}
