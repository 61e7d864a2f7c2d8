package server

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
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
	// GatewayCertificate is the client certificate the REST gateway
	// presents when it dials the gRPC listener under mutual TLS. nil means
	// Certificate, which must then verify against ClientCAs for client
	// authentication (ExtKeyUsageClientAuth); New checks this.
	GatewayCertificate *tls.Certificate
}

// Enabled reports whether the listeners serve TLS.
func (t *TLS) Enabled() bool { return t.Certificate != nil }

func (t *TLS) validate() error {
	if t.Certificate == nil {
		if t.ClientCAs != nil || t.GatewayCertificate != nil {
			return errors.New("server: config: tls: client CAs and a gateway certificate need a server certificate")
		}
		return nil
	}
	if len(t.Certificate.Certificate) == 0 || t.Certificate.PrivateKey == nil {
		return errors.New("server: config: tls: certificate needs a chain and a private key")
	}
	if t.ClientCAs == nil {
		return nil
	}
	gw := t.gatewayCertificate()
	if len(gw.Certificate) == 0 || gw.PrivateKey == nil {
		return errors.New("server: config: tls: gateway certificate needs a chain and a private key")
	}
	leaf, err := x509.ParseCertificate(gw.Certificate[0])
	if err != nil {
		return fmt.Errorf("server: config: tls: gateway certificate: %v", err)
	}
	inter := x509.NewCertPool()
	for _, c := range gw.Certificate[1:] {
		if ic, err := x509.ParseCertificate(c); err == nil {
			inter.AddCert(ic)
		}
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: t.ClientCAs, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		return fmt.Errorf("server: config: tls: the gateway's client certificate (the server certificate unless a gateway certificate is given) is not accepted by the client CAs: %v", err)
	}
	return nil
}

func (t *TLS) gatewayCertificate() *tls.Certificate {
	if t.GatewayCertificate != nil {
		return t.GatewayCertificate
	}
	return t.Certificate
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

// gatewayConfig is the TLS configuration of the gateway's connection to
// the server's own gRPC listener. It dials a loopback address that the
// certificate need not name, so instead of a CA and host name it pins the
// server's own leaf certificate (the handshake still proves the peer holds
// its private key).
func (t *TLS) gatewayConfig() *tls.Config {
	own := t.Certificate.Certificate[0]
	c := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: true, // replaced by the pin below
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			if len(raw) == 0 || !bytes.Equal(raw[0], own) {
				return errors.New("server: gateway: gRPC listener presented another certificate")
			}
			return nil
		},
	}
	if t.ClientCAs != nil {
		c.Certificates = []tls.Certificate{*t.gatewayCertificate()}
	}
	return c
}
