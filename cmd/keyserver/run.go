package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"runtime/debug"
	"runtime/metrics"
	"strings"
	"time"

	"github.com/keyserver/keyserver/app"
	"github.com/keyserver/keyserver/internal/version"

	"go.yaml.in/yaml/v3"

	"github.com/keyserver/keyserver/keystore/boltstore"
	"github.com/keyserver/keyserver/server"
)

// options are the command-line settings.
type options struct {
	grpcAddr      string
	httpAddr      string
	dataDir       string
	configFile    string
	masterKeyFile string
	defaultTenant string
	logFormat     string
	storeRetry    time.Duration
	logLevel      string
	logFlush      time.Duration
	pprofAddr     string
	gcPercent     int
	gcPercentSet  bool // --gc-percent or KEYSERVER_GC_PERCENT was given
	version       bool // --version: print the build and exit
	// Authentication and TLS (security.go); secrets only from files.
	authMode        string
	credentialsFile string
	tlsCertFile     string
	tlsKeyFile      string
	clientCAFile    string
	gatewayCertFile string
	gatewayKeyFile  string
	// CPIX key ingest: this server's recipient certificate and key.
	cpixRecipientCert string
	cpixRecipientKey  string
	// Limits (server/limits.go); zero means the server's default.
	limits app.Limits
}

// parseFlags reads the environment and then the command line. -h/--help
// prints the usage to stdout and returns flag.ErrHelp; a command-line
// error is printed to stderr, with a pointer to -h, as a usageError.
func parseFlags(args []string, getenv func(string) string, stdout, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("keyserver", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {} // printed below, to stdout for -h
	fs.BoolVar(&o.version, "version", false, "print the version and exit")
	fs.StringVar(&o.grpcAddr, "grpc-addr", "127.0.0.1:9090", "gRPC listen address")
	fs.StringVar(&o.httpAddr, "http-addr", "127.0.0.1:8080", "REST listen address")
	fs.StringVar(&o.dataDir, "data-dir", "./data", "directory holding the key store (and the development master key)")
	fs.StringVar(&o.configFile, "config", "", "optional YAML configuration file (tenants, defaults)")
	fs.StringVar(&o.masterKeyFile, "master-key-file", "", "file holding the 32-byte master key (base64); empty: <data-dir>/master.key, generated on first run (development only)")
	fs.StringVar(&o.defaultTenant, "default-tenant", "default", "tenant served by the routes without a tenant (overridden by the config file's defaultTenant)")
	fs.StringVar(&o.logFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&o.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	fs.DurationVar(&o.logFlush, "log-flush-interval", 100*time.Millisecond, "Info and Debug lines (the request log) are written in batches at most this long after they are logged; Warn and Error lines at once; 0: every line at once")
	fs.DurationVar(&o.storeRetry, "store-retry-interval", boltstore.DefaultRetryInterval, "while the key store is not writable, how often it tries to reopen it read-write (before a new-key request, and from the readiness checks)")
	fs.StringVar(&o.pprofAddr, "pprof-addr", "", "serve net/http/pprof on this loopback address (off when empty; for profiling)")
	fs.IntVar(&o.gcPercent, "gc-percent", defaultGCPercent, "garbage collector target percentage (Go's GOGC) of the daemon; 0 or less: leave Go's own (the GOGC environment variable, else 100). Not applied when GOGC is set and this flag is not")
	fs.StringVar(&o.authMode, "auth", "optional", "nv-authorizations: required (cloud: no token, no key) or optional (on-premise: a token that is present is still checked)")
	fs.StringVar(&o.credentialsFile, "credentials-file", "", "YAML/JSON file of SSP credentials (credentialId, tenantId, signingKey, privilege), added to the config's auth.credentials")
	fs.StringVar(&o.tlsCertFile, "tls-cert-file", "", "PEM certificate chain: serve both listeners over TLS (with --tls-key-file)")
	fs.StringVar(&o.tlsKeyFile, "tls-key-file", "", "PEM private key of --tls-cert-file")
	fs.StringVar(&o.clientCAFile, "client-ca-file", "", "PEM CA certificates: require client certificates they verify (mutual TLS)")
	fs.StringVar(&o.cpixRecipientCert, "cpix-recipient-cert-file", "", "PEM certificate (RSA ≥ 3072 bits) CPIX documents may encrypt the keys they bring to (POST /{tenantId}/cpix), with --cpix-recipient-key-file")
	fs.StringVar(&o.cpixRecipientKey, "cpix-recipient-key-file", "", "PEM private key of --cpix-recipient-cert-file")
	fs.StringVar(&o.gatewayCertFile, "gateway-cert-file", "", "deprecated, ignored: REST calls the key service in process, without a TLS hop to gRPC")
	fs.StringVar(&o.gatewayKeyFile, "gateway-key-file", "", "deprecated, ignored (see --gateway-cert-file)")
	fs.Int64Var(&o.limits.MaxBodyBytes, "max-body-bytes", server.DefaultMaxBodyBytes, "largest REST request body; larger is INVALID_REQUEST, HTTP 413")
	fs.IntVar(&o.limits.MaxMessageBytes, "max-message-bytes", server.DefaultMaxMessageBytes, "largest gRPC request message; larger is ResourceExhausted")
	fs.IntVar(&o.limits.MaxInFlight, "max-in-flight", server.DefaultMaxInFlight, "front-end requests at once, over both listeners (a gRPC request counts from its first header, before its message has arrived); beyond it requests are refused at once (Nagra API: UNAVALAIBLE_SERVICE, HTTP 503, gRPC Unavailable; Widevine: INTERNAL_ERROR)")
	fs.DurationVar(&o.limits.RequestTimeout, "request-timeout", server.DefaultRequestTimeout, "deadline of one front-end request (gRPC: from its first header, so it bounds receiving the message too)")
	fs.DurationVar(&o.limits.ReadHeaderTimeout, "read-header-timeout", server.DefaultReadHeaderTimeout, "time to read a REST request's headers, and to finish a gRPC connection's HTTP/2 handshake")
	fs.DurationVar(&o.limits.ReadTimeout, "read-timeout", server.DefaultReadTimeout, "time to read a whole REST request")
	fs.DurationVar(&o.limits.IdleTimeout, "idle-timeout", server.DefaultIdleTimeout, "idle keep-alive REST connections, and gRPC connections without a stream, are closed after this")
	fs.IntVar(&o.limits.MaxStreams, "grpc-max-streams", server.DefaultMaxStreams, "concurrent streams of one gRPC connection; more are refused (REFUSED_STREAM)")
	// Environment fallback: KEYSERVER_<FLAG>, applied before the command
	// line so that flags win. Every bad variable is reported at once.
	var envErrs []error
	fs.VisitAll(func(f *flag.Flag) {
		if f.Name == "version" {
			return // not a setting
		}
		name := envName(f.Name)
		if v := getenv(name); v != "" {
			if err := f.Value.Set(v); err != nil {
				envErrs = append(envErrs, fmt.Errorf("%s=%s: want %s (the environment form of --%s)", name, quoteClip(v), expected(f), f.Name))
			}
		}
	})
	if err := errors.Join(envErrs...); err != nil {
		return nil, err
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stdout)
			usage(fs)
			return nil, err
		}
		// flag has printed the error.
		fmt.Fprintln(stderr, "Run 'keyserver -h' for the flags and their KEYSERVER_<FLAG> variables.")
		return nil, usageError{err}
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %q (every setting is a --flag; see keyserver -h)", fs.Args())
	}
	o.gcPercentSet = getenv("KEYSERVER_GC_PERCENT") != ""
	fs.Visit(func(f *flag.Flag) { o.gcPercentSet = o.gcPercentSet || f.Name == "gc-percent" })
	return o, nil
}

// defaultGCPercent is the daemon's garbage collector target. The server's
// live heap is small (tens of MB: caches of keys and built signaling) and
// nearly everything it allocates is per request, so a collection comes
// every few hundred milliseconds under load with Go's default of 100, and
// each one holds up answers for milliseconds on a two-core host. 400
// makes them four times rarer for about five times the live heap in
// memory (BENCHMARKS.md: the paced p99, and the figures).
const defaultGCPercent = 400

// applyGCPercent sets the garbage collector target from o, unless the
// operator chose one with GOGC and not with the flag. It returns the
// target in force.
func applyGCPercent(o *options, getenv func(string) string) int {
	if o.gcPercent > 0 && (o.gcPercentSet || getenv("GOGC") == "") {
		debug.SetGCPercent(o.gcPercent)
	}
	m := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(m)
	if m[0].Value.Kind() != metrics.KindUint64 {
		return -1
	}
	return int(m[0].Value.Uint64())
}

// fileConfig is the YAML configuration file.
type fileConfig struct {
	DefaultTenant string                `yaml:"defaultTenant"`
	Defaults      app.Tenant            `yaml:"defaults"`
	Tenants       map[string]app.Tenant `yaml:"tenants"`
	Auth          fileAuth              `yaml:"auth"`
}

// loadConfig reads the YAML file at path (none: an empty config). Every
// unknown key and every value of the wrong kind is reported at once, with
// the file, line and key path (configcheck.go).
func loadConfig(path string) (*fileConfig, error) {
	fc := &fileConfig{}
	if path == "" {
		return fc, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("config %s: not valid YAML: %s", path, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	if err := checkYAML(path, &doc, reflect.TypeFor[fileConfig]()); err != nil {
		return nil, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(fc); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return fc, nil
}

// newLogger returns the daemon's logger, writing through w (a logWriter:
// see flushHandler).
func newLogger(o *options, w *logWriter) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.logLevel)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	ho := &slog.HandlerOptions{Level: level}
	switch o.logFormat {
	case "text":
		return slog.New(flushHandler{slog.NewTextHandler(w, ho), w}), nil
	case "json":
		return slog.New(flushHandler{slog.NewJSONHandler(w, ho), w}), nil
	}
	return nil, fmt.Errorf("--log-format: %q is not text or json", o.logFormat)
}

// loadMasterKey reads the master key, or on first run of the development
// default generates one under the data directory.
func loadMasterKey(o *options, log *slog.Logger) ([32]byte, error) {
	var mk [32]byte
	path := o.masterKeyFile
	generated := false
	if path == "" {
		path = filepath.Join(o.dataDir, "master.key")
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			if _, err := os.Stat(filepath.Join(o.dataDir, "keys.db")); err == nil {
				return mk, fmt.Errorf("master key %s is missing but the key store exists: refusing to generate a new key that cannot open it", path)
			}
			_, _ = rand.Read(mk[:])
			text := base64.StdEncoding.EncodeToString(mk[:]) + "\n"
			f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
			if err != nil {
				return mk, fmt.Errorf("master key: %w", err)
			}
			if _, err := f.WriteString(text); err != nil {
				f.Close()
				return mk, fmt.Errorf("master key: %w", err)
			}
			if err := f.Sync(); err != nil {
				f.Close()
				return mk, fmt.Errorf("master key: %w", err)
			}
			if err := f.Close(); err != nil {
				return mk, fmt.Errorf("master key: %w", err)
			}
			generated = true
		}
	}
	if !generated {
		if err := checkSecretMode(path); err != nil {
			return mk, err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return mk, fmt.Errorf("master key: %w", err)
		}
		if err := parseMasterKey(b, &mk); err != nil {
			return mk, fmt.Errorf("master key %s: %w", path, err)
		}
	}
	if o.masterKeyFile == "" {
		log.Warn("using the development master key stored next to the key store; pass --master-key-file for real deployments",
			slog.String("path", path), slog.Bool("generated", generated))
	}
	return mk, nil
}

func parseMasterKey(b []byte, mk *[32]byte) error {
	if len(b) == 32 {
		copy(mk[:], b)
		return nil
	}
	s := strings.TrimSpace(string(b))
	d, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(d) != 32 {
		return errors.New("want 32 raw bytes or the standard base64 of 32 bytes")
	}
	copy(mk[:], d)
	return nil
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) (err error) {
	o, err := parseFlags(args, getenv, stdout, stderr)
	if err != nil {
		return err
	}
	if o.version {
		_, err := fmt.Fprintln(stdout, version.Get().String("keyserver"))
		return err
	}
	if o.logFlush < 0 {
		return fmt.Errorf("--log-flush-interval: %v is negative", o.logFlush)
	}
	lw := newLogWriter(stderr, o.logFlush)
	defer lw.Close() // after every other deferred log line
	log, err := newLogger(o, lw)
	if err != nil {
		return err
	}
	if o.logFormat == "json" {
		// Every line JSON: the error that ends the server is a log record
		// too, and main prints nothing more.
		defer func() {
			if err != nil {
				log.Error("keyserver exiting on an error", slog.String("error", err.Error()))
				err = reportedError{err}
			}
		}()
	}
	vi := version.Get()
	log.Info("keyserver starting", slog.String("version", vi.Version), slog.String("commit", vi.Commit), slog.String("go", vi.Go))
	fc, err := loadConfig(o.configFile)
	if err != nil {
		return err
	}
	auth, err := buildAuth(o, fc.Auth)
	if err != nil {
		return err
	}
	tlsCfg, err := buildTLS(o)
	if err != nil {
		return err
	}
	cpixRecipient, err := buildCPIXRecipient(o)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(o.dataDir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	warnOpenModes(log, o.dataDir)
	mk, err := loadMasterKey(o, log)
	if err != nil {
		return err
	}
	store, err := boltstore.OpenFallback(filepath.Join(o.dataDir, "keys.db"), &boltstore.Options{MasterKey: mk}, o.storeRetry)
	if err != nil {
		return err
	}
	if store.ReadOnly() {
		log.Warn("the key store is not writable: serving existing keys only, new keys answer UNAVALAIBLE_SERVICE until it is writable again",
			slog.String("path", filepath.Join(o.dataDir, "keys.db")), slog.Duration("retry_every", o.storeRetry))
	}
	defer func() {
		if err := store.Close(); err != nil {
			log.Error("closing key store", slog.String("error", err.Error()))
		}
	}()

	cfg := app.Config{
		Store:         store,
		Logger:        log,
		DefaultTenant: o.defaultTenant,
		Defaults:      fc.Defaults,
		Tenants:       fc.Tenants,
		Auth:          auth,
		TLS:           tlsCfg,
		Limits:        o.limits,
		CPIXRecipient: cpixRecipient,
	}
	if fc.DefaultTenant != "" {
		cfg.DefaultTenant = fc.DefaultTenant
	}
	srv, err := app.New(cfg)
	if err != nil {
		return err
	}
	gl, err := net.Listen("tcp", o.grpcAddr)
	if err != nil {
		return fmt.Errorf("--grpc-addr: %w", err)
	}
	hl, err := net.Listen("tcp", o.httpAddr)
	if err != nil {
		gl.Close()
		return fmt.Errorf("--http-addr: %w", err)
	}
	if o.gatewayCertFile != "" || o.gatewayKeyFile != "" {
		log.Warn("--gateway-cert-file and --gateway-key-file are ignored: REST calls the key service in process, without a TLS hop to gRPC; remove them")
	}
	if tlsCfg.Enabled() {
		log.Info("serving TLS on both listeners", slog.Bool("mutual_tls", tlsCfg.ClientCAs != nil))
	} else {
		log.Warn("serving plain text (no TLS): development default, keep it on loopback")
	}
	log.Info("authentication", slog.String("mode", o.authMode), slog.Int("credentials", len(auth.Credentials)))
	log.Info("garbage collector", slog.Int("gc_percent", applyGCPercent(o, getenv)))
	log.Info("listening", slog.String("grpc", gl.Addr().String()), slog.String("http", hl.Addr().String()),
		slog.String("data_dir", o.dataDir), slog.String("default_tenant", cfg.DefaultTenant))
	pprofAddr := ""
	if o.pprofAddr != "" {
		pl, ps, err := listenPprof(o.pprofAddr)
		if err != nil {
			gl.Close()
			hl.Close()
			return err
		}
		defer ps.Close()
		pprofAddr = pl.Addr().String()
	}
	if err := writeReady(stdout, o.logFormat, gl.Addr().String(), hl.Addr().String(), pprofAddr); err != nil {
		log.Warn("writing the listening line to stdout", slog.String("error", err.Error()))
	}
	err = srv.Serve(ctx, gl, hl)
	log.Info("stopped")
	return err
}

// checkSecretMode refuses a master key file that group or others may
// read or write: the key opens every stored key.
func checkSecretMode(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("master key: %w", err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("master key %s has mode %04o: group and others must have no access to it (fix: chmod 600 %s)", path, perm, path)
	}
	return nil
}

// warnOpenModes warns about a data dir or key store that others may
// enter, read or write (the keys in it are sealed, but the file can be
// copied or replaced). The server creates them 0700 and 0600.
func warnOpenModes(log *slog.Logger, dataDir string) {
	for _, p := range []string{dataDir, filepath.Join(dataDir, "keys.db")} {
		fi, err := os.Stat(p)
		if err != nil {
			continue
		}
		if perm := fi.Mode().Perm(); perm&0o077 != 0 {
			log.Warn("file mode lets group or others in: restrict it (chmod go-rwx)", slog.String("path", p), slog.String("mode", fmt.Sprintf("%04o", perm)))
		}
	}
}
