// Package version says which build of the module is running: the module
// version, the VCS commit and the Go version, for --version and the first
// log line of the daemon.
//
// The values come from the build information the Go toolchain embeds
// (runtime/debug.ReadBuildInfo): a module version when built with
// `go install module@version`, the commit when built inside a git checkout
// with VCS stamping on (go build's default; GOFLAGS=-buildvcs=false or go
// run turn it off). A release build may set them explicitly, which wins:
//
//	go build -ldflags "-X github.com/keyserver/keyserver/internal/version.version=v1.2.0 \
//	  -X github.com/keyserver/keyserver/internal/version.commit=$(git rev-parse HEAD)" ./cmd/keyserver
package version

import (
	"runtime"
	"runtime/debug"
	"strings"
)

// Set at link time (-ldflags -X); empty means the build information's.
var (
	version string
	commit  string
)

// Info describes the running build. Fields the build did not record are
// "unknown" (Version: "(devel)" for a build from a checkout).
type Info struct {
	Version  string // module version, e.g. v1.2.0, or (devel)
	Commit   string // VCS revision, with "+dirty" when the tree was modified
	Go       string // Go version, e.g. go1.26.8
	Platform string // GOOS/GOARCH
}

// Get returns the running build's Info.
func Get() Info {
	i := Info{Version: "unknown", Commit: "unknown", Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" {
			i.Version = bi.Main.Version
		}
		modified := false
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				i.Commit = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
		if modified && i.Commit != "unknown" {
			i.Commit += "+dirty"
		}
	}
	if version != "" {
		i.Version = version
	}
	if commit != "" {
		i.Commit = commit
	}
	return i
}

// String is the one line --version prints for the command name:
// "keyserver v1.2.0 commit 0123abcd… go1.26.8 linux/amd64".
func (i Info) String(name string) string {
	return strings.Join([]string{name, i.Version, "commit", i.Commit, i.Go, i.Platform}, " ")
}
