package maintenance

import (
	"strings"
	"time"
)

// TimeForms describes the times ParseTime accepts, for error messages and
// help texts.
const TimeForms = `accepted: an RFC 3339 time (2026-12-08T06:00:00Z, 2026-12-08T07:00:00+01:00), a local date and time (2026-12-08T06:00 or "2026-12-08 06:00", seconds optional), a local time of day (14:00: the next one), or now plus a duration (+10m, +1h30m)`

// ParseTime reads a time as people type it on the command line or in a
// form, relative to now and in the location loc (the local time zone for
// the CLI; nil means UTC):
//
//   - RFC 3339, with seconds and a zone: 2026-12-08T06:00:00Z;
//   - a date and time without a zone, in loc, seconds optional, with T or a
//     space: 2026-12-08T06:00, 2026-12-08 06:00:30;
//   - a time of day in loc, hh:mm or hh:mm:ss: the next such instant after
//     now (today if it is still ahead, else tomorrow);
//   - "+" and a Go duration: now plus it (+10m, +2h30m);
//   - "now".
//
// Anything else is an error wrapping ErrInvalid that names the value and
// the accepted forms (what a store can keep is checked with the change). A
// time
// that falls in a daylight-saving gap of loc is moved forward, as
// time.Date does.
func ParseTime(value string, now time.Time, loc *time.Location) (time.Time, error) {
	if loc == nil {
		loc = time.UTC
	}
	v := strings.TrimSpace(value)
	t, ok := parseTime(v, now, loc)
	if !ok {
		return time.Time{}, invalidf("%q is not a time; %s", value, TimeForms)
	}
	return t, nil
}

func parseTime(v string, now time.Time, loc *time.Location) (time.Time, bool) {
	switch {
	case v == "":
		return time.Time{}, false
	case v == "now":
		return now, true
	case v[0] == '+':
		d, err := time.ParseDuration(v[1:])
		if err != nil || d <= 0 || strings.HasPrefix(v[1:], "-") || strings.HasPrefix(v[1:], "+") {
			return time.Time{}, false
		}
		return now.Add(d), true
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, true
	}
	for _, layout := range []string{"2006-01-02T15:04", "2006-01-02T15:04:05", "2006-01-02 15:04", "2006-01-02 15:04:05"} {
		if t, err := time.ParseInLocation(layout, v, loc); err == nil {
			return t, true
		}
	}
	for _, layout := range []string{"15:04", "15:04:05"} {
		if c, err := time.Parse(layout, v); err == nil {
			n := now.In(loc)
			t := time.Date(n.Year(), n.Month(), n.Day(), c.Hour(), c.Minute(), c.Second(), 0, loc)
			if !t.After(now) {
				t = time.Date(n.Year(), n.Month(), n.Day()+1, c.Hour(), c.Minute(), c.Second(), 0, loc)
			}
			return t, true
		}
	}
	return time.Time{}, false
}
