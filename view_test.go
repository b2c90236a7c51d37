package maintenance_test

import (
	"testing"
	"time"

	"github.com/gomaint/maintenance"
)

func TestSiteView(t *testing.T) {
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	s := &maintenance.SiteState{Site: "shop.example.com", Status: 500, ErrorStatus: 0, RetryAfter: time.Minute, Redirect: "/status",
		On: true, Mode: maintenance.ModeReadOnly, Until: now.Add(-time.Hour), Message: "switched",
		Schedule: []maintenance.Window{{ID: 1, From: now.Add(-time.Minute), Until: now.Add(time.Hour), Message: "window"}}}
	v := s.View(now)
	// The switch has ended; the window applies, with its own settings.
	if !v.On || !v.SwitchedOn || v.Mode != "full" || v.Message != "window" || v.Status != 503 || v.ErrorStatus != 503 ||
		v.RetryAfter != 0 || v.Redirect != "" || v.Until == nil || !v.Until.Equal(now.Add(time.Hour)) || len(v.Schedule) != 1 || !v.Schedule[0].Active {
		t.Errorf("during a window: %+v", v)
	}
	if got := s.Describe(now); got != "on (full, scheduled window 1)" {
		t.Errorf("Describe = %q", got)
	}
	v = s.View(now.Add(2 * time.Hour))
	if v.On || !v.SwitchedOn || v.Mode != "read-only" || v.Status != 500 || v.RetryAfter != 60 || v.Redirect != "/status" {
		t.Errorf("after the window: %+v", v)
	}
	if s.EffectiveStatus() != 500 || s.EffectiveErrorStatus() != maintenance.DefaultStatus {
		t.Errorf("statuses %d, %d", s.EffectiveStatus(), s.EffectiveErrorStatus())
	}
}

func TestEventSummary(t *testing.T) {
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	off := &maintenance.SiteState{Site: "*"}
	on := &maintenance.SiteState{Site: "*", On: true, Mode: maintenance.ModeFull, Until: now.Add(time.Hour)}
	ruled := &maintenance.SiteState{Site: "*", Ignore: []maintenance.Rule{{Value: "/health"}}, ErrorStatus: 500}
	for _, tt := range []struct {
		e    maintenance.Event
		want string
	}{
		// At the event's time, not now: the window had not ended then.
		{maintenance.Event{Time: now, Before: off, After: on}, "off -> on (full)"},
		{maintenance.Event{Time: now, Before: off, After: ruled}, "error status 503 -> 500; +ignore /health"},
		{maintenance.Event{Time: now, After: off}, "declared, off"},
		{maintenance.Event{Time: now, Before: off}, "removed"},
		{maintenance.Event{Time: now, ReleaseAfter: "v42"}, "release none -> v42"},
		{maintenance.Event{Time: now, Target: "user bob"}, "user bob"},
	} {
		if got := tt.e.Summary(); got != tt.want {
			t.Errorf("Summary() = %q, want %q", got, tt.want)
		}
	}
}
