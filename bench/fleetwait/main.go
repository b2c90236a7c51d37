// Command fleetwait measures what "maintenance on" costs its caller now
// that it waits for the fleet: with N gates running (1, 10 and 50 by
// default, each with its own store connection), the time from the start of
// "on" (or "off") to its return, doing what the CLI does: open the store,
// apply the change (maintenance.UpdateBefore), wait until every live gate
// serves it (maintenance.WaitFleet), close the store. It reports p50, p99 and
// max for each store and fleet size, and fails when a change is not
// followed by every gate within the CLI's default wait.
//
//	go run ./bench/fleetwait [-gates 1,10,50] [-changes 40] [-stores sqlite,file,postgres,redis]
//
// Targets: p99 at 50 gates <= 100 ms on PostgreSQL and Redis, <= 300 ms on
// SQLite and file. PostgreSQL and Redis are found as the tests find them
// (MAINTENANCE_TEST_POSTGRES, MAINTENANCE_TEST_REDIS); each run uses a
// schema or key prefix of its own and removes it afterwards. 50 PostgreSQL
// gates hold about 100 connections: run them against a private server with
// a higher max_connections (initdb, then pg_ctl start -o "-p 55432 -c
// max_connections=300"), as for bench/propagation.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	goredis "github.com/redis/go-redis/v9"

	"github.com/gomaint/maintenance"
	"github.com/gomaint/maintenance/internal/storeurl"
	"github.com/gomaint/maintenance/internal/testenv"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "fleetwait:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("fleetwait", flag.ContinueOnError)
	sizes := fs.String("gates", "1,10,50", "fleet sizes, comma-separated")
	changes := fs.Int("changes", 40, "number of changes per store and size (on, off, on...)")
	stores := fs.String("stores", "sqlite,file,postgres,redis", "stores to measure, comma-separated")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *changes < 1 {
		return fmt.Errorf("-changes must be at least 1")
	}
	fmt.Fprintf(out, "%-9s %6s %8s %9s %9s %9s %12s %12s %9s %9s\n", "store", "gates", "changes", "p50", "p99", "max", "p50 w/ open", "p99 w/ open", "open p50", "open p99")
	for kind := range strings.SplitSeq(*stores, ",") {
		for s := range strings.SplitSeq(*sizes, ",") {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 {
				return fmt.Errorf("-gates %q: accepted: numbers of at least 1, like 1,10,50", *sizes)
			}
			url, cleanup, err := fresh(ctx, kind)
			if err != nil {
				return err
			}
			if kind == "postgres" {
				checkConnections(ctx, url, n)
			}
			lat, total, open, err := measure(ctx, url, n, *changes)
			cleanup()
			if err != nil {
				return fmt.Errorf("%s, %d gates: %w", kind, n, err)
			}
			slices.Sort(lat)
			slices.Sort(total)
			slices.Sort(open)
			fmt.Fprintf(out, "%-9s %6d %8d %9s %9s %9s %12s %12s %9s %9s\n", kind, n, *changes,
				pct(lat, 0.50), pct(lat, 0.99), lat[len(lat)-1].Round(10*time.Microsecond), pct(total, 0.50), pct(total, 0.99),
				pct(open, 0.50), pct(open, 0.99))
		}
	}
	return nil
}

// measure starts n gates on url and returns, for each of m changes, the
// time the CLI's "on" (or "off") takes from the change to its return, and
// the same with the opening and closing of the store (which the CLI does
// too, and which does not depend on the fleet), and the time the opening
// alone took.
func measure(ctx context.Context, url string, n, m int) (lat, total, open []time.Duration, err error) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	if _, err := storeurl.Create(ctx, url); err != nil {
		return nil, nil, nil, err
	}
	for i := range n {
		st, err := storeurl.Open(ctx, url)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("opening the store of gate %d: %w", i+1, err)
		}
		defer st.Close()
		g, err := maintenance.New(ctx, st, maintenance.Options{Logger: quiet})
		if err != nil {
			return nil, nil, nil, fmt.Errorf("starting gate %d: %w", i+1, err)
		}
		defer g.Close()
	}
	// Every gate has reported itself before the first change.
	if err := waitLive(ctx, url, n); err != nil {
		return nil, nil, nil, err
	}
	for k := range m {
		c := maintenance.Off(nil)
		if k%2 == 0 {
			c = maintenance.On(nil, maintenance.OnOptions{})
		}
		c.Actor, c.Source, c.Reason = maintenance.Actor(), "bench", "fleet wait benchmark"
		start := time.Now()
		f, d, o, err := cliChange(ctx, url, c)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("change %d: %w", k+1, err)
		}
		if f.Gates.Live != n || f.Gates.Switched != n {
			return nil, nil, nil, fmt.Errorf("change %d: %d/%d gates switched, want %d", k+1, f.Gates.Switched, f.Gates.Live, n)
		}
		lat, total, open = append(lat, d), append(total, time.Since(start)), append(open, o)
	}
	return lat, total, open, nil
}

// cliChange does what a CLI command that changes the state does, and
// returns how long the change and the wait took, and the opening of the
// store.
func cliChange(ctx context.Context, url string, c maintenance.Change) (f maintenance.Fleet, d, open time.Duration, err error) {
	start := time.Now()
	st, err := storeurl.Open(ctx, url)
	if err != nil {
		return maintenance.Fleet{}, 0, 0, err
	}
	defer st.Close()
	open = time.Since(start)
	start = time.Now()
	_, after, err := maintenance.UpdateBefore(ctx, st, c)
	if err != nil {
		return maintenance.Fleet{}, 0, open, err
	}
	f, err = maintenance.WaitFleet(ctx, st, after.Version, maintenance.DefaultWait, nil)
	return f, time.Since(start), open, err
}

// waitLive waits until n gates are listed.
func waitLive(ctx context.Context, url string, n int) error {
	st, err := storeurl.Open(ctx, url)
	if err != nil {
		return err
	}
	defer st.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		gs, err := st.Gates(ctx)
		if err != nil {
			return err
		}
		if len(gs) == n {
			return nil
		}
		if time.Now().After(deadline) {
			return errors.New("the gates did not all report themselves within 30s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// fresh returns the URL of a new, empty store of the given kind and a
// function that removes it.
func fresh(ctx context.Context, kind string) (string, func(), error) {
	tag := fmt.Sprintf("bench_%d_%d", os.Getpid(), rand.N(1<<30))
	switch kind {
	case "sqlite", "file":
		dir, err := os.MkdirTemp("", "fleetwait")
		if err != nil {
			return "", nil, err
		}
		return kind + ":" + filepath.Join(dir, "m"), func() { os.RemoveAll(dir) }, nil
	case "postgres":
		u := env("MAINTENANCE_TEST_POSTGRES", testenv.DefaultPostgres)
		u += sep(u) + "schema=" + tag
		return u, func() { dropSchema(ctx, u, tag) }, nil
	case "redis":
		u := env("MAINTENANCE_TEST_REDIS", testenv.DefaultRedis)
		u += sep(u) + "prefix=" + tag + ":"
		return u, func() { dropPrefix(ctx, u, tag+":") }, nil
	}
	return "", nil, fmt.Errorf("store %q: accepted: sqlite, file, postgres, redis", kind)
}

func sep(u string) string {
	if strings.Contains(u, "?") {
		return "&"
	}
	return "?"
}

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func pct(d []time.Duration, p float64) time.Duration {
	i := int(p*float64(len(d)) + 0.5)
	return d[min(max(i-1, 0), len(d)-1)].Round(10 * time.Microsecond)
}

func dropSchema(ctx context.Context, url, schema string) {
	conn, err := pgx.Connect(ctx, strings.Replace(url, "schema="+schema, "", 1))
	if err != nil {
		fmt.Fprintln(os.Stderr, "fleetwait: removing schema", schema+":", err)
		return
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
		fmt.Fprintln(os.Stderr, "fleetwait: removing schema", schema+":", err)
	}
}

// dropPrefix removes a Redis run's keys.
func dropPrefix(ctx context.Context, url, prefix string) {
	opts, err := goredis.ParseURL(strings.Replace(url, "prefix="+prefix, "", 1))
	if err != nil {
		return
	}
	c := goredis.NewClient(opts)
	defer c.Close()
	iter := c.Scan(ctx, 0, "*"+prefix+"*", 1000).Iterator()
	for iter.Next(ctx) {
		c.Del(ctx, iter.Val())
	}
}

// checkConnections warns when the server's max_connections cannot hold a
// listener and a pooled connection for every gate.
func checkConnections(ctx context.Context, url string, gates int) {
	conn, err := pgx.Connect(ctx, strings.Split(url, "?")[0]+"?sslmode=disable")
	if err != nil {
		return
	}
	defer conn.Close(ctx)
	var max int
	if conn.QueryRow(ctx, "SELECT current_setting('max_connections')::int").Scan(&max) == nil && max < 2*gates+10 {
		fmt.Fprintf(os.Stderr, "fleetwait: warning: max_connections is %d; %d gates need about %d (ALTER SYSTEM SET max_connections = %d, then restart the server)\n",
			max, gates, 2*gates+10, 2*gates+50)
	}
}
