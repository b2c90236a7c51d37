package postgres_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gomaint/maintenance"
	"github.com/gomaint/maintenance/postgres"
)

// logWriter sends a gate's log lines to the test log.
type logWriter struct{ t testing.TB }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Logf("%s", p)
	return len(p), nil
}

// requests counts the answers a gate gives to clients that send requests
// without pause.
type requests struct {
	ok, maintenance, failed atomic.Int64
	mu                      sync.Mutex
	firstFailure            string
}

func (r *requests) total() int64 { return r.ok.Load() + r.maintenance.Load() + r.failed.Load() }

func (r *requests) fail(msg string) {
	if r.failed.Add(1) == 1 {
		r.mu.Lock()
		r.firstFailure = msg
		r.mu.Unlock()
	}
}

// send sends requests to url until ctx is done.
func (r *requests) send(ctx context.Context, client *http.Client, url string) {
	for ctx.Err() == nil {
		req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
		if err != nil {
			r.fail(err.Error())
			return
		}
		resp, err := client.Do(req)
		if err != nil {
			if ctx.Err() == nil {
				r.fail(err.Error())
			}
			continue
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		switch {
		case err != nil && ctx.Err() == nil:
			r.fail(fmt.Sprintf("reading the answer: %v", err))
		case err != nil:
		case resp.StatusCode == http.StatusOK && string(body) == "app":
			r.ok.Add(1)
		case resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get("Cache-Control") == "no-store":
			r.maintenance.Add(1)
		default:
			r.fail(fmt.Sprintf("status %d, body %.100q", resp.StatusCode, body))
		}
	}
}

// TestGateSurvivesCrash kills a private PostgreSQL server under a gate that
// serves requests without pause, and starts it again: no request fails while
// the server is gone, and the gate follows a change made after the restart
// within 2 s of the restart.
func TestGateSurvivesCrash(t *testing.T) {
	c := startCluster(t)
	u := c.url("maintenance_crash")
	st := mustOpen(t, u)
	gate, err := maintenance.New(t.Context(), st, maintenance.Options{
		Logger: slog.New(slog.NewTextHandler(logWriter{t}, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer gate.Close()
	app := httptest.NewServer(gate.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "app")
	})))
	defer app.Close()

	var reqs requests
	ctx, stopClients := context.WithCancel(t.Context())
	var clients sync.WaitGroup
	client := &http.Client{Timeout: 5 * time.Second}
	for range 4 {
		clients.Go(func() { reqs.send(ctx, client, app.URL) })
	}
	defer func() {
		stopClients()
		clients.Wait()
	}()
	if !poll(5*time.Second, func() bool { return reqs.total() >= 100 }) {
		t.Fatalf("only %d requests answered in 5 s", reqs.total())
	}
	// A change committed before the crash survives it.
	before, err := st.Update(t.Context(), maintenance.AddSites("shop.example.com"))
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	err = gate.WaitVersion(wctx, before.Version)
	cancel()
	if err != nil {
		t.Fatalf("gate at version %d, want %d: %v", gate.Version(), before.Version, err)
	}

	c.kill()
	killed := time.Now()
	answered := reqs.total()

	// The store reports the outage promptly, without hanging.
	for _, op := range []struct {
		name string
		call func(ctx context.Context) error
	}{
		{"Load", func(ctx context.Context) error { _, err := st.Load(ctx); return err }},
		{"Update", func(ctx context.Context) error {
			_, err := st.Update(ctx, maintenance.AddSites("lost.example.com"))
			return err
		}},
		{"Events", func(ctx context.Context) error { _, err := st.Events(ctx, maintenance.EventFilter{}); return err }},
		{"Gates", func(ctx context.Context) error { _, err := st.Gates(ctx); return err }},
	} {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		start := time.Now()
		err := op.call(ctx)
		cancel()
		if err == nil {
			t.Fatalf("%s succeeded with the server killed", op.name)
		}
		if d := time.Since(start); d > postgres.DefaultConnectTimeout+time.Second {
			t.Errorf("%s took %s to fail with the server killed: %v", op.name, d, err)
		}
	}

	// Requests keep flowing for a second of outage: the duration of the
	// scenario, not a wait for something to happen.
	<-time.After(time.Second - time.Since(killed))
	during := reqs.total() - answered
	if during == 0 {
		t.Error("no request answered while the server was down")
	}

	c.start()
	restarted := time.Now()
	t.Logf("server down for %s; %d requests answered meanwhile", restarted.Sub(killed).Round(time.Millisecond), during)

	next, err := mustOpen(t, u).Update(t.Context(), maintenance.On(nil, maintenance.OnOptions{}))
	if err != nil {
		t.Fatalf("Update after the restart: %v", err)
	}
	if next.Version != before.Version+1 {
		t.Fatalf("version %d after the restart, want %d: the crash lost a committed change", next.Version, before.Version+1)
	}
	wctx, cancel = context.WithDeadline(t.Context(), restarted.Add(2*time.Second))
	err = gate.WaitVersion(wctx, next.Version)
	cancel()
	if err != nil {
		t.Fatalf("gate at version %d %s after the restart, want version %d within 2 s: %v",
			gate.Version(), time.Since(restarted).Round(time.Millisecond), next.Version, err)
	}
	t.Logf("gate at version %d %s after the restart", next.Version, time.Since(restarted).Round(time.Millisecond))
	if !poll(5*time.Second, func() bool { return reqs.maintenance.Load() > 0 }) {
		t.Error("no maintenance answer after the change")
	}
	stopClients()
	clients.Wait()

	if n := reqs.failed.Load(); n > 0 {
		t.Errorf("%d of %d requests failed; the first: %s", n, reqs.total(), reqs.firstFailure)
	}
	if reqs.ok.Load() == 0 {
		t.Error("no request reached the app")
	}
	t.Logf("%d requests: %d passed, %d maintenance answers, %d failed",
		reqs.total(), reqs.ok.Load(), reqs.maintenance.Load(), reqs.failed.Load())
}

// BenchmarkWatchFanout measures how long a change takes to reach 50 gates,
// each on a Store of its own (as 50 servers would be), on a private server:
// from the start of the Update to the last gate serving the new version. It
// reports the median and the 99th percentile.
func BenchmarkWatchFanout(b *testing.B) {
	const gates = 50
	c := startCluster(b, "max_connections=300")
	u := c.url("maintenance_fanout")
	wr := mustOpen(b, u)
	var gs []*maintenance.Gate
	for range gates {
		g, err := maintenance.New(b.Context(), mustOpen(b, u), maintenance.Options{
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		})
		if err != nil {
			b.Fatal(err)
		}
		defer g.Close()
		gs = append(gs, g)
	}
	var times []time.Duration
	on := true
	for b.Loop() {
		ch := maintenance.Off(nil)
		if on {
			ch = maintenance.On(nil, maintenance.OnOptions{})
		}
		on = !on
		start := time.Now()
		next, err := wr.Update(b.Context(), ch)
		if err != nil {
			b.Fatal(err)
		}
		for _, g := range gs {
			if err := g.WaitVersion(b.Context(), next.Version); err != nil {
				b.Fatal(err)
			}
		}
		times = append(times, time.Since(start))
	}
	slices.Sort(times)
	b.ReportMetric(float64(times[len(times)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(times[len(times)*99/100].Microseconds())/1000, "p99-ms")
}
