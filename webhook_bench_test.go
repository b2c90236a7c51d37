package maintenance_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/gomaint/maintenance"
	"github.com/gomaint/maintenance/sqlite"
)

// BenchmarkWebhookLatency measures the time from a change (Update returns)
// to its delivery at a real receiver on loopback, through a deliverer that
// watches a SQLite store, and reports the median and the 99th percentile:
// with the deliverer on the handle that makes the changes, and on another
// handle (as in another process: the change reaches it by polling).
func BenchmarkWebhookLatency(b *testing.B) {
	b.Run("SameHandle", func(b *testing.B) { benchWebhookLatency(b, false) })
	b.Run("OtherHandle", func(b *testing.B) { benchWebhookLatency(b, true) })
}

func benchWebhookLatency(b *testing.B, other bool) {
	path := filepath.Join(b.TempDir(), "m.db")
	st, err := sqlite.Open(b.Context(), path)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	var dst maintenance.Store = st
	if other {
		o, err := sqlite.Open(b.Context(), path)
		if err != nil {
			b.Fatal(err)
		}
		defer o.Close()
		dst = o
	}
	got := make(chan string, 16)
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		got <- r.Header.Get("Maintenance-Event-Id")
	}))
	defer rcv.Close()
	ctx := context.Background()
	c := maintenance.AddSites("shop.example.com")
	c.Actor, c.Source = "bench", "bench"
	if _, err := st.Update(ctx, c); err != nil {
		b.Fatal(err)
	}
	key, _ := st.Key(ctx)
	w := maintenance.Webhook{ID: "0b0b0b0b", URL: rcv.URL + "/hook"}
	w.Secret, _ = maintenance.SealSecret(key, w.ID, "whsec_bench_secret_0123")
	c = maintenance.AddWebhook(w)
	c.Actor, c.Source = "bench", "bench"
	if _, err := st.Update(ctx, c); err != nil {
		b.Fatal(err)
	}
	dctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { maintenance.NewDeliverer(dst, maintenance.DelivererOptions{}).Run(dctx); close(done) }()
	defer func() { stop(); <-done }()
	time.Sleep(100 * time.Millisecond) // the lease taken

	var lat []time.Duration
	b.ResetTimer()
	for i := range b.N {
		c := maintenance.On(nil, maintenance.OnOptions{})
		if i%2 == 1 {
			c = maintenance.Off(nil)
		}
		c.Actor, c.Source = "bench", "bench"
		start := time.Now()
		if _, err := st.Update(ctx, c); err != nil {
			b.Fatal(err)
		}
		// One event per site: "*" and shop.example.com.
		for range 2 {
			select {
			case <-got:
			case <-time.After(10 * time.Second):
				b.Fatal("no delivery within 10s")
			}
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}
