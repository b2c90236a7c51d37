package maintenance_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gomaint/maintenance"
	"github.com/gomaint/maintenance/internal/state"
)

func TestWindowInputResolve(t *testing.T) {
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	at := func(d time.Duration) *time.Time { t := now.Add(d); return &t }
	dur := func(d time.Duration) *time.Duration { return &d }
	zero := new(time.Time)
	tests := []struct {
		name        string
		in          maintenance.WindowInput
		from, until *time.Time
		field, want string
	}{
		{name: "nothing", in: maintenance.WindowInput{}},
		{name: "for from now", in: maintenance.WindowInput{For: dur(time.Hour)}, until: at(time.Hour)},
		{name: "for from from", in: maintenance.WindowInput{From: at(time.Hour), For: dur(time.Hour)}, from: at(time.Hour), until: at(2 * time.Hour)},
		{name: "for from a cleared from", in: maintenance.WindowInput{From: zero, For: dur(time.Hour)}, from: zero, until: at(time.Hour)},
		{name: "for with a cleared until", in: maintenance.WindowInput{Until: zero, For: dur(time.Hour)}, until: at(time.Hour)},
		{name: "clear both", in: maintenance.WindowInput{From: zero, Until: zero}, from: zero, until: zero},
		{name: "for under a second", in: maintenance.WindowInput{For: dur(500 * time.Millisecond)}, field: "for", want: "for 500ms: accepted: a duration of at least 1s"},
		{name: "for and until", in: maintenance.WindowInput{Until: at(time.Hour), For: dur(time.Hour)}, field: "for", want: "both set the end"},
		{name: "end in the past", in: maintenance.WindowInput{Until: at(-time.Hour)}, field: "until", want: "the end 2026-11-21T11:00:00Z is in the past"},
		{name: "end from for in the past", in: maintenance.WindowInput{From: at(-2 * time.Hour), For: dur(time.Hour)}, field: "for", want: "is in the past"},
		{name: "end before start", in: maintenance.WindowInput{From: at(2 * time.Hour), Until: at(time.Hour)}, field: "until", want: "is not after the start"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			from, until, err := tt.in.Resolve(now)
			var fe *maintenance.FieldError
			if tt.want != "" {
				if !errors.As(err, &fe) || fe.Field != tt.field || !errors.Is(err, maintenance.ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("error %v, want field %q with %q", err, tt.field, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			same := func(a, b *time.Time) bool { return a == nil && b == nil || a != nil && b != nil && a.Equal(*b) }
			if !same(from, tt.from) || !same(until, tt.until) {
				t.Errorf("got %v - %v, want %v - %v", from, until, tt.from, tt.until)
			}
		})
	}
}

func TestWindowInputScheduled(t *testing.T) {
	now := time.Now()
	from, d := now.Add(time.Hour), time.Hour
	if _, _, err := (maintenance.WindowInput{For: &d}).Scheduled(now); fieldOf(err) != "from" {
		t.Errorf("no start: %v", err)
	}
	if _, _, err := (maintenance.WindowInput{From: &from}).Scheduled(now); fieldOf(err) != "until" {
		t.Errorf("no end: %v", err)
	}
	f, u, err := (maintenance.WindowInput{From: &from, For: &d}).Scheduled(now)
	if err != nil || !f.Equal(from) || !u.Equal(from.Add(d)) {
		t.Errorf("got %v - %v, %v", f, u, err)
	}
}

func TestOnOptionsValidate(t *testing.T) {
	now := time.Now()
	str := func(s string) *string { return &s }
	code, frac, past := 302, 1500*time.Millisecond, now.Add(-time.Minute)
	mode := maintenance.Mode("sideways")
	st, _ := openStore(t)
	for _, tt := range []struct {
		o     maintenance.OnOptions
		field string
	}{
		{maintenance.OnOptions{Message: str("a\x1bb")}, "message"},
		{maintenance.OnOptions{Messages: map[string]string{"deutsch": "x"}}, "messages"},
		{maintenance.OnOptions{Messages: map[string]string{"de": "a", "DE": "b"}}, "messages"},
		{maintenance.OnOptions{Mode: &mode}, "mode"},
		{maintenance.OnOptions{Status: &code}, "status"},
		{maintenance.OnOptions{RetryAfter: &frac}, "retry_after"},
		{maintenance.OnOptions{Redirect: str("javascript:alert(1)")}, "redirect"},
		{maintenance.OnOptions{Until: &past}, "until"},
	} {
		if got := fieldOf(tt.o.Validate(now)); got != tt.field {
			t.Errorf("%+v: field %q, want %q", tt.o, got, tt.field)
		}
		// On refuses what Validate refuses.
		if _, err := st.Update(t.Context(), maintenance.On(nil, tt.o)); fieldOf(err) != tt.field {
			t.Errorf("On(%+v): %v, want an error in field %q", tt.o, err, tt.field)
		}
	}
	if err := (maintenance.OnOptions{Message: str("line\r\nline"), Redirect: str("")}).Validate(now); err != nil {
		t.Error(err)
	}
}

func TestWindowValidate(t *testing.T) {
	for _, tt := range []struct {
		w     maintenance.Window
		field string
	}{
		{maintenance.Window{Mode: "sideways"}, "mode"},
		{maintenance.Window{Message: "\x1b"}, "message"},
		{maintenance.Window{Messages: map[string]string{"de": ""}}, "messages"},
		{maintenance.Window{Reason: "a\nb"}, "reason"},
		{maintenance.Window{Mode: maintenance.ModeHold, Message: "a\r\nb", Messages: map[string]string{"DE": "x"}}, ""},
	} {
		if got := fieldOf(tt.w.Validate()); got != tt.field {
			t.Errorf("%+v: field %q, want %q", tt.w, got, tt.field)
		}
	}
}

// fieldOf returns the field of a *FieldError, "" for nil and "?" for
// another error.
func fieldOf(err error) string {
	var fe *maintenance.FieldError
	switch {
	case err == nil:
		return ""
	case errors.As(err, &fe):
		return fe.Field
	}
	return "?"
}

// TestValidatorsAgreeWithCommit checks that each exported validator
// refuses what the change it belongs to refuses, with the same error, so
// that the CLI and the admin can check input before the store is opened.
func TestValidatorsAgreeWithCommit(t *testing.T) {
	_, id := maintenance.NewSecret()
	hash := maintenance.HashSecret("secret")
	sealed, err := maintenance.SealSecret(make([]byte, 32), id, maintenance.NewWebhookSecret())
	if err != nil {
		t.Fatal(err)
	}
	webhook := func(f func(w *maintenance.Webhook)) *maintenance.Webhook {
		w := &maintenance.Webhook{ID: id, URL: "https://hooks.example.com/m", Secret: sealed}
		f(w)
		return w
	}
	long := strings.Repeat("x", maintenance.MaxText+1)
	tests := []struct {
		name     string
		validate error
		change   maintenance.Change
		reason   string
	}{
		{"reason", maintenance.ValidateReason("a\nb"), maintenance.SetRelease("v1"), "a\nb"},
		{"long reason", maintenance.ValidateReason(long), maintenance.SetRelease("v1"), long},
		{"ignore note", maintenance.ValidateNote("a\x1bb"), maintenance.AddIgnore("", "/health", "a\x1bb"), ""},
		{"allow note", maintenance.ValidateNote(long), maintenance.AddAllow("", "10.0.0.0/8", long), ""},
		{"token label", maintenance.ValidateLabel("a\tb"), maintenance.CreateToken(maintenance.Token{ID: id, Label: "a\tb", Hash: hash}), ""},
		{"bypass label", maintenance.ValidateLabel(long), maintenance.CreateBypass(maintenance.BypassLink{ID: id, Label: long, Hash: hash}, time.Hour), ""},
		{"error status", maintenance.ValidateErrorStatus(302), maintenance.SetErrorStatus("", 302), ""},
		{"remove *", maintenance.ValidateRemoveSite("*"), maintenance.RemoveSite("*"), ""},
		{"remove bad name", maintenance.ValidateRemoveSite("a b"), maintenance.RemoveSite("a b"), ""},
		{"webhook URL", webhook(func(w *maintenance.Webhook) { w.URL = "ftp://x" }).Validate(), maintenance.AddWebhook(*webhook(func(w *maintenance.Webhook) { w.URL = "ftp://x" })), ""},
		{"webhook events", webhook(func(w *maintenance.Webhook) { w.Events = []string{"nope"} }).Validate(), maintenance.AddWebhook(*webhook(func(w *maintenance.Webhook) { w.Events = []string{"nope"} })), ""},
		{"webhook site", webhook(func(w *maintenance.Webhook) { w.Sites = []string{"a b"} }).Validate(), maintenance.AddWebhook(*webhook(func(w *maintenance.Webhook) { w.Sites = []string{"a b"} })), ""},
		{"webhook format", webhook(func(w *maintenance.Webhook) { w.Format = "xml" }).Validate(), maintenance.AddWebhook(*webhook(func(w *maintenance.Webhook) { w.Format = "xml" })), ""},
		{"webhook reminders", webhook(func(w *maintenance.Webhook) { w.Remind = []time.Duration{-time.Hour} }).Validate(), maintenance.AddWebhook(*webhook(func(w *maintenance.Webhook) { w.Remind = []time.Duration{-time.Hour} })), ""},
		{"webhook max duration", webhook(func(w *maintenance.Webhook) { w.MaxDuration = time.Second }).Validate(), maintenance.AddWebhook(*webhook(func(w *maintenance.Webhook) { w.MaxDuration = time.Second })), ""},
	}
	for _, tt := range tests {
		st := &maintenance.State{}
		st.Normalize()
		c := tt.change
		c.Actor, c.Source, c.Reason = "bob", "cli", tt.reason
		_, _, cerr := state.Commit(st, c, now)
		if tt.validate == nil || !errors.Is(tt.validate, maintenance.ErrInvalid) {
			t.Errorf("%s: validator: %v, want an ErrInvalid", tt.name, tt.validate)
			continue
		}
		if cerr == nil || cerr.Error() != tt.validate.Error() {
			t.Errorf("%s: validator says %q, Commit(%s) says %v", tt.name, tt.validate, c.Action, cerr)
		}
	}
	for name, err := range map[string]error{
		"reason":         maintenance.ValidateReason("database upgrade"),
		"note":           maintenance.ValidateNote(""),
		"label":          maintenance.ValidateLabel("release checks"),
		"error status 0": maintenance.ValidateErrorStatus(0),
		"error status":   maintenance.ValidateErrorStatus(500),
		"remove site":    maintenance.ValidateRemoveSite("Shop.Example.com"),
		"webhook": webhook(func(w *maintenance.Webhook) {
			w.Sites, w.Remind, w.Format = []string{"*"}, []time.Duration{time.Hour}, "slack"
		}).Validate(),
		"webhook no ID": (&maintenance.Webhook{URL: "http://hooks.example.com"}).Validate(),
	} {
		if err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}
