package models_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/codex32/codex32/models"
)

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

func utcs(ss ...string) []time.Time {
	out := make([]time.Time, len(ss))
	for i, s := range ss {
		out[i] = utc(s)
	}
	return out
}

func TestParseCronRefusesWithClearMessages(t *testing.T) {
	t.Parallel()
	cases := []struct {
		expr, tz, want string
	}{
		{"", "UTC", "is required"},
		{"* * * *", "UTC", "is not a valid cron expression"},
		{"* * * * * *", "UTC", "is not a valid cron expression"},
		{"61 * * * *", "UTC", "is not a valid cron expression"},
		{"0 25 * * *", "UTC", "is not a valid cron expression"},
		{"0 0 * * mon-funday", "UTC", "is not a valid cron expression"},
		{"@every 1s", "UTC", "@every is not supported"},
		{"CRON_TZ=Europe/Oslo 0 9 * * *", "UTC", "choose it in the time zone field"},
		{"TZ=UTC 0 9 * * *", "UTC", "choose it in the time zone field"},
		{"0 0 30 2 *", "UTC", "never matches a date"},
		{"0 9 * * *", "Mars/Olympus_Mons", `"Mars/Olympus_Mons" is not a known time zone`},
		{"0 9 * * *", "Local", "is not a time zone name"},
		{"0 9 * * *", "../etc/passwd", "is not a time zone name"},
		{"0 9 * * *", "Europe/ Oslo", "is not a time zone name"},
	}
	for _, tc := range cases {
		_, err := models.ParseCron(tc.expr, tc.tz)
		require.Error(t, err, "%q in %q", tc.expr, tc.tz)
		require.Contains(t, err.Error(), tc.want, "%q in %q", tc.expr, tc.tz)
	}
	for _, ok := range []struct{ expr, tz string }{
		{"*/5 * * * *", ""}, {"30 2 * * 1-5", "Europe/Oslo"}, {"0 9 1 jan,jul *", "America/New_York"},
		{"@daily", "Asia/Kolkata"}, {"@hourly", "UTC"}, {"  0   9 * * *  ", "UTC"},
	} {
		_, err := models.ParseCron(ok.expr, ok.tz)
		require.NoError(t, err, "%q in %q", ok.expr, ok.tz)
	}
}

// Fixed-time expressions follow the wall clock of their zone, in Oslo and
// in UTC alike.
func TestCronNextInTimeZone(t *testing.T) {
	t.Parallel()
	c, err := models.ParseCron("0 9 * * 1-5", "Europe/Oslo")
	require.NoError(t, err)
	// Friday 2025-01-10 10:00 Oslo → Monday 09:00 Oslo (08:00 UTC in winter).
	require.Equal(t, utcs("2025-01-13T08:00:00Z", "2025-01-14T08:00:00Z", "2025-01-15T08:00:00Z"),
		c.NextN(utc("2025-01-10T09:00:00Z"), 3))
	// Summer: 09:00 Oslo is 07:00 UTC.
	require.Equal(t, utc("2025-06-02T07:00:00Z"), c.Next(utc("2025-06-01T12:00:00Z")))
	require.Equal(t, "Europe/Oslo", c.Location().String())

	u, err := models.ParseCron("*/20 * * * *", "")
	require.NoError(t, err)
	require.Equal(t, utcs("2025-01-01T00:20:00Z", "2025-01-01T00:40:00Z", "2025-01-01T01:00:00Z"), u.NextN(utc("2025-01-01T00:00:00Z"), 3))
}

// Clocks in Oslo go forward at 02:00 CET on 2025-03-30 (to 03:00 CEST, at
// 01:00 UTC) and back at 03:00 CEST on 2025-10-26 (to 02:00 CET, at 01:00
// UTC). These are the exact times a schedule runs around both changes.
func TestCronAcrossDaylightSavingTime(t *testing.T) {
	t.Parallel()
	oslo := func(expr string) *models.Cron {
		c, err := models.ParseCron(expr, "Europe/Oslo")
		require.NoError(t, err)
		return c
	}

	t.Run("fixed time inside the skipped hour runs at the jump, once", func(t *testing.T) {
		t.Parallel()
		// 02:30 does not exist on 2025-03-30: that day it runs at 03:00
		// CEST (01:00 UTC), the instant the clocks jump; the days around
		// it at 02:30 local (01:30 UTC in winter, 00:30 UTC in summer).
		require.Equal(t, utcs(
			"2025-03-29T01:30:00Z", // 02:30 CET
			"2025-03-30T01:00:00Z", // 03:00 CEST: the jump
			"2025-03-31T00:30:00Z", // 02:30 CEST
		), oslo("30 2 * * *").NextN(utc("2025-03-28T12:00:00Z"), 3))
	})

	t.Run("fixed time inside the repeated hour runs once, the first time", func(t *testing.T) {
		t.Parallel()
		// 02:30 happens twice on 2025-10-26 (00:30 UTC in CEST, 01:30 UTC
		// in CET): it runs at the first only.
		require.Equal(t, utcs(
			"2025-10-25T00:30:00Z", // 02:30 CEST
			"2025-10-26T00:30:00Z", // 02:30 CEST, the first of the two
			"2025-10-27T01:30:00Z", // 02:30 CET
		), oslo("30 2 * * *").NextN(utc("2025-10-24T12:00:00Z"), 3))
		// Computing from between the two 02:30s does not pick the second.
		require.Equal(t, utc("2025-10-27T01:30:00Z"), oslo("30 2 * * *").Next(utc("2025-10-26T01:10:00Z")))
		// Every half hour during 02:xx: the repeated hour does not repeat it.
		require.Equal(t, utcs("2025-10-26T00:00:00Z", "2025-10-26T00:30:00Z", "2025-10-27T01:00:00Z"),
			oslo("*/30 2 * * *").NextN(utc("2025-10-25T22:00:00Z"), 3))
	})

	t.Run("hourly follows real time: the repeated hour runs twice", func(t *testing.T) {
		t.Parallel()
		// "0 * * * *" runs every real hour: local 01:00, 02:00 CEST, 02:00
		// CET (again), 03:00 CET.
		require.Equal(t, utcs(
			"2025-10-25T23:00:00Z", // 01:00 CEST
			"2025-10-26T00:00:00Z", // 02:00 CEST
			"2025-10-26T01:00:00Z", // 02:00 CET, the clocks went back
			"2025-10-26T02:00:00Z", // 03:00 CET
		), oslo("0 * * * *").NextN(utc("2025-10-25T22:30:00Z"), 4))
	})

	t.Run("hourly across the skipped hour: one real hour apart", func(t *testing.T) {
		t.Parallel()
		// Local 01:00 CET, then 03:00 CEST (02:00 does not exist): one
		// real hour apart, no run lost or doubled.
		require.Equal(t, utcs("2025-03-30T00:00:00Z", "2025-03-30T01:00:00Z", "2025-03-30T02:00:00Z"),
			oslo("0 * * * *").NextN(utc("2025-03-29T23:30:00Z"), 3))
	})

	t.Run("daily at 09:00 keeps 09:00 local across both changes", func(t *testing.T) {
		t.Parallel()
		require.Equal(t, utcs("2025-03-29T08:00:00Z", "2025-03-30T07:00:00Z"), oslo("0 9 * * *").NextN(utc("2025-03-29T00:00:00Z"), 2))
		require.Equal(t, utcs("2025-10-25T07:00:00Z", "2025-10-26T08:00:00Z"), oslo("0 9 * * *").NextN(utc("2025-10-25T00:00:00Z"), 2))
	})
}
