package main

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
)

// version is the version of this program; release builds set it with
// -ldflags "-X main.version=v1.2.3". When empty, the module version from
// the build information is used.
var version = ""

const versionUsage = `Usage: maintenance version

Prints the version of this program, the Go version it was built with and
the platform: "maintenance v1.2.3 go1.26.0 linux/amd64". Builds from a
source tree print "(devel)" as the version.
`

// runVersion implements "maintenance version".
func runVersion(ctx context.Context, e *env, args []string) error {
	fs := e.newFlagSet("version", versionUsage)
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	if err := noArgs("version", pos); err != nil {
		return err
	}
	v := version
	if v == "" {
		v = "(devel)"
		if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
			v = bi.Main.Version
		}
	}
	_, err = fmt.Fprintf(e.stdout, "maintenance %s %s %s/%s\n", v, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return err
}
