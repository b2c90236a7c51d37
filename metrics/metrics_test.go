package metrics_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/gomaint/maintenance"
	"github.com/gomaint/maintenance/file"
	"github.com/gomaint/maintenance/metrics"
	"github.com/gomaint/maintenance/sqlite"
)

// setup starts a gate on a new SQLite store, with m as its observer when
// m is not nil.
func setup(t testing.TB, m *metrics.Metrics, opts maintenance.Options) (maintenance.Store, *maintenance.Gate) {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	if m != nil {
		opts.Observer = m
	}
	g, err := maintenance.New(context.Background(), st, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	return st, g
}

// update applies c and waits until g serves it.
func update(t testing.TB, st maintenance.Store, g *maintenance.Gate, c maintenance.Change) *maintenance.State {
	t.Helper()
	c.Actor, c.Source = "test", "test"
	s, err := st.Update(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := g.WaitVersion(ctx, s.Version); err != nil {
		t.Fatal(err)
	}
	return s
}

// sample is one gathered series: its first label's value, and its value
// (a gauge's), or its count, sum and number of buckets (a histogram's).
type sample struct {
	label       string
	value       float64
	count       uint64
	sum         float64
	buckets     int
	isHistogram bool
}

// gather returns the series of the metric called name.
func gather(t *testing.T, reg prometheus.Gatherer, name string) []sample {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var out []sample
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			var s sample
			if ls := m.GetLabel(); len(ls) > 0 {
				s.label = ls[0].GetValue()
			}
			s.value = m.GetGauge().GetValue()
			if h := m.GetHistogram(); h != nil {
				s.isHistogram, s.count, s.sum, s.buckets = true, h.GetSampleCount(), h.GetSampleSum(), len(h.GetBucket())
			}
			out = append(out, s)
		}
	}
	if out == nil {
		t.Fatalf("no metric %s", name)
	}
	return out
}

func TestMetrics(t *testing.T) {
	st, g := setup(t, nil, maintenance.Options{Sites: []string{"shop.example.com"}, MaxDuration: time.Nanosecond})
	before := time.Now()
	s := update(t, st, g, maintenance.On([]string{"shop.example.com"}, maintenance.OnOptions{}))

	reg := prometheus.NewRegistry()
	metrics.New(reg).Watch(g)
	v := strconv.FormatInt(s.Version, 10)
	declared := strconv.FormatInt(s.Site("*").Version, 10)
	want := `
# HELP maintenance_site_forgotten 1 while the site has been in maintenance with no end for longer than the gate's max duration.
# TYPE maintenance_site_forgotten gauge
maintenance_site_forgotten{site="*"} 0
maintenance_site_forgotten{site="shop.example.com"} 1
# HELP maintenance_site_on 1 while the site is in maintenance, as the gate serves it now.
# TYPE maintenance_site_on gauge
maintenance_site_on{site="*"} 0
maintenance_site_on{site="shop.example.com"} 1
# HELP maintenance_site_version The store version of the site's last change, as the gate serves it.
# TYPE maintenance_site_version gauge
maintenance_site_version{site="*"} ` + declared + `
maintenance_site_version{site="shop.example.com"} ` + v + `
# HELP maintenance_state_version The version of the state the gate serves.
# TYPE maintenance_state_version gauge
maintenance_state_version ` + v + `
# HELP maintenance_store_error 1 while the gate cannot read the store (it serves its last state), or the store lost changes.
# TYPE maintenance_store_error gauge
maintenance_store_error 0
`
	names := []string{"maintenance_site_forgotten", "maintenance_site_on", "maintenance_site_version", "maintenance_state_version", "maintenance_store_error"}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), names...); err != nil {
		t.Error(err)
	}

	// Only the switched site has a change time, and it is the switch's.
	changed := gather(t, reg, "maintenance_site_changed_timestamp_seconds")
	if len(changed) != 1 || changed[0].label != "shop.example.com" {
		t.Fatalf("maintenance_site_changed_timestamp_seconds: %+v, want shop.example.com only", changed)
	}
	at := time.Unix(0, int64(changed[0].value*1e9))
	if d := at.Sub(before); d < -time.Second || d > time.Minute {
		t.Errorf("shop.example.com changed at %s, want about %s", at, before)
	}
	// The gate has just read the store.
	age := gather(t, reg, "maintenance_snapshot_age_seconds")[0].value
	if age < 0 || age > maintenance.GateHeartbeat.Seconds()+5 {
		t.Errorf("maintenance_snapshot_age_seconds = %v, want about 0", age)
	}
}

func TestRequestsTotal(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := metrics.New(reg)
	st, g := setup(t, m, maintenance.Options{Sites: []string{"shop.example.com", "*.example.org"}, Exempt: []string{"/healthz"}})
	m.Watch(g)
	h := g.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	send := func(host, path string, n int) {
		for range n {
			r := httptest.NewRequest("GET", "http://"+host+path, nil)
			h.ServeHTTP(httptest.NewRecorder(), r)
		}
	}
	send("shop.example.com", "/", 3)
	send("other.test", "/", 1)
	update(t, st, g, maintenance.On([]string{"shop.example.com"}, maintenance.OnOptions{}))
	send("shop.example.com", "/", 2)
	send("shop.example.com", "/healthz", 1)
	send("shop.example.com", maintenance.HealthPath, 5) // not counted
	send("shop.example.com", maintenance.StatusPath, 5) // not counted
	want := `
# HELP maintenance_requests_total Requests decided by the gate, by site and outcome (passed, exempt, allowed-ip, bypass, held, blocked).
# TYPE maintenance_requests_total counter
`
	for _, site := range []string{"*", "*.example.org", "shop.example.com"} {
		n := map[string]int{}
		switch site {
		case "*":
			n["passed"] = 1
		case "shop.example.com":
			n["passed"], n["blocked"], n["exempt"] = 3, 2, 1
		}
		for _, o := range []string{"allowed-ip", "blocked", "bypass", "exempt", "held", "passed"} {
			want += `maintenance_requests_total{outcome="` + o + `",site="` + site + `"} ` + strconv.Itoa(n[o]) + "\n"
		}
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "maintenance_requests_total"); err != nil {
		t.Error(err)
	}
	// Counting allocates nothing once a site is known.
	r := httptest.NewRequest("GET", "http://shop.example.com/", nil)
	if n := testing.AllocsPerRun(100, func() { m.Observe(r, "shop.example.com", maintenance.Held) }); n != 0 {
		t.Errorf("Observe: %v allocs, want 0", n)
	}
}

func TestObserveUpstream(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := metrics.New(reg)
	m.ObserveUpstream("shop.example.com", 20*time.Millisecond, nil)
	m.ObserveUpstream("shop.example.com", 3*time.Second, errors.New("dial tcp: connection refused"))
	m.ObserveUpstream("*", 500*time.Microsecond, nil)
	want := `
# HELP maintenance_upstream_errors_total Requests to the upstream that got no answer (down, refused, timed out), by site.
# TYPE maintenance_upstream_errors_total counter
maintenance_upstream_errors_total{site="*"} 0
maintenance_upstream_errors_total{site="shop.example.com"} 1
# HELP maintenance_upstream_requests_total Requests sent to the upstream, by site.
# TYPE maintenance_upstream_requests_total counter
maintenance_upstream_requests_total{site="*"} 1
maintenance_upstream_requests_total{site="shop.example.com"} 2
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "maintenance_upstream_requests_total", "maintenance_upstream_errors_total"); err != nil {
		t.Error(err)
	}
	durations := gather(t, reg, "maintenance_upstream_duration_seconds")
	if len(durations) != 2 {
		t.Errorf("maintenance_upstream_duration_seconds: %+v, want 2 sites", durations)
	}
	for _, h := range durations {
		count, sum := map[string]uint64{"*": 1, "shop.example.com": 2}[h.label], map[string]float64{"*": 0.0005, "shop.example.com": 3.02}[h.label]
		if !h.isHistogram || h.count != count || h.sum < sum-1e-9 || h.sum > sum+1e-9 {
			t.Errorf("duration of %s: %+v; want a histogram of %d samples, sum %v", h.label, h, count, sum)
		}
		if h.buckets != len(metrics.UpstreamBuckets) {
			t.Errorf("duration of %s: %d buckets, want %d", h.label, h.buckets, len(metrics.UpstreamBuckets))
		}
	}
	if n := testing.AllocsPerRun(100, func() { m.ObserveUpstream("shop.example.com", time.Millisecond, nil) }); n != 0 {
		t.Errorf("ObserveUpstream: %v allocs, want 0", n)
	}
}

// discard is a ResponseWriter that keeps its header map, so that the
// benchmark counts the gate's and the observer's allocations only.
type discard struct{ h http.Header }

func (w *discard) Header() http.Header         { return w.h }
func (w *discard) WriteHeader(int)             {}
func (w *discard) Write(p []byte) (int, error) { return len(p), nil }

// BenchmarkGateWithMetrics: the off path of a gate whose Observer is
// Metrics, against the same gate without one.
func BenchmarkGateWithMetrics(b *testing.B) {
	r := httptest.NewRequest("GET", "http://shop.example.com/products/17", nil)
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(200) })
	for _, withMetrics := range []bool{false, true} {
		name := "NoObserver"
		var m *metrics.Metrics
		if withMetrics {
			name, m = "Metrics", metrics.New(prometheus.NewRegistry())
		}
		b.Run(name, func(b *testing.B) {
			_, g := setup(b, m, maintenance.Options{Sites: []string{"shop.example.com"}})
			h := g.Handler(next)
			w := &discard{h: http.Header{}}
			h.ServeHTTP(w, r)
			b.ReportAllocs()
			for b.Loop() {
				h.ServeHTTP(w, r)
			}
		})
	}
}

func BenchmarkObserve(b *testing.B) {
	m := metrics.New(prometheus.NewRegistry())
	r := httptest.NewRequest("GET", "http://shop.example.com/", nil)
	m.Observe(r, "shop.example.com", maintenance.Passed)
	b.ReportAllocs()
	for b.Loop() {
		m.Observe(r, "shop.example.com", maintenance.Passed)
	}
}

func BenchmarkObserveUpstream(b *testing.B) {
	m := metrics.New(prometheus.NewRegistry())
	m.ObserveUpstream("shop.example.com", time.Millisecond, nil)
	b.ReportAllocs()
	for b.Loop() {
		m.ObserveUpstream("shop.example.com", 7*time.Millisecond, nil)
	}
}

// TestStoreDown: while the gate cannot read its store, store_error is 1 and
// the snapshot's age grows; both recover when the store is back.
func TestStoreDown(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.json")
	st, err := file.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	c := maintenance.On(nil, maintenance.OnOptions{})
	c.Actor, c.Source = "test", "test"
	if _, err := st.Update(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	m := metrics.New(reg)
	g, err := maintenance.New(context.Background(), st, maintenance.Options{Observer: m, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	m.Watch(g)
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	wait := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !ok(); {
			if time.Now().After(deadline) {
				t.Fatalf("waited 10s for %s", what)
			}
			<-time.After(10 * time.Millisecond)
		}
	}
	wait("store_error 1", func() bool { return gather(t, reg, "maintenance_store_error")[0].value == 1 })
	// The gate still serves its last state, and says so.
	if on := gather(t, reg, "maintenance_site_on"); on[0].value != 1 {
		t.Errorf("maintenance_site_on during the outage = %v, want the last state's 1", on)
	}
	wait("the snapshot's age to grow", func() bool { return gather(t, reg, "maintenance_snapshot_age_seconds")[0].value > 0.05 })
	if err := os.WriteFile(path, good, 0o600); err != nil {
		t.Fatal(err)
	}
	wait("store_error 0", func() bool { return gather(t, reg, "maintenance_store_error")[0].value == 0 })
	if age := gather(t, reg, "maintenance_snapshot_age_seconds")[0].value; age > 1 {
		t.Errorf("maintenance_snapshot_age_seconds after the store is back = %v, want about 0", age)
	}
}

func TestWebhooksFailed(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := metrics.New(reg)
	if n, err := testutil.GatherAndCount(reg, "maintenance_webhooks_failed"); err != nil || n != 0 {
		t.Errorf("without a deliverer: %d series, %v; want none", n, err)
	}
	failed := 2
	m.WatchWebhooks(func() int { return failed })
	want := "# HELP maintenance_webhooks_failed The number of webhooks marked failed: an event could not be delivered for 24 hours.\n# TYPE maintenance_webhooks_failed gauge\nmaintenance_webhooks_failed 2\n"
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "maintenance_webhooks_failed"); err != nil {
		t.Error(err)
	}
}
