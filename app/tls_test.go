package app_test

import (
	"context"
	"crypto/tls"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/keyserver/keyserver/app"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/keyserver/keyserver/app/apptest"
	keyserverv1 "github.com/keyserver/keyserver/gen/keyserver/v1"
	"github.com/keyserver/keyserver/internal/testcert"
)

// bothWork asserts that a key request succeeds over gRPC and over REST.
func bothWork(t *testing.T, env *apptest.Env) {
	t.Helper()
	for _, tr := range transports {
		mustOK(t, tr.call(t, env, "NAG0000", newReq("tls-"+tr.name, keyserverv1.DistributionMode_VOD, 0, "WV")))
	}
}

// refused asserts that a client with tlsCfg gets nowhere on either
// listener: no answer over gRPC, no HTTP response over REST.
func refused(t *testing.T, env *apptest.Env, tlsCfg *tls.Config) {
	t.Helper()
	conn, err := grpc.NewClient(env.GRPCAddr, grpc.WithTransportCredentials(credentials.NewTLS(tlsCfg)))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = keyserverv1.NewKeyServiceClient(conn).GetKeyAndSignalization(ctx, newReq("x", keyserverv1.DistributionMode_VOD, 0))
	if status.Code(err) != codes.Unavailable {
		t.Errorf("gRPC: got %v, want Unavailable (handshake refused)", err)
	}
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsCfg}}
	res, err := hc.Post(env.HTTPURL+"/NAG0000/ckm/v1/keyAndSignalization", "application/json",
		strings.NewReader(`{"drmContent":{"drmContentId":"x","profile":{"distributionMode":"VOD"}}}`))
	if err == nil {
		res.Body.Close()
		t.Errorf("REST: got HTTP %d, want a refused handshake", res.StatusCode)
	}
}

func TestTLS(t *testing.T) {
	ca := testcert.NewCA(t, "server CA")
	cert := ca.Issue(t, "keyserver", testcert.Server)
	env := apptest.Start(t, app.Config{DefaultTenant: "NAG0000", TLS: app.TLS{Certificate: &cert}},
		apptest.ClientTLS(&tls.Config{RootCAs: ca.Pool}))
	if !strings.HasPrefix(env.HTTPURL, "https://") {
		t.Fatalf("HTTPURL %s", env.HTTPURL)
	}
	bothWork(t, env)

	t.Run("untrusted server certificate", func(t *testing.T) {
		refused(t, env, &tls.Config{RootCAs: testcert.NewCA(t, "other").Pool})
	})
	t.Run("plain text client", func(t *testing.T) {
		conn, err := grpc.NewClient(env.GRPCAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_, err = keyserverv1.NewKeyServiceClient(conn).GetKeyAndSignalization(context.Background(), newReq("x", keyserverv1.DistributionMode_VOD, 0))
		if status.Code(err) != codes.Unavailable {
			t.Errorf("plain gRPC to a TLS listener: %v", err)
		}
		res, err := env.HTTP.Post("http://"+strings.TrimPrefix(env.HTTPURL, "https://")+"/NAG0000/ckm/v1/keyAndSignalization", "application/json", strings.NewReader("{}"))
		if err == nil {
			defer res.Body.Close()
			if res.StatusCode != http.StatusBadRequest { // Go's TLS server answers plain HTTP with 400
				t.Errorf("plain HTTP to a TLS listener: HTTP %d", res.StatusCode)
			}
		}
	})
}

func TestMutualTLS(t *testing.T) {
	ca := testcert.NewCA(t, "keyserver CA")
	// One CA for both sides.
	srvCert := ca.Issue(t, "keyserver", testcert.Server)
	client := ca.Issue(t, "packager", testcert.Client)
	env := apptest.Start(t, app.Config{DefaultTenant: "NAG0000", TLS: app.TLS{Certificate: &srvCert, ClientCAs: ca.Pool}},
		apptest.ClientTLS(&tls.Config{RootCAs: ca.Pool, Certificates: []tls.Certificate{client}}))
	bothWork(t, env)

	t.Run("no client certificate", func(t *testing.T) {
		refused(t, env, &tls.Config{RootCAs: ca.Pool})
	})
	t.Run("client certificate of another CA", func(t *testing.T) {
		other := testcert.NewCA(t, "other CA").Issue(t, "intruder", testcert.Client)
		refused(t, env, &tls.Config{RootCAs: ca.Pool, Certificates: []tls.Certificate{other}})
	})
	t.Run("server-only certificate as client", func(t *testing.T) {
		serverOnly := ca.Issue(t, "not-a-client", testcert.Server)
		refused(t, env, &tls.Config{RootCAs: ca.Pool, Certificates: []tls.Certificate{serverOnly}})
	})
	recs, err := env.Store.Records(context.Background(), "NAG0000")
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 { // bothWork's two contents; the refused clients stored nothing
		t.Errorf("store holds %d records, want 2", len(recs))
	}
}

// TestMutualTLS_SeparateCAs: a server certificate from a public-style CA
// (not valid for client authentication) and a private client CA. REST
// calls the key service in process, so the server needs no client
// certificate of its own: both listeners serve.
func TestMutualTLS_SeparateCAs(t *testing.T) {
	serverCA, clientCA := testcert.NewCA(t, "server CA"), testcert.NewCA(t, "client CA")
	srvCert := serverCA.Issue(t, "keyserver", testcert.Server)
	client := clientCA.Issue(t, "packager", testcert.Client)
	env := apptest.Start(t, app.Config{DefaultTenant: "NAG0000",
		TLS: app.TLS{Certificate: &srvCert, ClientCAs: clientCA.Pool}},
		apptest.ClientTLS(&tls.Config{RootCAs: serverCA.Pool, Certificates: []tls.Certificate{client}}))
	bothWork(t, env)
	refused(t, env, &tls.Config{RootCAs: serverCA.Pool, Certificates: []tls.Certificate{serverCA.Issue(t, "wrong CA", testcert.Client)}})
}
