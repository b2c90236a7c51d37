package storetest

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gomaint/maintenance"
)

// testDelivery runs webhook delivery on the store: a real receiver that is
// down while changes are made, a deliverer whose store handle dies (closed:
// it can neither deliver nor free its lease), and a second deliverer that
// takes over once the lease expires and delivers every event, in order; a
// repeat only with the same event ID.
func (s *suite) testDelivery(t *testing.T) {
	t.Parallel()
	key := s.h.New(t)
	a, err := s.h.Open(t.Context(), key)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b := s.open(t, key)

	var up atomic.Bool
	var mu sync.Mutex
	var got []string // "ID TYPE"
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if !up.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		typ, _, _ := strings.Cut(strings.TrimPrefix(string(body), `{"id":"`+r.Header.Get("Maintenance-Event-Id")+`","type":"`), `"`)
		mu.Lock()
		got = append(got, r.Header.Get("Maintenance-Event-Id")+" "+typ)
		mu.Unlock()
	}))
	defer rcv.Close()

	update(t, b, maintenance.AddSites("shop.example.com"))
	k, err := b.Key(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	w := maintenance.Webhook{ID: "0a1b2c3d", URL: rcv.URL + "/hook"}
	if w.Secret, err = maintenance.SealSecret(k, w.ID, "whsec_storetest_secret"); err != nil {
		t.Fatal(err)
	}
	update(t, b, maintenance.AddWebhook(w))

	const ttl = 2 * time.Second
	ctxA, stopA := context.WithCancel(t.Context())
	doneA := make(chan struct{})
	go func() {
		defer close(doneA)
		maintenance.NewDeliverer(a, maintenance.DelivererOptions{Holder: "a", LeaseTTL: ttl, Poll: 50 * time.Millisecond}).Run(ctxA)
	}()
	defer func() { stopA(); <-doneA }()
	for _, c := range []maintenance.Change{
		maintenance.On(nil, maintenance.OnOptions{}), maintenance.AddIgnore("shop.example.com", "/healthz", ""),
		maintenance.Off(nil), maintenance.On([]string{"shop.example.com"}, maintenance.OnOptions{}),
		maintenance.AddAllow("shop.example.com", "10.0.0.0/8", ""), maintenance.Off(nil),
	} {
		update(t, b, c)
	}
	// Let a take the lease and fail against the receiver, then kill its
	// store handle.
	deadline := time.Now().Add(10 * time.Second)
	for {
		cs, err := b.Cursors(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if cs[w.ID].Attempts > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no failed attempt recorded within 10s: cursors %+v", cs)
		}
		time.Sleep(20 * time.Millisecond)
	}
	a.Close()
	up.Store(true)

	ctxB, stopB := context.WithCancel(t.Context())
	doneB := make(chan struct{})
	go func() {
		defer close(doneB)
		maintenance.NewDeliverer(b, maintenance.DelivererOptions{Holder: "b", LeaseTTL: ttl, Poll: 50 * time.Millisecond}).Run(ctxB)
	}()
	defer func() { stopB(); <-doneB }()

	evs := events(t, b, maintenance.EventFilter{Limit: eventsAll})
	var wantIDs []string
	for i := len(evs) - 1; i >= 0; i-- {
		e := evs[i]
		if e.Version > 2 { // after the webhook was added
			wantIDs = append(wantIDs, fmt.Sprintf("evt_%d %s", e.ID, maintenance.EventType(e.Action)))
		}
	}
	deadline = time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		g := dedupe(got)
		mu.Unlock()
		if len(g) >= len(wantIDs) {
			if strings.Join(g, "\n") != strings.Join(wantIDs, "\n") {
				t.Fatalf("received (repeats folded):\n%s\nwant:\n%s", strings.Join(g, "\n"), strings.Join(wantIDs, "\n"))
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 30s, received (repeats folded):\n%s\nwant:\n%s", strings.Join(g, "\n"), strings.Join(wantIDs, "\n"))
		}
		time.Sleep(20 * time.Millisecond)
	}
	cs, err := b.Cursors(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if c := cs[w.ID]; c.Pending != "" || c.Failed || maintenance.DeliveryState(c, true) != "ok" {
		t.Errorf("cursor after delivery = %+v, want ok", c)
	}
}

// dedupe folds consecutive repeats (the same event posted again).
func dedupe(s []string) []string {
	var out []string
	for _, v := range s {
		if len(out) == 0 || out[len(out)-1] != v {
			out = append(out, v)
		}
	}
	return out
}
