// Command propagation measures how long a change takes to reach a fleet of
// gates: it starts N gates (default 50), each with its own store connection,
// switches maintenance on and off M times through Store.Update (the code
// path of the CLI), and reports p50, p99 and max of the time from the
// change's commit to each gate's snapshot swap, for each store.
//
//	go run ./bench/propagation [-gates 50] [-changes 20] [-stores sqlite,file,postgres,redis]
//
// PostgreSQL and Redis are found as the tests find them
// (MAINTENANCE_TEST_POSTGRES, MAINTENANCE_TEST_REDIS); each run uses a
// schema or key prefix of its own and removes it afterwards. 50 PostgreSQL
// gates hold about 100 connections: the server's max_connections must allow
// that (the program says so when it does not).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	goredis "github.com/redis/go-redis/v9"

	"github.com/gomaint/maintenance"
	"github.com/gomaint/maintenance/internal/storeurl"
	"github.com/gomaint/maintenance/internal/testenv"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "propagation:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("propagation", flag.ContinueOnError)
	gates := fs.Int("gates", 50, "number of gates, each with its own store connection")
	changes := fs.Int("changes", 20, "number of changes (on, off, on...)")
	stores := fs.String("stores", "sqlite,file,postgres,redis", "stores to measure, comma-separated")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *gates < 1 || *changes < 1 {
		return fmt.Errorf("-gates and -changes must be at least 1")
	}
	fmt.Fprintf(out, "%-9s %6s %8s %9s %9s %9s\n", "store", "gates", "changes", "p50", "p99", "max")
	for kind := range strings.SplitSeq(*stores, ",") {
		url, cleanup, err := fresh(ctx, kind)
		if err != nil {
			return err
		}
		if kind == "postgres" {
			checkConnections(ctx, url, *gates)
		}
		lat, err := measure(ctx, url, *gates, *changes)
		cleanup()
		if err != nil {
			return fmt.Errorf("%s: %w", kind, err)
		}
		slices.Sort(lat)
		fmt.Fprintf(out, "%-9s %6d %8d %9s %9s %9s\n", kind, *gates, *changes,
			pct(lat, 0.50), pct(lat, 0.99), lat[len(lat)-1].Round(10*time.Microsecond))
	}
	return nil
}

func pct(d []time.Duration, p float64) time.Duration {
	i := int(p*float64(len(d)) + 0.5)
	return d[min(max(i-1, 0), len(d)-1)].Round(10 * time.Microsecond)
}

// fresh returns the URL of a new, empty store of the given kind and a
// function that removes it.
func fresh(ctx context.Context, kind string) (string, func(), error) {
	tag := fmt.Sprintf("bench_%d_%d", os.Getpid(), rand.N(1<<30))
	switch kind {
	case "sqlite", "file":
		dir, err := os.MkdirTemp("", "propagation")
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

// measure starts n gates on url and returns, for each of m changes and each
// gate, the time from the change's commit (Update returning) to the gate's
// swap. A gate may swap before Update returns (the notification can beat the
// commit's acknowledgement): that counts as 0.
func measure(ctx context.Context, url string, n, m int) ([]time.Duration, error) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	writer, err := storeurl.Open(ctx, url)
	if err != nil {
		return nil, err
	}
	defer writer.Close()
	gs := make([]*maintenance.Gate, n)
	for i := range gs {
		st, err := storeurl.Open(ctx, url)
		if err != nil {
			return nil, fmt.Errorf("opening the store of gate %d: %w", i+1, err)
		}
		defer st.Close()
		g, err := maintenance.New(ctx, st, maintenance.Options{Logger: quiet})
		if err != nil {
			return nil, fmt.Errorf("starting gate %d: %w", i+1, err)
		}
		defer g.Close()
		if err := g.StoreError(); err != nil {
			return nil, fmt.Errorf("gate %d: %w", i+1, err)
		}
		gs[i] = g
	}
	var lat []time.Duration
	for k := range m {
		c := maintenance.Off(nil)
		if k%2 == 0 {
			c = maintenance.On(nil, maintenance.OnOptions{})
		}
		c.Actor, c.Source, c.Reason = maintenance.Actor(), "bench", "propagation benchmark"
		swapped := make([]time.Time, n)
		var wg sync.WaitGroup
		var version int64
		ready := make(chan struct{})
		for i, g := range gs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-ready
				wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				defer cancel()
				if g.WaitVersion(wctx, version) == nil {
					swapped[i] = time.Now()
				}
			}()
		}
		st, err := writer.Update(ctx, c)
		committed := time.Now()
		if err != nil {
			close(ready)
			wg.Wait()
			return nil, err
		}
		version = st.Version
		close(ready)
		wg.Wait()
		for i, t := range swapped {
			if t.IsZero() {
				return nil, fmt.Errorf("change %d did not reach gate %d within 10s", k+1, i+1)
			}
			lat = append(lat, max(t.Sub(committed), 0))
		}
	}
	return lat, nil
}

// dropSchema removes a PostgreSQL run's schema.
func dropSchema(ctx context.Context, url, schema string) {
	conn, err := pgx.Connect(ctx, strings.Replace(url, "schema="+schema, "", 1))
	if err != nil {
		fmt.Fprintln(os.Stderr, "propagation: removing schema", schema+":", err)
		return
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
		fmt.Fprintln(os.Stderr, "propagation: removing schema", schema+":", err)
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
		fmt.Fprintf(os.Stderr, "propagation: warning: max_connections is %d; %d gates need about %d (ALTER SYSTEM SET max_connections = %d, then restart the server)\n",
			max, gates, 2*gates+10, 2*gates+50)
	}
}
