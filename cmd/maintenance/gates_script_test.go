package main

import (
	"context"
	"flag"
	"io"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/gomaint/maintenance"
	"github.com/gomaint/maintenance/internal/storeurl"
	"github.com/rogpeppe/go-internal/testscript"
)

// The script commands of the gate registry, on the store of
// $MAINTENANCE_STORE:
//
//	heartbeat [-host H] [-release R] [-error E] [-started TIME] [-age DUR] ID VERSION
//	                       record a heartbeat of gate ID, serving VERSION,
//	                       seen DUR ago (default now), as a running gate
//	                       does; started at TIME (RFC 3339, default
//	                       2026-05-04T09:00:00Z), on host H (default web-1)
//	waitgates N VERSION    wait until exactly N gates are listed, all serving
//	                       VERSION (10s at most)
//	declareas ACTOR HOST   declare site HOST as ACTOR, source "test", as
//	                       another person or program would
func init() {
	scriptCmds["heartbeat"] = cmdHeartbeat
	scriptCmds["waitgates"] = cmdWaitGates
	scriptCmds["declareas"] = cmdDeclareAs
}

func cmdDeclareAs(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: declareas ACTOR HOST")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st := scriptStore(ctx, ts)
	defer st.Close()
	c := maintenance.AddSites(args[1])
	c.Actor, c.Source = args[0], "test"
	_, err := st.Update(ctx, c)
	ts.Check(err)
	ts.Check(st.Close())
}

// scriptStore opens the store of $MAINTENANCE_STORE, whose path is relative
// to the script's directory, not to the test process's.
func scriptStore(ctx context.Context, ts *testscript.TestScript) maintenance.Store {
	url := ts.Getenv(storeEnv)
	kind, path, err := storeurl.Parse(url)
	ts.Check(err)
	if (kind == "sqlite" || kind == "file") && !filepath.IsAbs(path) {
		url = kind + ":" + ts.MkAbs(path)
	}
	st, err := openStore(ctx, url)
	ts.Check(err)
	return st
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

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st := scriptStore(ctx, ts)
	defer st.Close()
	ts.Check(st.Heartbeat(ctx, g))
	ts.Check(st.Close())
}

func cmdWaitGates(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: waitgates N VERSION")
	}
	n, err := strconv.Atoi(args[0])
	ts.Check(err)
	version, err := strconv.ParseInt(args[1], 10, 64)
	ts.Check(err)
	const limit = 10 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	st := scriptStore(ctx, ts)
	defer st.Close()
	var last []maintenance.GateInfo
	for {
		gates, err := st.Gates(ctx)
		ts.Check(err)
		if len(gates) == n && !slices.ContainsFunc(gates, func(g maintenance.GateInfo) bool { return g.Version != version }) {
			return
		}
		last = gates
		select {
		case <-ctx.Done():
			ts.Fatalf("not %d gates at version %d within %s; last: %+v", n, version, limit, last)
		case <-time.After(20 * time.Millisecond):
		}
	}
}
