package i18n

import (
	"strconv"
	"time"
)

// Duration writes d for a reader, as in "This link expires in 10 minutes":
// in the largest unit (days, hours, minutes, seconds) that expresses d
// exactly; a d of two minutes or more with leftover seconds is rounded
// down to whole minutes, so a message never promises more time than there
// is. It returns "" for d <= 0.
func (p *Printer) Duration(d time.Duration) string {
	if d <= 0 {
		return ""
	}
	units := []struct {
		d   time.Duration
		key string
	}{
		{24 * time.Hour, "duration.days"},
		{time.Hour, "duration.hours"},
		{time.Minute, "duration.minutes"},
	}
	for _, u := range units {
		if d >= u.d && d%u.d == 0 {
			return p.N(u.key, int(d/u.d))
		}
	}
	if d >= 2*time.Minute {
		return p.N("duration.minutes", int(d/time.Minute))
	}
	if d < time.Second {
		return p.T("duration.under_a_second")
	}
	return p.N("duration.seconds", int(d/time.Second))
}

// Date writes the instant t for a reader, in UTC, as in "2 December 2026,
// 14:05 UTC": the message date.datetime with the month's name.
func (p *Printer) Date(t time.Time) string {
	t = t.UTC()
	return p.T("date.datetime", "day", strconv.Itoa(t.Day()), "month", p.T("date.month."+strconv.Itoa(int(t.Month()))),
		"year", strconv.Itoa(t.Year()), "time", t.Format("15:04"))
}
