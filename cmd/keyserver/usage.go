package main

// The command line's help, its environment form and its errors.

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
)

// usageError is a command-line error the flag package has already printed,
// with the usage; main exits 2 without printing it again.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// reportedError is an error run has logged already (--log-format json);
// main exits 1 without printing it again.
type reportedError struct{ err error }

func (e reportedError) Error() string { return e.err.Error() }
func (e reportedError) Unwrap() error { return e.err }

// envName is the environment variable of a flag: KEYSERVER_<FLAG>, upper
// case, dashes as underscores.
func envName(flagName string) string {
	return "KEYSERVER_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// usage prints the help of -h/--help (exit 0) and of a command-line error
// (exit 2).
func usage(fs *flag.FlagSet) {
	w := fs.Output()
	fmt.Fprint(w, `Usage: keyserver [flags]

Serves content keys and DRM signaling to packagers over gRPC and REST.
With no flags it runs on its embedded default: a bbolt key store under
./data, a development master key generated there on first run, gRPC on
127.0.0.1:9090 and REST on 127.0.0.1:8080.

Every flag can also be set as an environment variable KEYSERVER_<FLAG>
(upper case, '-' as '_'), e.g. KEYSERVER_HTTP_ADDR=0.0.0.0:8080 or
KEYSERVER_LOG_FORMAT=json; a flag on the command line wins. Tenants, the
Widevine signers and credentials go in the --config YAML file (an example
with every option: docs/keyserver.example.yaml).

Flags:
`)
	fs.PrintDefaults()
}

// expected describes the values a flag accepts, for an error message.
func expected(f *flag.Flag) string {
	typ, _ := flag.UnquoteUsage(f)
	switch typ {
	case "":
		return "true or false"
	case "int", "int64":
		return "an integer"
	case "uint", "uint64":
		return "a non-negative integer"
	case "float":
		return "a number"
	case "duration":
		return "a duration with a unit, such as 10s, 1m30s or 100ms"
	}
	return "a " + typ
}

// quoteClip quotes a value for an error message, at most 64 bytes of it.
// (Flags hold no secrets: those come only from files.)
func quoteClip(v string) string {
	if len(v) > 64 {
		v = v[:64] + "…"
	}
	return strconv.Quote(v)
}

// writeReady writes the one stdout line saying the server listens, in the
// log format: text "keyserver listening grpc=… http=…[ pprof=…]", which
// scripts and tests wait for, or one JSON object like the log's lines
// (msg "keyserver listening", attributes grpc, http and pprof).
func writeReady(w io.Writer, format, grpcAddr, httpAddr, pprofAddr string) error {
	if format == "json" {
		// A fresh handler per call: the line is written once.
		cw := &errWriter{w: w}
		attrs := []any{slog.String("grpc", grpcAddr), slog.String("http", httpAddr)}
		if pprofAddr != "" {
			attrs = append(attrs, slog.String("pprof", pprofAddr))
		}
		slog.New(slog.NewJSONHandler(cw, nil)).Info("keyserver listening", attrs...)
		return cw.err
	}
	line := "keyserver listening grpc=" + grpcAddr + " http=" + httpAddr
	if pprofAddr != "" {
		line += " pprof=" + pprofAddr
	}
	_, err := io.WriteString(w, line+"\n")
	return err
}

// errWriter keeps the first write error (slog's handlers report none).
type errWriter struct {
	w   io.Writer
	err error
}

func (c *errWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	if err != nil && c.err == nil {
		c.err = err
	}
	return n, err
}
