package metrics_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/gomaint/maintenance"
	"github.com/gomaint/maintenance/metrics"
	"github.com/gomaint/maintenance/sqlite"
)

// Example makes the metrics the gate's observer as docs/operations.md
// shows it (TestDocsShowExamples checks that the document has these lines).
func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "metrics-example")
	defer os.RemoveAll(dir)
	store, err := sqlite.Open(ctx, filepath.Join(dir, "maintenance.db"))
	if err != nil {
		panic(err)
	}
	defer store.Close()
	reg := prometheus.NewRegistry()

	m := metrics.New(reg) // github.com/gomaint/maintenance/metrics
	gate, err := maintenance.New(ctx, store, maintenance.Options{Observer: m})
	m.Watch(gate)

	if err != nil {
		panic(err)
	}
	defer gate.Close()
	app := gate.Handler(http.NotFoundHandler())
	app.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "http://shop.example.com/", nil))

	w := httptest.NewRecorder()
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	for _, line := range strings.Split(w.Body.String(), "\n") {
		if strings.HasPrefix(line, "maintenance_site_on") || strings.HasPrefix(line, `maintenance_requests_total{outcome="passed"`) {
			fmt.Println(line)
		}
	}
	// Output:
	// maintenance_requests_total{outcome="passed",site="*"} 1
	// maintenance_site_on{site="*"} 0
}
