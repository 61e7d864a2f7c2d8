// Command keyserver serves content keys and DRM signaling to video
// packagers over gRPC and REST.
//
// With no flags it runs on its embedded default: a bbolt file under
// ./data, a development master key generated on first run, gRPC on
// 127.0.0.1:9090 and REST on 127.0.0.1:8080. Every flag can also be given
// as an environment variable KEYSERVER_<FLAG> (upper case, dashes as
// underscores); a flag on the command line wins.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "keyserver:", err)
		os.Exit(1)
	}
}
