package maintenance

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Delivery defaults (DelivererOptions).
const (
	// WebhookLease is the name of the lease that the deliverer of a fleet
	// holds (Outbox.TakeLease).
	WebhookLease = "webhooks"
	// DefaultLeaseTTL is how long a lease lasts unless renewed; a
	// deliverer renews it every third of that. Another process takes over
	// within about that long after the holder dies.
	DefaultLeaseTTL = 30 * time.Second
	// WebhookTimeout bounds one POST, connection included.
	WebhookTimeout = 10 * time.Second
	// WebhookRetryFor is how long an event is retried before the webhook
	// is marked failed.
	WebhookRetryFor = 24 * time.Hour
	// maxBackoff is the longest wait between two attempts while retrying;
	// failedBackoff the wait once the webhook is marked failed.
	maxRetryWait  = time.Hour
	failedBackoff = 6 * time.Hour
	// clockEvery is how often the clock of a quiet webhook is moved to
	// now, so that a reminder whose time passed before its window was
	// planned is not sent late.
	clockEvery = time.Minute
	// eventPage is how many audit events one read of the log returns.
	eventPage = 200
)

// DelivererOptions configure a Deliverer. The zero value is usable.
type DelivererOptions struct {
	// Logger receives delivery failures and lease changes; nil discards.
	// No line carries a secret, a signature or a URL's path or query.
	Logger *slog.Logger
	// Holder names this process in the lease; empty: host, process ID
	// and a random part.
	Holder string
	// LeaseTTL is DefaultLeaseTTL when 0.
	LeaseTTL time.Duration
	// Timeout is WebhookTimeout when 0.
	Timeout time.Duration
	// RetryFor is WebhookRetryFor when 0.
	RetryFor time.Duration
	// Poll is how often the log is read when no Watch signal comes; 1 s
	// when 0.
	Poll time.Duration
	// Transport, when set, replaces the HTTP transport (whose dialer
	// refuses link-local, multicast and unspecified addresses); tests only.
	Transport http.RoundTripper
}

// Deliverer posts the events that webhooks ask for: every audit event,
// read from the store's log, and the events no change commits (window
// edges, reminders, maintenance forgotten), derived from the state and the
// clock. One deliverer of a fleet at a time delivers: the one that holds
// the store's lease WebhookLease; the others wait to take over. Delivery is
// at least once and in order per webhook: a cursor per webhook in the store
// moves after each event is acknowledged (a 2xx answer), so a deliverer
// that dies mid-POST makes its successor post that event again, with the
// same Maintenance-Event-Id.
type Deliverer struct {
	st     Store
	o      DelivererOptions
	log    *slog.Logger
	client *http.Client

	// leaseUntil is the end of our lease in Unix ns; 0 when not held.
	leaseUntil atomic.Int64
	failed     atomic.Int64
	kick       chan struct{}

	mu   sync.Mutex
	busy map[string]bool // webhooks being delivered to
	key  []byte
}

// NewDeliverer returns a deliverer for st. Call Run to deliver.
func NewDeliverer(st Store, o DelivererOptions) *Deliverer {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Holder == "" {
		o.Holder = gateID()
	}
	if o.LeaseTTL <= 0 {
		o.LeaseTTL = DefaultLeaseTTL
	}
	if o.Timeout <= 0 {
		o.Timeout = WebhookTimeout
	}
	if o.RetryFor <= 0 {
		o.RetryFor = WebhookRetryFor
	}
	if o.Poll <= 0 {
		o.Poll = time.Second
	}
	d := &Deliverer{st: st, o: o, log: o.Logger, busy: map[string]bool{}, kick: make(chan struct{}, 1)}
	d.client = webhookClient(o.Timeout, o.Transport)
	return d
}

// webhookClient returns the HTTP client of deliveries: a timeout, no
// redirects followed, no proxy from the environment, and a dialer that
// refuses addresses webhookAddrAllowed rejects, whatever a name resolves to.
func webhookClient(timeout time.Duration, rt http.RoundTripper) *http.Client {
	if rt == nil {
		dialer := &net.Dialer{Timeout: timeout, Control: func(network, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil || !webhookAddrAllowed(ap.Addr()) {
				return fmt.Errorf("connecting to %s: link-local, cloud metadata, multicast and unspecified addresses are refused", address)
			}
			return nil
		}}
		rt = &http.Transport{DialContext: dialer.DialContext, TLSHandshakeTimeout: timeout,
			ResponseHeaderTimeout: timeout, MaxIdleConnsPerHost: 2, IdleConnTimeout: time.Minute, ForceAttemptHTTP2: true}
	}
	return &http.Client{Timeout: timeout, Transport: rt,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// Holding reports whether this deliverer holds the lease.
func (d *Deliverer) Holding() bool { return time.Now().UnixNano() < d.leaseUntil.Load() }

// Failed returns the number of webhooks marked failed, as of the last
// read of the cursors (any deliverer reads them, holder or not).
func (d *Deliverer) Failed() int { return int(d.failed.Load()) }

// Run delivers until ctx is done, then frees the lease when it holds it.
// It returns nil when ctx is done.
func (d *Deliverer) Run(ctx context.Context) error {
	watch, err := d.st.Watch(ctx)
	if err != nil {
		d.log.Warn("webhooks: watching the store; reading it every poll instead", "error", err)
		watch = nil
	}
	defer func() {
		if d.leaseUntil.Swap(0) != 0 {
			c, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			if err := d.st.DropLease(c, WebhookLease, d.o.Holder); err != nil {
				d.log.Warn("webhooks: dropping the lease", "error", err)
			}
		}
	}()
	var renewAt time.Time
	for {
		now := time.Now()
		wake := now.Add(d.o.Poll)
		if !now.Before(renewAt) {
			held, err := d.st.TakeLease(ctx, WebhookLease, d.o.Holder, now, now.Add(d.o.LeaseTTL))
			switch {
			case err != nil:
				if ctx.Err() != nil {
					return nil
				}
				d.log.Warn("webhooks: taking the delivery lease", "error", err)
				held = false
			case held && d.leaseUntil.Load() == 0:
				d.log.Info("webhooks: this process delivers", "holder", d.o.Holder)
			case !held && d.leaseUntil.Load() != 0:
				d.log.Info("webhooks: another process delivers now", "holder", d.o.Holder)
			}
			if held {
				d.leaseUntil.Store(now.Add(d.o.LeaseTTL).UnixNano())
				renewAt = now.Add(d.o.LeaseTTL / 3)
			} else {
				d.leaseUntil.Store(0)
				renewAt = now.Add(d.o.LeaseTTL / 3)
			}
		}
		if d.leaseUntil.Load() != 0 {
			if next, err := d.pass(ctx, now); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				d.log.Warn("webhooks: reading the store", "error", err)
			} else if !next.IsZero() && next.Before(wake) {
				wake = next
			}
		} else {
			d.countFailed(ctx)
		}
		if renewAt.Before(wake) {
			wake = renewAt
		}
		t := time.NewTimer(max(time.Until(wake), time.Millisecond))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case _, ok := <-watch:
			if !ok {
				watch = nil
			}
		case <-d.kick:
		case <-t.C:
		}
		t.Stop()
	}
}

// countFailed refreshes Failed from the store's cursors.
func (d *Deliverer) countFailed(ctx context.Context) {
	st, err := d.st.Load(ctx)
	if err != nil {
		return
	}
	cs, err := d.st.Cursors(ctx)
	if err != nil {
		return
	}
	d.failed.Store(int64(countFailed(st, cs)))
}

func countFailed(st *State, cs map[string]Cursor) int {
	n := 0
	for _, w := range st.Webhooks {
		if cs[w.ID].Failed {
			n++
		}
	}
	return n
}

// pass reads the state, the cursors and the log, starts a delivery to each
// webhook that has events due, and returns when the next one is due (zero:
// only on a change).
func (d *Deliverer) pass(ctx context.Context, now time.Time) (time.Time, error) {
	// The webhooks being delivered to are taken before the cursors are
	// read: a delivery that ends between the two would otherwise leave
	// this pass with its old cursor, and its events would go out again.
	// Only pass starts deliveries, so a webhook not busy now has its
	// cursor, when read below, up to date.
	d.mu.Lock()
	busy := maps.Clone(d.busy)
	d.mu.Unlock()
	st, err := d.st.Load(ctx)
	if err != nil {
		return time.Time{}, err
	}
	cs, err := d.st.Cursors(ctx)
	if err != nil {
		return time.Time{}, err
	}
	d.failed.Store(int64(countFailed(st, cs)))
	for id := range cs {
		if st.Webhook(id) == nil {
			if err := d.st.DropCursor(ctx, WebhookLease, d.o.Holder, id); err != nil {
				d.log.Warn("webhooks: dropping the cursor of a removed webhook", "webhook", id, "error", err)
			}
		}
	}
	if len(st.Webhooks) == 0 {
		return time.Time{}, nil
	}
	if d.key == nil {
		if d.key, err = d.st.Key(ctx); err != nil {
			return time.Time{}, err
		}
	}
	cur := map[string]Cursor{}
	for _, w := range st.Webhooks {
		c, ok := cs[w.ID]
		if !ok {
			c = Cursor{Clock: w.Created}
		}
		cur[w.ID] = c
	}
	log, err := d.readLog(ctx, st.Webhooks, cur)
	if err != nil {
		return time.Time{}, err
	}
	var next time.Time
	soon := func(t time.Time) {
		if !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	for _, w := range st.Webhooks {
		c := cur[w.ID]
		if busy[w.ID] {
			continue
		}
		if c.NextAttempt.After(now) {
			soon(c.NextAttempt)
			continue
		}
		due, skipTo := pendingFor(&w, c, st, log, now)
		soon(nextTimed(&w, c, st, now))
		if len(due) == 0 {
			// Move the cursor past events the webhook does not want, and
			// the clock of a quiet webhook forward now and then.
			n := c
			if skipTo > n.Event {
				n.Event = skipTo
			}
			if n.Pending == "" && now.Sub(n.Clock) >= clockEvery {
				n.Clock, n.ClockID = now, ""
			}
			if n != c {
				if err := d.st.SetCursor(ctx, WebhookLease, d.o.Holder, w.ID, n); err != nil {
					return time.Time{}, err
				}
			}
			continue
		}
		secret, err := OpenSecret(d.key, w.ID, w.Secret)
		if err != nil {
			d.log.Error("webhooks: cannot sign", "webhook", w.ID, "error", err)
			continue
		}
		d.mu.Lock()
		d.busy[w.ID] = true
		d.mu.Unlock()
		go d.deliver(ctx, w, secret, c, due)
	}
	return next, nil
}

// readLog returns the audit events that some webhook has not had yet,
// oldest first, reading the log back from its newest event.
func (d *Deliverer) readLog(ctx context.Context, ws []Webhook, cur map[string]Cursor) ([]Event, error) {
	done := func(e *Event) bool {
		for i := range ws {
			if e.ID > cur[ws[i].ID].Event && e.Version > ws[i].Version {
				return false
			}
		}
		return true
	}
	var out []Event
	f := EventFilter{Limit: eventPage}
	for {
		page, err := d.st.Events(ctx, f)
		if err != nil {
			return nil, err
		}
		stop := len(page) < eventPage
		for i := range page {
			if done(&page[i]) {
				stop = true
				break
			}
			out = append(out, page[i])
		}
		if stop {
			break
		}
		f.Before = page[len(page)-1].ID
	}
	slices.Reverse(out)
	return out, nil
}

// item is one event due to one webhook: an audit event or a timed one.
type item struct {
	payload WebhookPayload
	audit   int64 // the audit event ID; 0 for a timed event
}

// pendingFor returns the events due to w, in order, and the ID of the
// newest audit event it has seen (skipped ones included).
func pendingFor(w *Webhook, c Cursor, st *State, log []Event, now time.Time) ([]item, int64) {
	var audit []item
	var seen int64
	for i := range log {
		e := &log[i]
		if e.ID <= c.Event || e.Version <= w.Version {
			continue
		}
		seen = e.ID
		p := auditPayload(e)
		if w.wants(p.Type, p.Site) {
			audit = append(audit, item{payload: p, audit: e.ID})
		}
	}
	timed := timedEvents(w, st, c.Clock, c.ClockID, now)
	// Merge by time; an audit event goes first at a tie.
	out := make([]item, 0, len(audit)+len(timed))
	i, j := 0, 0
	for i < len(audit) || j < len(timed) {
		if j == len(timed) || i < len(audit) && !timed[j].payload.At.Before(audit[i].payload.At) {
			out = append(out, audit[i])
			i++
		} else {
			out = append(out, timed[j])
			j++
		}
	}
	if len(out) > 0 {
		// Only what was seen before the first due event may be skipped.
		seen = c.Event
	}
	return out, seen
}

// wants reports whether w receives an event of type typ about site.
func (w *Webhook) wants(typ, site string) bool {
	if len(w.Events) > 0 && !slices.ContainsFunc(w.Events, func(t string) bool {
		return t == typ || strings.HasPrefix(typ, t+".")
	}) {
		return false
	}
	return len(w.Sites) == 0 || site != "" && slices.Contains(w.Sites, site)
}

// timedEvents returns the events no change commits that are due to w after
// (clock, clockID) and at or before now, sorted by time and ID.
func timedEvents(w *Webhook, st *State, clock time.Time, clockID string, now time.Time) []item {
	var out []item
	add := func(typ string, s *SiteState, at time.Time, win *Window, remind time.Duration) {
		id := fmt.Sprintf("%s/%s/%d", typ, s.Site, at.UnixMilli())
		if remind > 0 {
			id += "/" + remind.String()
		}
		pid := "tm_" + HashSecret(id)[:24]
		if at.After(now) || at.Before(clock) || at.Equal(clock) && pid <= clockID || !w.wants(typ, s.Site) {
			return
		}
		p := WebhookPayload{ID: pid, Type: typ, Site: s.Site, At: at.UTC(),
			Actor: "maintenance", Source: "clock"}
		if win != nil {
			p.Window = &WindowRef{ID: win.ID, From: win.From, Until: win.Until}
			p.Reason = win.Reason
		} else {
			p.Reason = s.Reason
		}
		switch typ {
		case EventWindowStart, EventWindowEnd:
			b, a := s.Effective(at.Add(-time.Nanosecond)), s.Effective(at)
			p.Before, p.After = &b, &a
		case EventReminder:
			p.RemindBefore = shortDuration(remind)
		case EventForgotten:
			a := s.Effective(at)
			p.After = &a
			p.MaxDuration = shortDuration(w.MaxDuration)
		}
		out = append(out, item{payload: p})
	}
	for i := range st.Sites {
		s := &st.Sites[i]
		for k := range s.Schedule {
			win := &s.Schedule[k]
			add(EventWindowStart, s, win.From, win, 0)
			add(EventWindowEnd, s, win.Until, win, 0)
			for _, r := range w.Remind {
				add(EventReminder, s, win.From.Add(-r), win, r)
			}
		}
		if s.On {
			if !s.From.IsZero() {
				win := &Window{From: s.From, Until: s.Until}
				add(EventWindowStart, s, s.From, win, 0)
				for _, r := range w.Remind {
					add(EventReminder, s, s.From.Add(-r), win, r)
				}
			}
			if !s.Until.IsZero() {
				add(EventWindowEnd, s, s.Until, &Window{From: s.From, Until: s.Until}, 0)
			}
			if w.MaxDuration > 0 && s.Until.IsZero() && !s.ChangedAt.IsZero() {
				add(EventForgotten, s, maxTime(s.ChangedAt, s.From).Add(w.MaxDuration), nil, 0)
			}
		}
	}
	slices.SortFunc(out, func(a, b item) int {
		if c := a.payload.At.Compare(b.payload.At); c != 0 {
			return c
		}
		return strings.Compare(timedKey(a), timedKey(b))
	})
	return out
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// timedKey orders timed events of the same instant; it is what the cursor
// keeps as ClockID.
func timedKey(it item) string { return it.payload.ID }

// nextTimed returns when the next timed event of w falls after now, to wake
// up for it (zero: none).
func nextTimed(w *Webhook, c Cursor, st *State, now time.Time) time.Time {
	var next time.Time
	far := now.Add(366 * 24 * time.Hour)
	for _, it := range timedEvents(w, st, now, "\xff", far) {
		if it.payload.At.After(now) {
			next = it.payload.At
			break
		}
	}
	return next
}

// deliver posts the events due to w in order, moving its cursor after each
// one acknowledged, until one fails (then it schedules a retry) or the
// lease runs short.
func (d *Deliverer) deliver(ctx context.Context, w Webhook, secret string, c Cursor, due []item) {
	defer func() {
		d.mu.Lock()
		delete(d.busy, w.ID)
		d.mu.Unlock()
		select {
		case d.kick <- struct{}{}:
		default:
		}
	}()
	for _, it := range due {
		// A POST ends before the lease does: a successor cannot take over
		// while it may still be under way.
		end := time.Unix(0, d.leaseUntil.Load()).Add(-d.o.LeaseTTL / 10)
		if time.Until(end) < d.o.LeaseTTL/10 {
			return
		}
		pctx, cancel := context.WithDeadline(ctx, end)
		err := d.post(pctx, &w, secret, &it.payload)
		cancel()
		now := time.Now()
		n := c
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if n.Pending != it.payload.ID {
				n.Pending, n.Attempts, n.FailingSince = it.payload.ID, 0, now
			}
			n.Attempts++
			n.LastError = truncate(err.Error(), 500)
			wait := min(time.Second<<min(n.Attempts-1, 20), maxRetryWait)
			if !n.Failed && now.Sub(n.FailingSince) >= d.o.RetryFor {
				n.Failed = true
				d.log.Error("webhooks: marked failed: an event could not be delivered for "+d.o.RetryFor.String(),
					"webhook", w.ID, "host", webhookHost(w.URL), "event", it.payload.ID, "error", n.LastError)
			}
			if n.Failed {
				wait = failedBackoff
			}
			n.NextAttempt = now.Add(wait)
			d.log.Warn("webhooks: delivery failed; will retry", "webhook", w.ID, "host", webhookHost(w.URL),
				"event", it.payload.ID, "attempt", n.Attempts, "retry_in", wait.String(), "error", n.LastError)
		} else {
			if it.audit != 0 {
				n.Event = it.audit
			} else {
				n.Clock, n.ClockID = it.payload.At, timedKey(it)
			}
			n.Pending, n.Attempts, n.FailingSince, n.NextAttempt, n.LastError, n.Failed = "", 0, time.Time{}, time.Time{}, "", false
			n.Delivered++
			n.LastDelivered = now.UTC()
		}
		if serr := d.st.SetCursor(context.WithoutCancel(ctx), WebhookLease, d.o.Holder, w.ID, n); serr != nil {
			if errors.Is(serr, ErrLeaseLost) {
				d.leaseUntil.Store(0)
			}
			d.log.Warn("webhooks: writing the cursor", "webhook", w.ID, "error", serr)
			return
		}
		c = n
		if err != nil {
			return
		}
	}
}

// webhookHost returns the host of a webhook URL, for logs: the path and
// query may hold a credential (a Slack webhook URL does).
func webhookHost(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "?"
	}
	return u.Host
}

// shortDuration writes d without zero units: 1h, 10m, 1h30m.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// post sends one event to w and returns nil on a 2xx answer.
func (d *Deliverer) post(ctx context.Context, w *Webhook, secret string, p *WebhookPayload) error {
	return postWebhook(ctx, d.client, w, secret, p, time.Now())
}

func postWebhook(ctx context.Context, client *http.Client, w *Webhook, secret string, p *WebhookPayload, now time.Time) error {
	body, err := p.Body(w.Format)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		return errors.New("building the request")
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "maintenance-webhook/1")
	req.Header.Set("Maintenance-Event-Id", p.ID)
	req.Header.Set("Maintenance-Event-Type", p.Type)
	req.Header.Set("Maintenance-Signature", SignWebhook(secret, now, body))
	resp, err := client.Do(req)
	if err != nil {
		// Not the url.Error: it quotes the URL, which may hold a credential.
		var ue *url.Error
		if errors.As(err, &ue) {
			if ue.Timeout() {
				return errors.New("no answer within the timeout")
			}
			err = ue.Err
		}
		return fmt.Errorf("posting to %s: %v", webhookHost(w.URL), err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("%s answered %d %s", webhookHost(w.URL), resp.StatusCode, http.StatusText(resp.StatusCode))
	}
	return nil
}

// SendTest posts a "webhook.test" event to w now, signed with its secret
// (opened with the server key), and returns nil when the receiver answers
// 2xx. It does not touch the webhook's cursor.
func SendTest(ctx context.Context, serverKey []byte, w Webhook, actor string) error {
	secret, err := OpenSecret(serverKey, w.ID, w.Secret)
	if err != nil {
		return err
	}
	rnd, _ := NewSecret()
	now := time.Now().UTC()
	p := WebhookPayload{ID: "test_" + HashSecret(rnd)[:24], Type: EventTest, At: now.Truncate(time.Millisecond), Actor: actor,
		Source: "cli", Reason: "a test of webhook " + w.ID}
	return postWebhook(ctx, webhookClient(WebhookTimeout, nil), &w, secret, &p, now)
}

// WebhookPayload is the JSON body of a webhook POST (format "json").
type WebhookPayload struct {
	// ID is the event's ID, the same on every retry: "evt_N" for audit
	// event N, "tm_HEX" for a timed event, "test_HEX" for a test.
	ID string `json:"id"`
	// Type is the audit action with dots ("on", "ignore.add"), or one of
	// window.start, window.end, window.reminder, maintenance.forgotten,
	// webhook.test.
	Type string `json:"type"`
	// Site is the site concerned; "" for an event about no site.
	Site string `json:"site"`
	// At is when it happened (or happens, for a reminder's window).
	At     time.Time `json:"at"`
	Actor  string    `json:"actor"`
	Source string    `json:"source"`
	Reason string    `json:"reason"`
	// Before and After are the site's state around the event (null when
	// there is none: a site declared or removed, an event about no site).
	Before *SiteState `json:"before"`
	After  *SiteState `json:"after"`
	// Version is the state version a change produced.
	Version int64 `json:"version,omitempty"`
	// Target names the user, token, bypass link or webhook of such events.
	Target string `json:"target,omitempty"`
	// ReleaseBefore and ReleaseAfter are set by release.set.
	ReleaseBefore string `json:"release_before,omitempty"`
	ReleaseAfter  string `json:"release_after,omitempty"`
	// Window is the window of window.* events.
	Window *WindowRef `json:"window,omitempty"`
	// RemindBefore is how long before the start a reminder comes ("10m").
	RemindBefore string `json:"remind_before,omitempty"`
	// MaxDuration is the limit a maintenance.forgotten event passed.
	MaxDuration string `json:"max_duration,omitempty"`
}

// WindowRef is the window of a window.* event; ID 0 is the window of a
// site switched on with a start or an end.
type WindowRef struct {
	ID    int       `json:"id,omitempty"`
	From  time.Time `json:"from,omitzero"`
	Until time.Time `json:"until,omitzero"`
}

// auditPayload returns the body of an audit event.
func auditPayload(e *Event) WebhookPayload {
	return WebhookPayload{ID: "evt_" + strconv.FormatInt(e.ID, 10), Type: EventType(e.Action), Site: e.Site, At: e.Time.UTC(),
		Actor: e.Actor, Source: e.Source, Reason: e.Reason, Before: e.Before, After: e.After, Version: e.Version,
		Target: e.Target, ReleaseBefore: e.ReleaseBefore, ReleaseAfter: e.ReleaseAfter}
}

// Body returns the POST body in format f ("json", "slack").
func (p *WebhookPayload) Body(f string) ([]byte, error) {
	if f == WebhookSlack {
		return json.Marshal(struct {
			Text string `json:"text"`
		}{p.SlackText()})
	}
	return json.Marshal(p)
}

// SlackText returns one line for a chat channel, in Slack's markup with
// &, < and > escaped.
func (p *WebhookPayload) SlackText() string {
	site := p.Site
	switch site {
	case "":
		site = "the fleet"
	case DefaultSite:
		site = "every site"
	}
	hm := func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") }
	by := ""
	if p.Actor != "" {
		by = " by " + p.Actor
		if p.Source != "" {
			by += " (" + p.Source + ")"
		}
	}
	var s string
	switch p.Type {
	case "on":
		s = ":construction: *" + site + "*: maintenance on" + by
		if p.After != nil && !p.After.Until.IsZero() {
			s += ", until " + hm(p.After.Until)
		}
	case "off":
		s = ":white_check_mark: *" + site + "*: maintenance off" + by
	case EventWindowStart:
		s = ":construction: *" + site + "*: scheduled maintenance started"
		if p.Window != nil && !p.Window.Until.IsZero() {
			s += ", until " + hm(p.Window.Until)
		}
	case EventWindowEnd:
		s = ":white_check_mark: *" + site + "*: scheduled maintenance ended"
	case EventReminder:
		s = ":alarm_clock: *" + site + "*: maintenance starts in " + p.RemindBefore
		if p.Window != nil {
			s += ", at " + hm(p.Window.From)
			if !p.Window.Until.IsZero() {
				s += ", until " + hm(p.Window.Until)
			}
		}
	case EventForgotten:
		s = ":warning: *" + site + "* has been in maintenance for more than " + p.MaxDuration + " with no end: forgotten?"
	case EventTest:
		s = ":wave: a test from maintenance" + by
	case "release.set":
		s = ":package: target release set to " + p.ReleaseAfter + by
	default:
		s = "*" + site + "*: " + p.Type
		if p.Target != "" {
			s += " " + p.Target
		}
		s += by
	}
	if p.Reason != "" {
		s += ": " + p.Reason
	}
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// DeliveryState sums up a webhook's cursor (ok: whether it has one) for
// lists: "new" (nothing delivered yet), "ok", "retrying" (an event failed
// and is retried) or "failed" (an event could not be delivered for
// WebhookRetryFor; it is retried every 6 hours).
func DeliveryState(c Cursor, ok bool) string {
	switch {
	case c.Failed:
		return "failed"
	case c.Pending != "":
		return "retrying"
	case !ok || c.Delivered == 0:
		return "new"
	}
	return "ok"
}

// WebhookView is a webhook as lists show it (webhook ls --json, the JSON
// API, the admin page): never its secret.
type WebhookView struct {
	ID          string       `json:"id"`
	URL         string       `json:"url"`
	Events      []string     `json:"events"`
	Sites       []string     `json:"sites"`
	Format      string       `json:"format"`
	Remind      []string     `json:"remind"`
	MaxDuration string       `json:"max_duration,omitempty"`
	Created     time.Time    `json:"created"`
	CreatedBy   string       `json:"created_by"`
	Delivery    DeliveryView `json:"delivery"`
}

// DeliveryView is where the delivery to a webhook stands.
type DeliveryView struct {
	// State is DeliveryState's.
	State         string    `json:"state"`
	Delivered     int64     `json:"delivered"`
	LastDelivered time.Time `json:"last_delivered,omitzero"`
	Pending       string    `json:"pending,omitempty"`
	Attempts      int       `json:"attempts,omitempty"`
	FailingSince  time.Time `json:"failing_since,omitzero"`
	NextAttempt   time.Time `json:"next_attempt,omitzero"`
	LastError     string    `json:"last_error,omitempty"`
}

// View returns w as lists show it, with its cursor c (ok: whether it has one).
func (w *Webhook) View(c Cursor, ok bool) WebhookView {
	v := WebhookView{ID: w.ID, URL: w.URL, Events: append([]string{}, w.Events...), Sites: append([]string{}, w.Sites...),
		Format: w.Format, Remind: []string{}, Created: w.Created.UTC(), CreatedBy: w.CreatedBy,
		Delivery: DeliveryView{State: DeliveryState(c, ok), Delivered: c.Delivered, LastDelivered: c.LastDelivered.UTC(),
			Pending: c.Pending, Attempts: c.Attempts, FailingSince: c.FailingSince.UTC(), NextAttempt: c.NextAttempt.UTC(), LastError: c.LastError}}
	if v.Format == "" {
		v.Format = WebhookJSON
	}
	for _, d := range w.Remind {
		v.Remind = append(v.Remind, shortDuration(d))
	}
	if w.MaxDuration > 0 {
		v.MaxDuration = shortDuration(w.MaxDuration)
	}
	return v
}
