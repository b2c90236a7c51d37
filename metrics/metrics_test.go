package metrics_test

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/gomaint/maintenance"
	"github.com/gomaint/maintenance/metrics"
	"github.com/gomaint/maintenance/sqlite"
)

func TestMetrics(t *testing.T) {
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	g, err := maintenance.New(t.Context(), st, maintenance.Options{
		Sites: []string{"shop.example.com"}, MaxDuration: time.Nanosecond,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	c := maintenance.On([]string{"shop.example.com"}, maintenance.OnOptions{})
	c.Actor, c.Source = "test", "test"
	s, err := st.Update(t.Context(), c)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := g.WaitVersion(ctx, s.Version); err != nil {
		t.Fatal(err)
	}

	reg := prometheus.NewRegistry()
	metrics.New(reg).Watch(g)
	want := `
# HELP maintenance_site_forgotten 1 while the site has been in maintenance with no end for longer than the gate's max duration.
# TYPE maintenance_site_forgotten gauge
maintenance_site_forgotten{site="*"} 0
maintenance_site_forgotten{site="shop.example.com"} 1
# HELP maintenance_site_on 1 while the site is in maintenance, as the gate serves it now.
# TYPE maintenance_site_on gauge
maintenance_site_on{site="*"} 0
maintenance_site_on{site="shop.example.com"} 1
# HELP maintenance_state_version The version of the state the gate serves.
# TYPE maintenance_state_version gauge
maintenance_state_version ` + strconv.FormatInt(s.Version, 10) + `
# HELP maintenance_store_error 1 while the gate cannot read the store (it serves its last state), or the store lost changes.
# TYPE maintenance_store_error gauge
maintenance_store_error 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
}
