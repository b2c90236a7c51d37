package main

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/gomaint/maintenance/file"
	"github.com/gomaint/maintenance/postgres"
	"github.com/gomaint/maintenance/sqlite"
)

// Set by release builds: -ldflags "-X main.version=v1.2.3 -X
// main.commit=abc123 -X main.date=2026-12-07T10:00:00Z". When empty, the
// build information recorded by the go command is used (module version,
// VCS revision and time), else "(devel)" and "unknown".
var (
	version = ""
	commit  = ""
	date    = ""
)

const versionUsage = `Usage: maintenance version [--json]
       maintenance --version

Prints the version of this program, then the commit and build date it was
built from, the Go version and platform, and the layout version of each
store it reads and writes:

  maintenance v1.2.3
  commit   4f2c1e9a0b7d (2026-12-07T10:00:00Z)
  go       go1.26.8 linux/amd64
  stores   sqlite schema 4, postgres schema 3, file format 1

Builds from a source tree print "(devel)" as the version; a commit with
uncommitted changes ends in "+dirty". A store whose layout is newer than
the one printed here was written by a newer version, which this one
refuses to read.

Flags:
  --json   one object: version, commit, date, go, platform, stores
`

// buildInfo is what "maintenance version" prints.
type buildInfo struct {
	Version  string         `json:"version"`
	Commit   string         `json:"commit"`
	Date     string         `json:"date"`
	Go       string         `json:"go"`
	Platform string         `json:"platform"`
	Stores   map[string]int `json:"stores"`
}

// currentBuild returns the version information of this binary.
func currentBuild() buildInfo {
	b := buildInfo{
		Version: version, Commit: commit, Date: date,
		Go:       runtime.Version(),
		Platform: runtime.GOOS + "/" + runtime.GOARCH,
		Stores: map[string]int{
			"sqlite":   sqlite.SchemaVersion(),
			"postgres": postgres.SchemaVersion(),
			"file":     file.Format,
		},
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if b.Version == "" && bi.Main.Version != "" {
			b.Version = bi.Main.Version
		}
		dirty := false
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if b.Commit == "" {
					b.Commit = s.Value
				}
			case "vcs.time":
				if b.Date == "" {
					b.Date = s.Value
				}
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
		if dirty && commit == "" && b.Commit != "" {
			b.Commit += "+dirty"
		}
	}
	if b.Version == "" {
		b.Version = "(devel)"
	}
	if b.Commit == "" {
		b.Commit = "unknown"
	}
	if b.Date == "" {
		b.Date = "unknown"
	}
	return b
}

// write prints the build information as text.
func (b buildInfo) write(w io.Writer) error {
	_, err := fmt.Fprintf(w, "maintenance %s\ncommit   %s (%s)\ngo       %s %s\nstores   sqlite schema %d, postgres schema %d, file format %d\n",
		b.Version, b.Commit, b.Date, b.Go, b.Platform, b.Stores["sqlite"], b.Stores["postgres"], b.Stores["file"])
	return err
}

// runVersion implements "maintenance version".
func runVersion(ctx context.Context, e *env, args []string) error {
	fs := e.newFlagSet("version", versionUsage)
	asJSON := fs.Bool("json", false, "")
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	if err := noArgs("version", pos); err != nil {
		return err
	}
	b := currentBuild()
	if *asJSON {
		return writeJSON(e.stdout, b)
	}
	return b.write(e.stdout)
}
