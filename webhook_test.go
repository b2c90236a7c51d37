package maintenance_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gomaint/maintenance"
	"github.com/gomaint/maintenance/file"
)

// verify checks a Maintenance-Signature as docs/webhooks.md documents it:
// "t=UNIX,v1=HEX", HEX the hex HMAC-SHA256 of "UNIX.BODY" under the secret.
func verify(header, secret string, body []byte) bool {
	fields := map[string]string{}
	for _, kv := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(kv, "=")
		fields[k] = v
	}
	m := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(m, "%s.%s", fields["t"], body)
	return fields["t"] != "" && hmac.Equal([]byte(fields["v1"]), []byte(hex.EncodeToString(m.Sum(nil))))
}

// received is one POST a receiver got.
type received struct {
	at   time.Time
	id   string
	body map[string]any
	ok   bool // the signature checked
}

// receiver is an http.RoundTripper that serves POSTs in process, for
// tests under synctest, where no real connection may be left open.
type receiver struct {
	secret string
	mu     sync.Mutex
	got    []received
	down   bool
}

func (r *receiver) RoundTrip(req *http.Request) (*http.Response, error) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	status := 200
	if r.down {
		status = 503
	} else {
		var m map[string]any
		json.Unmarshal(body, &m)
		r.got = append(r.got, received{time.Now(), req.Header.Get("Maintenance-Event-Id"), m, verify(req.Header.Get("Maintenance-Signature"), r.secret, body)})
	}
	return &http.Response{StatusCode: status, Status: http.StatusText(status), Body: io.NopCloser(bytes.NewReader(nil)), Header: http.Header{}, Request: req}, nil
}

func (r *receiver) types() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, g := range r.got {
		out = append(out, fmt.Sprintf("%s %s +%s sig=%v", g.body["type"], g.body["site"], g.at.Sub(t0bubble).Round(time.Second), g.ok))
	}
	return out
}

// kicked is a store whose Watch signals when the test says so: the file
// store polls every 50 ms, which costs too many steps of a fake clock run
// for hours.
type kicked struct {
	maintenance.Store
	ch chan struct{}
}

func (k kicked) Watch(ctx context.Context) (<-chan struct{}, error) { return k.ch, nil }

// t0bubble is the start of synctest's clock.
var t0bubble = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

func addWebhook(t *testing.T, st maintenance.Store, w maintenance.Webhook, secret string) maintenance.Webhook {
	t.Helper()
	key, err := st.Key(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	_, w.ID = maintenance.NewSecret()
	if w.Secret, err = maintenance.SealSecret(key, w.ID, secret); err != nil {
		t.Fatal(err)
	}
	update(t, st, maintenance.AddWebhook(w))
	return w
}

// TestWebhookTimedEvents checks, on a fake clock, that a deliverer posts
// the reminders before a scheduled window, its start and end, the start
// and end of a site switched on with a window, and maintenance forgotten,
// each at its time, in order, signed.
func TestWebhookTimedEvents(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st, err := file.Open(t.Context(), filepath.Join(t.TempDir(), "m.json"))
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		update(t, st, maintenance.AddSites("shop.example.com", "blog.example.com"))
		rcv := &receiver{secret: "whsec_test_secret_0123456789"}
		addWebhook(t, st, maintenance.Webhook{URL: "https://hooks.example.com/m", Remind: []time.Duration{time.Hour, 10 * time.Minute},
			MaxDuration: 3 * time.Hour, Events: []string{"maintenance", "on", "window"}}, rcv.secret)
		start := time.Now()
		update(t, st, maintenance.AddWindow("shop.example.com", maintenance.Window{From: start.Add(2 * time.Hour), Until: start.Add(2*time.Hour + 30*time.Minute), Reason: "db upgrade"}))
		from, until := start.Add(5*time.Hour), start.Add(6*time.Hour)
		update(t, st, maintenance.On([]string{"blog.example.com"}, maintenance.OnOptions{From: &from, Until: &until}))

		ctx, cancel := context.WithCancel(t.Context())
		k := kicked{st, make(chan struct{}, 1)}
		d := maintenance.NewDeliverer(k, maintenance.DelivererOptions{Transport: rcv, Poll: time.Hour, LeaseTTL: 3 * time.Hour})
		done := make(chan struct{})
		go func() { d.Run(ctx); close(done) }()

		time.Sleep(8 * time.Hour)
		// Forgotten: on with no end at +8h, announced 3h later.
		update(t, st, maintenance.On([]string{"shop.example.com"}, maintenance.OnOptions{}))
		k.ch <- struct{}{}
		time.Sleep(4 * time.Hour)
		synctest.Wait()
		cancel()
		<-done

		want := []string{
			"on blog.example.com +0s sig=true",
			"window.reminder shop.example.com +1h0m0s sig=true",
			"window.reminder shop.example.com +1h50m0s sig=true",
			"window.start shop.example.com +2h0m0s sig=true",
			"window.end shop.example.com +2h30m0s sig=true",
			"window.reminder blog.example.com +4h0m0s sig=true",
			"window.reminder blog.example.com +4h50m0s sig=true",
			"window.start blog.example.com +5h0m0s sig=true",
			"window.end blog.example.com +6h0m0s sig=true",
			"on shop.example.com +8h0m0s sig=true",
			"maintenance.forgotten shop.example.com +11h0m0s sig=true",
		}
		got := rcv.types()
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("received:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	})
}

// TestWebhookMarkedFailed checks, on a fake clock, that an event that
// cannot be delivered is retried with growing waits, that the webhook is
// marked failed after RetryFor, counted by Failed, and that everything is
// delivered in order once the receiver answers again.
func TestWebhookMarkedFailed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st, err := file.Open(t.Context(), filepath.Join(t.TempDir(), "m.json"))
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		update(t, st, maintenance.AddSites("shop.example.com"))
		rcv := &receiver{secret: "whsec_test_secret_0123456789", down: true}
		w := addWebhook(t, st, maintenance.Webhook{URL: "https://hooks.example.com/m", Events: []string{"on", "off"}}, rcv.secret)
		k := kicked{st, make(chan struct{}, 1)}
		ctx, cancel := context.WithCancel(t.Context())
		d := maintenance.NewDeliverer(k, maintenance.DelivererOptions{Transport: rcv, Poll: time.Hour, LeaseTTL: 3 * time.Hour})
		done := make(chan struct{})
		go func() { d.Run(ctx); close(done) }()
		update(t, st, maintenance.On(nil, maintenance.OnOptions{}))
		update(t, st, maintenance.Off(nil))
		k.ch <- struct{}{}
		time.Sleep(23 * time.Hour)
		synctest.Wait()
		cs, err := st.Cursors(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if c := cs[w.ID]; c.Failed || c.Attempts < 20 || c.Pending == "" || maintenance.DeliveryState(c, true) != "retrying" {
			t.Fatalf("after 23h: cursor %+v; want retrying, not failed yet", c)
		}
		time.Sleep(2 * time.Hour)
		synctest.Wait()
		cs, _ = st.Cursors(t.Context())
		if c := cs[w.ID]; !c.Failed || maintenance.DeliveryState(c, true) != "failed" || d.Failed() != 1 || !strings.Contains(c.LastError, "503") {
			t.Fatalf("after 25h: cursor %+v, Failed() %d; want failed", c, d.Failed())
		}
		rcv.mu.Lock()
		rcv.down = false
		rcv.mu.Unlock()
		time.Sleep(7 * time.Hour)
		synctest.Wait()
		cancel()
		<-done
		got := rcv.types()
		if len(got) != 4 || !strings.HasPrefix(got[0], "on *") || !strings.HasPrefix(got[1], "on shop") || !strings.HasPrefix(got[2], "off *") || !strings.HasPrefix(got[3], "off shop") {
			t.Errorf("received %q; want on and off of both sites, in order", got)
		}
		cs, _ = st.Cursors(t.Context())
		if c := cs[w.ID]; c.Failed || c.Pending != "" || c.Delivered != 4 {
			t.Errorf("cursor after recovery %+v", c)
		}
	})
}
