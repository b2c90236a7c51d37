// Package metrics exports what gates know as Prometheus metrics, on a
// registry of the caller's (never the global one). It is the only package
// that imports Prometheus. Label values are bounded: site names, never paths
// or addresses.
//
//	reg := prometheus.NewRegistry()
//	m := metrics.New(reg)
//	m.Watch(gate)
//	http.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
package metrics

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gomaint/maintenance"
)

var (
	siteOn = prometheus.NewDesc("maintenance_site_on",
		"1 while the site is in maintenance, as the gate serves it now.", []string{"site"}, nil)
	siteForgotten = prometheus.NewDesc("maintenance_site_forgotten",
		"1 while the site has been in maintenance with no end for longer than the gate's max duration.", []string{"site"}, nil)
	version = prometheus.NewDesc("maintenance_state_version",
		"The version of the state the gate serves.", nil, nil)
	storeError = prometheus.NewDesc("maintenance_store_error",
		"1 while the gate cannot read the store (it serves its last state), or the store lost changes.", nil, nil)
)

// Metrics collects the metrics of the gates it watches.
type Metrics struct {
	mu    sync.Mutex
	gates []*maintenance.Gate
}

// New returns Metrics registered on reg.
func New(reg prometheus.Registerer) *Metrics {
	m := &Metrics{}
	reg.MustRegister(m)
	return m
}

// Watch adds a gate whose state is collected. One process usually has one.
func (m *Metrics) Watch(g *maintenance.Gate) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.gates = append(m.gates, g)
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- siteOn
	ch <- siteForgotten
	ch <- version
	ch <- storeError
}

// Collect implements prometheus.Collector: it reads the gates' snapshots,
// with no store I/O.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	m.mu.Lock()
	gates := append([]*maintenance.Gate(nil), m.gates...)
	m.mu.Unlock()
	for _, g := range gates {
		forgotten := map[string]bool{}
		for _, s := range g.Forgotten() {
			forgotten[s] = true
		}
		for _, s := range g.Sites() {
			ch <- prometheus.MustNewConstMetric(siteOn, prometheus.GaugeValue, b2f(s.On), s.Site)
			ch <- prometheus.MustNewConstMetric(siteForgotten, prometheus.GaugeValue, b2f(forgotten[s.Site]), s.Site)
		}
		ch <- prometheus.MustNewConstMetric(version, prometheus.GaugeValue, float64(g.Version()))
		ch <- prometheus.MustNewConstMetric(storeError, prometheus.GaugeValue, b2f(g.StoreError() != nil))
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
