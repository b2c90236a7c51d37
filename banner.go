package maintenance

import (
	"html/template"
	"time"
)

// Banner returns a line for a banner about the status, in UTC:
// "Maintenance in progress until 23:00 UTC", "Maintenance scheduled for Sat
// 21 Nov 22:00-23:00 UTC: Database upgrade", or "" when there is nothing to
// say.
func (s Status) Banner() string {
	const day, hm = "Mon 2 Jan 15:04", "15:04"
	msg := ""
	if s.Message != "" {
		msg = ": " + s.Message
	}
	switch {
	case s.On && !s.Until.IsZero():
		return "Maintenance in progress until " + s.Until.UTC().Format(day) + " UTC" + msg
	case s.On:
		return "Maintenance in progress" + msg
	case !s.Starts.IsZero() && !s.Until.IsZero():
		end := s.Until.UTC().Format(hm)
		if s.Until.UTC().YearDay() != s.Starts.UTC().YearDay() || s.Until.Sub(s.Starts) >= 24*time.Hour {
			end = s.Until.UTC().Format(day)
		}
		return "Maintenance scheduled for " + s.Starts.UTC().Format(day) + "-" + end + " UTC" + msg
	case !s.Starts.IsZero():
		return "Maintenance scheduled from " + s.Starts.UTC().Format(day) + " UTC" + msg
	}
	return ""
}

// FuncMap returns template functions for Go apps' own pages:
// {{maintenanceBanner .Status}} is Status.Banner, where .Status comes from
// StatusFrom(r.Context()).
func FuncMap() template.FuncMap {
	return template.FuncMap{"maintenanceBanner": func(s Status) string { return s.Banner() }}
}
