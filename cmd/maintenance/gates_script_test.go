package main

import (
	"context"
	"flag"
	"io"
	"path/filepath"
	"strconv"
	"time"

	"github.com/gomaint/maintenance"
	"github.com/gomaint/maintenance/internal/storeurl"
	"github.com/rogpeppe/go-internal/testscript"
)

// The script command that stands for a running gate:
//
//	heartbeat [-host H] [-release R] [-error E] [-started TIME] [-age DUR] ID VERSION
//	                       record a heartbeat of gate ID, serving VERSION, in
//	                       the store of $MAINTENANCE_STORE, seen DUR ago
//	                       (default now); started at TIME (RFC 3339, default
//	                       2026-05-04T09:00:00Z), on host H (default web-1)
func init() {
	scriptCmds["heartbeat"] = cmdHeartbeat
}

func cmdHeartbeat(ts *testscript.TestScript, neg bool, args []string) {
	const usage = "usage: heartbeat [-host H] [-release R] [-error E] [-started TIME] [-age DUR] ID VERSION"
	if neg {
		ts.Fatalf("%s", usage)
	}
	fs := flag.NewFlagSet("heartbeat", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	g := maintenance.GateInfo{}
	var started string
	var age time.Duration
	fs.StringVar(&g.Host, "host", "web-1", "")
	fs.StringVar(&g.Release, "release", "", "")
	fs.StringVar(&g.StoreError, "error", "", "")
	fs.StringVar(&started, "started", "2026-05-04T09:00:00Z", "")
	fs.DurationVar(&age, "age", 0, "")
	if err := fs.Parse(args); err != nil || fs.NArg() != 2 {
		ts.Fatalf("%s (%v)", usage, err)
	}
	g.ID = fs.Arg(0)
	var err error
	g.Version, err = strconv.ParseInt(fs.Arg(1), 10, 64)
	ts.Check(err)
	g.Started, err = time.Parse(time.RFC3339, started)
	ts.Check(err)
	g.LastSeen = time.Now().Add(-age)

	// A store's path is relative to the script's directory, not to the
	// test process's.
	url := ts.Getenv(storeEnv)
	kind, path, err := storeurl.Parse(url)
	ts.Check(err)
	if (kind == "sqlite" || kind == "file") && !filepath.IsAbs(path) {
		url = kind + ":" + ts.MkAbs(path)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := openStore(ctx, url)
	ts.Check(err)
	defer st.Close()
	ts.Check(st.Heartbeat(ctx, g))
	ts.Check(st.Close())
}
