// Package metrics exports what gates know as Prometheus metrics, on a
// registry of the caller's (never the global one). It is the only package
// that imports Prometheus. Label values are bounded: declared site names and
// outcomes, never hosts, paths or addresses.
//
//	reg := prometheus.NewRegistry()
//	m := metrics.New(reg)
//	gate, err := maintenance.New(ctx, store, maintenance.Options{Observer: m})
//	...
//	m.Watch(gate)
//	http.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
//
// The state of the watched gates, read from their snapshots at each scrape:
//
//   - maintenance_site_on{site}: 1 while the site is in maintenance.
//   - maintenance_site_forgotten{site}: 1 while the site has been on with no
//     end for longer than the gate's Options.MaxDuration.
//   - maintenance_site_version{site}: the store version of the site's last
//     change.
//   - maintenance_site_invalid{site}: 1 while the store holds an invalid
//     value for the site, which the gate does not serve (Gate.Problems).
//   - maintenance_site_changed_timestamp_seconds{site}: when the site was
//     last switched on or off (Unix time; absent for a site never switched).
//   - maintenance_state_version: the version of the state the gate serves.
//   - maintenance_store_error: 1 while the gate cannot read its store (it
//     serves its last state), or the store lost changes.
//   - maintenance_snapshot_age_seconds: the time since the gate last read
//     the whole state from its store (or since it started, when it never
//     has). A gate in sync re-reads it at every change and every 10 s
//     (maintenance.GateHeartbeat), so this stays below about 10 s; more
//     means the gate may serve a stale state: alert at, say, 30 s.
//
// Webhooks, when a deliverer is watched (WatchWebhooks):
//
//   - maintenance_webhooks_failed: the number of webhooks marked failed
//     (an event undelivered for 24 hours; see maintenance.Deliverer).
//     Alert when it is above 0.
//
// Requests, counted when Metrics is the gate's Options.Observer:
//
//   - maintenance_requests_total{site,outcome}: requests by the gate's
//     decision; outcome is passed, exempt, allowed-ip, bypass, held or
//     blocked (see maintenance.Outcome).
//
// The reverse proxy's upstream, reported with ObserveUpstream:
//
//   - maintenance_upstream_requests_total{site}: requests sent upstream.
//   - maintenance_upstream_errors_total{site}: those that failed (no
//     answer: the upstream is down, refused or timed out).
//   - maintenance_upstream_duration_seconds{site}: a histogram of the time
//     to the upstream's answer headers, or to the failure.
package metrics

import (
	"maps"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gomaint/maintenance"
)

var (
	siteOn = prometheus.NewDesc("maintenance_site_on",
		"1 while the site is in maintenance, as the gate serves it now.", []string{"site"}, nil)
	siteForgotten = prometheus.NewDesc("maintenance_site_forgotten",
		"1 while the site has been in maintenance with no end for longer than the gate's max duration.", []string{"site"}, nil)
	siteVersion = prometheus.NewDesc("maintenance_site_version",
		"The store version of the site's last change, as the gate serves it.", []string{"site"}, nil)
	siteChanged = prometheus.NewDesc("maintenance_site_changed_timestamp_seconds",
		"When the site was last switched on or off, in Unix time.", []string{"site"}, nil)
	siteInvalid = prometheus.NewDesc("maintenance_site_invalid",
		"1 while the store holds an invalid value for the site (a hand-edited store), which the gate does not serve: it serves the site's last valid state. site is empty for the state's other parts.", []string{"site"}, nil)
	version = prometheus.NewDesc("maintenance_state_version",
		"The version of the state the gate serves.", nil, nil)
	storeError = prometheus.NewDesc("maintenance_store_error",
		"1 while the gate cannot read the store (it serves its last state), or the store lost changes.", nil, nil)
	webhooksFailed = prometheus.NewDesc("maintenance_webhooks_failed",
		"The number of webhooks marked failed: an event could not be delivered for 24 hours.", nil, nil)
	snapshotAge = prometheus.NewDesc("maintenance_snapshot_age_seconds",
		"Seconds since the gate last read the whole state from the store (at every change, and every 10 s when in sync); grows while the store is unreachable.", nil, nil)
)

// UpstreamBuckets are the bounds of maintenance_upstream_duration_seconds,
// in seconds: from 1 ms to a minute.
var UpstreamBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}

// outcomes is the number of maintenance.Outcome values.
const outcomes = int(maintenance.Blocked) + 1

// Metrics collects the metrics of the gates it watches, and counts requests
// as their Observer. It is safe for concurrent use.
type Metrics struct {
	mu    sync.Mutex
	gates []*maintenance.Gate
	// failed returns the number of webhooks marked failed; nil when no
	// deliverer is watched.
	failed func() int

	requests   *prometheus.CounterVec
	upRequests *prometheus.CounterVec
	upErrors   *prometheus.CounterVec
	upDuration *prometheus.HistogramVec

	// The counters of each site, looked up per request with no lock and
	// no allocation: maps replaced whole (under mu) when a site is added.
	siteRequests atomic.Pointer[map[string]*[outcomes]prometheus.Counter]
	siteUpstream atomic.Pointer[map[string]*upstream]
}

// upstream holds the upstream metrics of one site.
type upstream struct {
	requests, errors prometheus.Counter
	duration         prometheus.Observer
}

var _ maintenance.Observer = (*Metrics)(nil)

// New returns Metrics registered on reg.
func New(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "maintenance_requests_total",
			Help: "Requests decided by the gate, by site and outcome (passed, exempt, allowed-ip, bypass, held, blocked).",
		}, []string{"site", "outcome"}),
		upRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "maintenance_upstream_requests_total",
			Help: "Requests sent to the upstream, by site.",
		}, []string{"site"}),
		upErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "maintenance_upstream_errors_total",
			Help: "Requests to the upstream that got no answer (down, refused, timed out), by site.",
		}, []string{"site"}),
		upDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "maintenance_upstream_duration_seconds",
			Help:    "Time to the upstream's answer headers, or to its failure, by site.",
			Buckets: UpstreamBuckets,
		}, []string{"site"}),
	}
	m.siteRequests.Store(&map[string]*[outcomes]prometheus.Counter{})
	m.siteUpstream.Store(&map[string]*upstream{})
	reg.MustRegister(m)
	return m
}

// WatchWebhooks exports maintenance_webhooks_failed from failed, usually
// a maintenance.Deliverer's Failed method.
func (m *Metrics) WatchWebhooks(failed func() int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.failed = failed
}

// Watch adds a gate whose state is collected, and starts its sites'
// request counters at zero. One process usually has one.
func (m *Metrics) Watch(g *maintenance.Gate) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.gates = append(m.gates, g)
	m.addSites(g.Sites())
}

// Observe implements maintenance.Observer: it counts the request in
// maintenance_requests_total. It does not allocate, but for the first
// request of a site.
func (m *Metrics) Observe(r *http.Request, site string, o maintenance.Outcome) {
	cs, ok := (*m.siteRequests.Load())[site]
	if !ok {
		m.mu.Lock()
		m.addSites([]maintenance.Status{{Site: site}})
		cs = (*m.siteRequests.Load())[site]
		m.mu.Unlock()
	}
	if int(o) < outcomes {
		cs[o].Inc()
	}
}

// addSites adds the request counters of the sites that have none yet, in
// one copy of the map. m.mu is held.
func (m *Metrics) addSites(sites []maintenance.Status) {
	old := *m.siteRequests.Load()
	var next map[string]*[outcomes]prometheus.Counter
	for _, s := range sites {
		if _, ok := old[s.Site]; ok {
			continue
		}
		if next == nil {
			next = maps.Clone(old)
		}
		cs := new([outcomes]prometheus.Counter)
		for o := range cs {
			cs[o] = m.requests.WithLabelValues(s.Site, maintenance.Outcome(o).String())
		}
		next[s.Site] = cs
	}
	if next != nil {
		m.siteRequests.Store(&next)
	}
}

// ObserveUpstream records a request that the reverse proxy sent to the
// upstream of site: d is the time to the upstream's answer headers (or to
// the failure), err is nil when it answered. site must be a declared site's
// name, as Gate.SiteOf gives it, so that labels stay bounded.
func (m *Metrics) ObserveUpstream(site string, d time.Duration, err error) {
	u, ok := (*m.siteUpstream.Load())[site]
	if !ok {
		u = m.addUpstream(site)
	}
	u.requests.Inc()
	if err != nil {
		u.errors.Inc()
	}
	u.duration.Observe(d.Seconds())
}

func (m *Metrics) addUpstream(site string) *upstream {
	m.mu.Lock()
	defer m.mu.Unlock()
	old := *m.siteUpstream.Load()
	if u, ok := old[site]; ok {
		return u
	}
	u := &upstream{
		requests: m.upRequests.WithLabelValues(site),
		errors:   m.upErrors.WithLabelValues(site),
		duration: m.upDuration.WithLabelValues(site),
	}
	next := maps.Clone(old)
	next[site] = u
	m.siteUpstream.Store(&next)
	return u
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- siteOn
	ch <- siteForgotten
	ch <- siteVersion
	ch <- siteChanged
	ch <- siteInvalid
	ch <- version
	ch <- storeError
	ch <- snapshotAge
	ch <- webhooksFailed
	m.requests.Describe(ch)
	m.upRequests.Describe(ch)
	m.upErrors.Describe(ch)
	m.upDuration.Describe(ch)
}

// Collect implements prometheus.Collector: it reads the gates' snapshots,
// with no store I/O.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	m.mu.Lock()
	gates := append([]*maintenance.Gate(nil), m.gates...)
	failed := m.failed
	m.mu.Unlock()
	if failed != nil {
		ch <- prometheus.MustNewConstMetric(webhooksFailed, prometheus.GaugeValue, float64(failed()))
	}
	now := time.Now()
	for _, g := range gates {
		forgotten := map[string]bool{}
		for _, s := range g.Forgotten() {
			forgotten[s] = true
		}
		sites := g.Sites()
		for _, s := range sites {
			ch <- prometheus.MustNewConstMetric(siteOn, prometheus.GaugeValue, b2f(s.On), s.Site)
			ch <- prometheus.MustNewConstMetric(siteForgotten, prometheus.GaugeValue, b2f(forgotten[s.Site]), s.Site)
			ch <- prometheus.MustNewConstMetric(siteVersion, prometheus.GaugeValue, float64(s.Version), s.Site)
		}
		invalid := map[string]bool{}
		for _, p := range g.Problems() {
			invalid[p.Site] = true
		}
		for _, s := range sites {
			ch <- prometheus.MustNewConstMetric(siteInvalid, prometheus.GaugeValue, b2f(invalid[s.Site]), s.Site)
			delete(invalid, s.Site)
		}
		for site := range invalid {
			ch <- prometheus.MustNewConstMetric(siteInvalid, prometheus.GaugeValue, 1, site)
		}
		if st := g.State(); st != nil {
			for _, s := range st.Sites {
				if !s.ChangedAt.IsZero() {
					ch <- prometheus.MustNewConstMetric(siteChanged, prometheus.GaugeValue, float64(s.ChangedAt.UnixNano())/1e9, s.Site)
				}
			}
		}
		ch <- prometheus.MustNewConstMetric(version, prometheus.GaugeValue, float64(g.Version()))
		ch <- prometheus.MustNewConstMetric(storeError, prometheus.GaugeValue, b2f(g.StoreError() != nil))
		synced := g.Synced()
		if synced.IsZero() {
			synced = g.Info().Started
		}
		ch <- prometheus.MustNewConstMetric(snapshotAge, prometheus.GaugeValue, now.Sub(synced).Seconds())
		// Sites declared since the last scrape start at zero too.
		m.mu.Lock()
		m.addSites(sites)
		m.mu.Unlock()
	}
	m.requests.Collect(ch)
	m.upRequests.Collect(ch)
	m.upErrors.Collect(ch)
	m.upDuration.Collect(ch)
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
