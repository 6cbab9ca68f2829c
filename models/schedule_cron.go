package models

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	// Time zone names must resolve on hosts without a zoneinfo database
	// (scratch and distroless images); the embedded copy is the fallback.
	_ "time/tzdata"
)

// Cron is a parsed schedule: a 5-field cron expression (or a descriptor
// such as @daily) read in a time zone.
//
// Daylight saving time: an expression whose hour field is a wildcard ("*"
// or "*/n", e.g. "0 * * * *") follows real time — it runs every real hour,
// so on the night clocks go back 02:00 comes twice and runs twice, and on
// the night they go forward the missing hour is simply not there. Any other
// expression (a fixed hour, e.g. "30 2 * * *") follows the wall clock, the
// way cron(8) treats fixed-time jobs: a time that occurs twice runs once
// (the first time), and a time that does not exist that day (02:30 when
// clocks jump from 02:00 to 03:00) runs once at the moment the clocks jump
// (03:00). robfig/cron alone would skip the day in the first case and run
// twice in the second.
type Cron struct {
	spec     *cron.SpecSchedule
	loc      *time.Location
	wallTime bool
}

var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// MaxCronLength bounds a cron expression.
const MaxCronLength = 100

// ParseCron parses expr in the named time zone ("" is UTC). Errors are
// worded for the person who typed the expression.
func ParseCron(expr, tz string) (*Cron, error) {
	loc, err := LoadTimeZone(tz)
	if err != nil {
		return nil, err
	}
	expr = strings.Join(strings.Fields(expr), " ")
	switch {
	case expr == "":
		return nil, errors.New("is required")
	case len(expr) > MaxCronLength:
		return nil, fmt.Errorf("must be at most %d characters", MaxCronLength)
	case strings.HasPrefix(expr, "TZ=") || strings.HasPrefix(expr, "CRON_TZ="):
		return nil, errors.New("must not name a time zone: choose it in the time zone field")
	case strings.HasPrefix(expr, "@every"):
		return nil, errors.New("@every is not supported: use a cron expression such as */5 * * * *")
	}
	s, err := cronParser.Parse(expr)
	if err != nil {
		return nil, fmt.Errorf("is not a valid cron expression (minute hour day-of-month month day-of-week, e.g. 30 2 * * 1-5): %s", strings.TrimPrefix(err.Error(), "failed to parse "))
	}
	spec, ok := s.(*cron.SpecSchedule)
	if !ok {
		return nil, errors.New("is not a valid cron expression")
	}
	c := &Cron{spec: spec, loc: loc, wallTime: !hourIsWildcard(expr)}
	if c.wallTime {
		// Matches are computed on the wall clock, as if it were UTC, and
		// mapped to real instants afterwards (see Next).
		spec.Location = time.UTC
	} else {
		spec.Location = loc
	}
	if c.Next(time.Now()).IsZero() {
		return nil, errors.New("never matches a date (check the day of month and month)")
	}
	return c, nil
}

// LoadTimeZone resolves an IANA time zone name such as Europe/Oslo.
func LoadTimeZone(tz string) (*time.Location, error) {
	tz = strings.TrimSpace(tz)
	if tz == "" || tz == "UTC" {
		return time.UTC, nil
	}
	// "Local" would be whatever zone the server happens to run in.
	if tz == "Local" || strings.ContainsAny(tz, " \\") || strings.HasPrefix(tz, "/") || strings.Contains(tz, "..") {
		return nil, fmt.Errorf("%q is not a time zone name (use an IANA name such as Europe/Oslo or UTC)", tz)
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return nil, fmt.Errorf("%q is not a known time zone (use an IANA name such as Europe/Oslo or UTC)", tz)
	}
	return loc, nil
}

// hourIsWildcard reports whether the expression's hour field is "*" or
// "*/n" (descriptors: only @hourly).
func hourIsWildcard(expr string) bool {
	if strings.HasPrefix(expr, "@") {
		return expr == "@hourly"
	}
	f := strings.Fields(expr)
	return len(f) == 5 && (f[1] == "*" || strings.HasPrefix(f[1], "*/"))
}

// Location is the schedule's time zone.
func (c *Cron) Location() *time.Location { return c.loc }

// Next returns the first run time strictly after t (zero if there is none
// within five years, robfig/cron's search limit).
func (c *Cron) Next(t time.Time) time.Time {
	if !c.wallTime {
		n := c.spec.Next(t)
		if n.IsZero() {
			return n
		}
		return n.UTC()
	}
	w := wallClock(t.In(c.loc))
	for range 4 {
		w = c.spec.Next(w)
		if w.IsZero() {
			return w
		}
		// A wall-clock time in the repeated hour maps to its first
		// occurrence, which may already be behind t: go on to the next.
		if at := fromWallClock(w, c.loc); at.After(t) {
			return at.UTC()
		}
	}
	return time.Time{}
}

// NextN returns the next n run times after t.
func (c *Cron) NextN(t time.Time, n int) []time.Time {
	out := make([]time.Time, 0, n)
	for range n {
		t = c.Next(t)
		if t.IsZero() {
			break
		}
		out = append(out, t)
	}
	return out
}

// wallClock is t's local date and time, labelled UTC.
func wallClock(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.UTC)
}

// fromWallClock is the first instant at which the clocks of loc show w (a
// wall-clock time labelled UTC); when they never do (w falls in the gap of
// a jump forward), the instant of the jump.
func fromWallClock(w time.Time, loc *time.Location) time.Time {
	u := w.Unix()
	var offsets []int
	for _, probe := range []int64{u - 86400, u, u + 86400} {
		_, off := time.Unix(probe, 0).In(loc).Zone()
		if !slices.Contains(offsets, off) {
			offsets = append(offsets, off)
		}
	}
	var best time.Time
	for _, off := range offsets {
		at := time.Unix(u-int64(off), int64(w.Nanosecond())).In(loc)
		if wallClock(at).Equal(w) && (best.IsZero() || at.Before(best)) {
			best = at
		}
	}
	if !best.IsZero() {
		return best
	}
	// In the gap: just before the jump the clocks show less than w; the
	// zone in effect then ends at the jump.
	maxOff := offsets[0]
	for _, off := range offsets[1:] {
		maxOff = max(maxOff, off)
	}
	_, end := time.Unix(u-int64(maxOff), 0).In(loc).ZoneBounds()
	if end.IsZero() {
		return time.Unix(u-int64(maxOff), 0).In(loc)
	}
	return end.In(loc)
}
