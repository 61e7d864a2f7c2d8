// Package apptest starts a whole key server (package app: every front-end
// mounted) in-process for tests: a real
// bbolt file in a temp dir, real gRPC and HTTP listeners on 127.0.0.1:0.
package apptest

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/keyserver/keyserver/app"
	"github.com/keyserver/keyserver/internal/testkit"
	"github.com/keyserver/keyserver/keystore"
	"github.com/keyserver/keyserver/keystore/boltstore"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	keyserverv1 "github.com/keyserver/keyserver/gen/keyserver/v1"
)

// Env is a running server and clients for it.
type Env struct {
	t         *testing.T
	Config    app.Config // as passed to server.New (Store filled in)
	StorePath string
	MasterKey [32]byte
	Store     *boltstore.Bolt
	GRPCAddr  string
	HTTPURL   string // http://127.0.0.1:port
	Conn      *grpc.ClientConn
	Client    keyserverv1.KeyServiceClient
	HTTP      *http.Client
	// ClientTLS is the clients' TLS configuration (ClientTLS option);
	// nil when the server serves plain text.
	ClientTLS *tls.Config

	cancel context.CancelFunc
	done   chan error
}

// Option changes how Start sets up the clients.
type Option func(*Env)

// ClientTLS makes Env's clients (Conn, Client, HTTP) use TLS with c; it is
// required when cfg.TLS serves TLS.
func ClientTLS(c *tls.Config) Option {
	return func(e *Env) { e.ClientTLS = c }
}

// Start starts a server with cfg (Store is opened by Start when nil and
// closed at cleanup). The server stops at test cleanup; the store's
// consistency check runs before it closes.
func Start(t *testing.T, cfg app.Config, opts ...Option) *Env {
	t.Helper()
	e := &Env{t: t, Config: cfg, HTTP: &http.Client{Timeout: 30 * time.Second}}
	for _, o := range opts {
		o(e)
	}
	if cfg.TLS.Enabled() != (e.ClientTLS != nil) {
		t.Fatal("apptest: a server with TLS needs the ClientTLS option, and only then")
	}
	if e.ClientTLS != nil {
		e.HTTP.Transport = &http.Transport{TLSClientConfig: e.ClientTLS.Clone()}
	}
	if cfg.Store == nil {
		e.StorePath = filepath.Join(t.TempDir(), "keys.db")
		_, _ = rand.Read(e.MasterKey[:])
		e.openStore()
	}
	e.start()
	t.Cleanup(e.stop)
	return e
}

func (e *Env) openStore() {
	e.t.Helper()
	st := testkit.OpenBolt(e.t, e.StorePath, &boltstore.Options{MasterKey: e.MasterKey})
	e.Store = st
	e.Config.Store = st
}

func (e *Env) start() {
	e.t.Helper()
	srv, err := app.New(e.Config)
	if err != nil {
		e.t.Fatalf("apptest: %v", err)
	}
	gl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		e.t.Fatal(err)
	}
	hl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel, e.done = cancel, make(chan error, 1)
	go func() { e.done <- srv.Serve(ctx, gl, hl) }()
	e.GRPCAddr = gl.Addr().String()
	e.HTTPURL = "http://" + hl.Addr().String()
	creds := insecure.NewCredentials()
	if e.ClientTLS != nil {
		e.HTTPURL = "https://" + hl.Addr().String()
		creds = credentials.NewTLS(e.ClientTLS.Clone())
	}
	conn, err := grpc.NewClient(e.GRPCAddr, grpc.WithTransportCredentials(creds))
	if err != nil {
		e.t.Fatal(err)
	}
	e.Conn, e.Client = conn, keyserverv1.NewKeyServiceClient(conn)
}

// stop shuts the server down gracefully and, if Start opened the store,
// checks and closes it.
func (e *Env) stop() {
	if e.cancel == nil {
		return
	}
	e.Conn.Close()
	e.cancel()
	if err := <-e.done; err != nil {
		e.t.Errorf("apptest: serve: %v", err)
	}
	e.cancel = nil
	if e.StorePath != "" && e.Store != nil {
		// Checked and closed here for Restart; at the end of the test the
		// store opener's cleanup may have done it already (ErrClosed).
		if err := e.Store.Check(); err != nil && !errors.Is(err, keystore.ErrClosed) {
			e.t.Errorf("apptest: store check: %v", err)
		}
		if err := e.Store.Close(); err != nil {
			e.t.Errorf("apptest: store close: %v", err)
		}
		e.Store = nil
	}
}

// Restart stops the server, closes and reopens the store file, and starts
// a new server on new ports. Only for stores opened by Start.
func (e *Env) Restart() {
	e.t.Helper()
	if e.StorePath == "" {
		e.t.Fatal("apptest: Restart needs a store opened by Start")
	}
	e.stop()
	e.openStore()
	e.start()
}
