package maintenance

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParseTime(t *testing.T) {
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Skipf("no time zone database: %v", err)
	}
	now := time.Date(2026, 12, 7, 18, 26, 0, 0, time.UTC) // 19:26 in Paris
	good := []struct {
		in   string
		loc  *time.Location
		want time.Time
	}{
		{"2026-12-08T06:00:00Z", paris, time.Date(2026, 12, 8, 6, 0, 0, 0, time.UTC)},
		{"2026-12-08T07:00:00+01:00", nil, time.Date(2026, 12, 8, 6, 0, 0, 0, time.UTC)},
		{"2026-12-08T06:00", paris, time.Date(2026, 12, 8, 5, 0, 0, 0, time.UTC)},
		{"2026-12-08 06:00", nil, time.Date(2026, 12, 8, 6, 0, 0, 0, time.UTC)},
		{"2026-12-08T06:00:30", paris, time.Date(2026, 12, 8, 5, 0, 30, 0, time.UTC)},
		{"  2026-12-08 06:00:30 ", nil, time.Date(2026, 12, 8, 6, 0, 30, 0, time.UTC)},
		{"20:00", paris, time.Date(2026, 12, 7, 19, 0, 0, 0, time.UTC)},  // later today
		{"14:00", paris, time.Date(2026, 12, 8, 13, 0, 0, 0, time.UTC)},  // passed: tomorrow
		{"19:26", paris, time.Date(2026, 12, 8, 18, 26, 0, 0, time.UTC)}, // now: tomorrow
		{"18:30:15", nil, time.Date(2026, 12, 7, 18, 30, 15, 0, time.UTC)},
		{"+10m", paris, now.Add(10 * time.Minute)},
		{"+1h30m", nil, now.Add(90 * time.Minute)},
		{"now", paris, now},
	}
	for _, tt := range good {
		got, err := ParseTime(tt.in, now, tt.loc)
		if err != nil || !got.Equal(tt.want) {
			t.Errorf("ParseTime(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
	for _, in := range []string{"", "soon", "25:00", "14:61", "+", "+-5m", "+0s", "+10", "2026-13-01T00:00", "2026-12-08T06", "99999-01-01T00:00:00Z", "14:00 tomorrow", "\x1b[2K14:00"} {
		_, err := ParseTime(in, now, paris)
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseTime(%q): %v; want ErrInvalid", in, err)
			continue
		}
		if !strings.Contains(err.Error(), "accepted:") {
			t.Errorf("ParseTime(%q): %q does not say what is accepted", in, err)
		}
	}
}

func FuzzParseTime(f *testing.F) {
	for _, s := range []string{"14:00", "+10m", "2026-12-08T06:00", "2026-12-08T06:00:00Z", "now", "2026-12-08 06:00:59"} {
		f.Add(s)
	}
	now := time.Date(2026, 12, 7, 18, 26, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseTime(s, now, time.Local)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("ParseTime(%q): %v is not ErrInvalid", s, err)
			}
			return
		}
		if again, err := ParseTime(got.Format(time.RFC3339Nano), now, time.Local); err != nil || !again.Equal(got) {
			t.Fatalf("ParseTime(%q) = %v, which reads back as %v, %v", s, got, again, err)
		}
	})
}
