package metrics_test

import (
	"io"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/gomaint/maintenance"
	"github.com/gomaint/maintenance/metrics"
	"github.com/gomaint/maintenance/sqlite"
)

// A gate replaced by another (serve's reload) is unwatched, so that the
// series are reported once.
func TestUnwatch(t *testing.T) {
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	newGate := func() *maintenance.Gate {
		g, err := maintenance.New(t.Context(), st, maintenance.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { g.Close() })
		return g
	}
	reg := prometheus.NewRegistry()
	m := metrics.New(reg)
	old, cur := newGate(), newGate()
	m.Watch(old)
	m.Watch(cur)
	if _, err := reg.Gather(); err == nil {
		t.Error("two gates of one process gathered without the duplicate error")
	}
	m.Unwatch(old)
	m.Unwatch(old)
	if n, err := testutil.GatherAndCount(reg, "maintenance_state_version"); err != nil || n != 1 {
		t.Errorf("after Unwatch: %d version series, %v; want 1", n, err)
	}
}

func TestReplace(t *testing.T) {
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	newGate := func() *maintenance.Gate {
		g, err := maintenance.New(t.Context(), st, maintenance.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { g.Close() })
		return g
	}
	reg := prometheus.NewRegistry()
	m := metrics.New(reg)
	old, cur := newGate(), newGate()
	m.Watch(old)
	m.Replace(old, cur)
	m.Replace(old, cur)
	if n, err := testutil.GatherAndCount(reg, "maintenance_state_version"); err != nil || n != 1 {
		t.Errorf("after Replace: %d version series, %v; want 1", n, err)
	}
}
