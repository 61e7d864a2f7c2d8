// Command keyserver serves content keys and DRM signaling to video
// packagers over gRPC and REST.
//
// With no flags it runs on its embedded default: a bbolt file under
// ./data, a development master key generated on first run, gRPC on
// 127.0.0.1:9090 and REST on 127.0.0.1:8080. Every flag can also be given
// as an environment variable KEYSERVER_<FLAG> (upper case, dashes as
// underscores); a flag on the command line wins.
//
// Exit status: 0 after a clean shutdown, -h/--help or --version; 2 for a
// command-line error (printed with a pointer to -h); 1 for anything else
// (one line on stderr; with --log-format json, one JSON log record).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	var ue usageError
	var re reportedError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return
	case errors.As(err, &ue):
		os.Exit(2)
	case errors.As(err, &re):
		os.Exit(1)
	}
	fmt.Fprintln(os.Stderr, "keyserver:", err)
	os.Exit(1)
}
