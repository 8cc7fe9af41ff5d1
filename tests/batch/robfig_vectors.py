"""Test vectors transcribed from robfig/cron v3 (github.com/robfig/cron, spec_test.go, parser_test.go).

robfig's TestNext uses its 6-field parser (seconds first); the entries below drop the seconds field,
which is "0" in every entry kept. Entries whose seconds field is not "0" ("15/35 ...") have no 5-field
form and are left out. Times written "Mon Jul 9 14:45 2012" are parsed there in time.Local; they are
UTC here. A "TZ=Zone" prefix on robfig's time string means the schedule runs in that zone (its spec had
no zone, so Next used the time's location); a prefix on the spec is our zone argument.

Each NEXT entry: (start, zone, expression, expected) with times as "YYYY-MM-DDTHH:MM:SS±hhmm" or
robfig's "Mon Jan 2 15:04[:05] 2006" (UTC); expected None means robfig returns the zero time.
"""

from __future__ import annotations

NEXT: list[tuple[str, str, str, str | None]] = [
    # Simple cases
    ("Mon Jul 9 14:45 2012", "UTC", "0/15 * * * *", "Mon Jul 9 15:00 2012"),
    ("Mon Jul 9 14:59 2012", "UTC", "0/15 * * * *", "Mon Jul 9 15:00 2012"),
    ("Mon Jul 9 14:59:59 2012", "UTC", "0/15 * * * *", "Mon Jul 9 15:00 2012"),
    # Wrap around hours
    ("Mon Jul 9 15:45 2012", "UTC", "20-35/15 * * * *", "Mon Jul 9 16:20 2012"),
    # Wrap around days
    ("Mon Jul 9 23:46 2012", "UTC", "*/15 * * * *", "Tue Jul 10 00:00 2012"),
    ("Mon Jul 9 23:45 2012", "UTC", "20-35/15 * * * *", "Tue Jul 10 00:20 2012"),
    # Wrap around months
    ("Mon Jul 9 23:35 2012", "UTC", "0 0 9 Apr-Oct ?", "Thu Aug 9 00:00 2012"),
    ("Mon Jul 9 23:35 2012", "UTC", "0 0 */5 Apr,Aug,Oct Mon", "Tue Aug 1 00:00 2012"),
    ("Mon Jul 9 23:35 2012", "UTC", "0 0 */5 Oct Mon", "Mon Oct 1 00:00 2012"),
    # Wrap around years
    ("Mon Jul 9 23:35 2012", "UTC", "0 0 * Feb Mon", "Mon Feb 4 00:00 2013"),
    ("Mon Jul 9 23:35 2012", "UTC", "0 0 * Feb Mon/2", "Fri Feb 1 00:00 2013"),
    # Wrap around minute, hour, day, month, and year
    ("Mon Dec 31 23:59:45 2012", "UTC", "* * * * *", "Tue Jan 1 00:00:00 2013"),
    # Leap year
    ("Mon Jul 9 23:35 2012", "UTC", "0 0 29 Feb ?", "Mon Feb 29 00:00 2016"),
    # Daylight savings time 2am EST (-5) -> 3am EDT (-4)
    ("2012-03-11T00:00:00-0500", "America/New_York", "30 2 11 Mar ?", "2013-03-11T02:30:00-0400"),
    # hourly job
    ("2012-03-11T00:00:00-0500", "America/New_York", "0 * * * ?", "2012-03-11T01:00:00-0500"),
    ("2012-03-11T01:00:00-0500", "America/New_York", "0 * * * ?", "2012-03-11T03:00:00-0400"),
    ("2012-03-11T03:00:00-0400", "America/New_York", "0 * * * ?", "2012-03-11T04:00:00-0400"),
    ("2012-03-11T04:00:00-0400", "America/New_York", "0 * * * ?", "2012-03-11T05:00:00-0400"),
    # 1am nightly job
    ("2012-03-11T00:00:00-0500", "America/New_York", "0 1 * * ?", "2012-03-11T01:00:00-0500"),
    ("2012-03-11T01:00:00-0500", "America/New_York", "0 1 * * ?", "2012-03-12T01:00:00-0400"),
    # 2am nightly job (skipped)
    ("2012-03-11T00:00:00-0500", "America/New_York", "0 2 * * ?", "2012-03-12T02:00:00-0400"),
    # Daylight savings time 2am EDT (-4) => 1am EST (-5)
    ("2012-11-04T00:00:00-0400", "America/New_York", "30 2 04 Nov ?", "2012-11-04T02:30:00-0500"),
    ("2012-11-04T01:45:00-0400", "America/New_York", "30 1 04 Nov ?", "2012-11-04T01:30:00-0500"),
    # hourly job
    ("2012-11-04T00:00:00-0400", "America/New_York", "0 * * * ?", "2012-11-04T01:00:00-0400"),
    ("2012-11-04T01:00:00-0400", "America/New_York", "0 * * * ?", "2012-11-04T01:00:00-0500"),
    ("2012-11-04T01:00:00-0500", "America/New_York", "0 * * * ?", "2012-11-04T02:00:00-0500"),
    # 1am nightly job (runs twice)
    ("2012-11-04T00:00:00-0400", "America/New_York", "0 1 * * ?", "2012-11-04T01:00:00-0400"),
    ("2012-11-04T01:00:00-0400", "America/New_York", "0 1 * * ?", "2012-11-04T01:00:00-0500"),
    ("2012-11-04T01:00:00-0500", "America/New_York", "0 1 * * ?", "2012-11-05T01:00:00-0500"),
    # 2am nightly job
    ("2012-11-04T00:00:00-0400", "America/New_York", "0 2 * * ?", "2012-11-04T02:00:00-0500"),
    ("2012-11-04T02:00:00-0500", "America/New_York", "0 2 * * ?", "2012-11-05T02:00:00-0500"),
    # 3am nightly job
    ("2012-11-04T00:00:00-0400", "America/New_York", "0 3 * * ?", "2012-11-04T03:00:00-0500"),
    ("2012-11-04T03:00:00-0500", "America/New_York", "0 3 * * ?", "2012-11-05T03:00:00-0500"),
    # (the same six cases again with the zone on the time instead of the spec: same rows here)
    # Unsatisfiable
    ("Mon Jul 9 23:35 2012", "UTC", "0 0 30 Feb ?", None),
    ("Mon Jul 9 23:35 2012", "UTC", "0 0 31 Apr ?", None),
    # Monthly job
    ("2012-11-04T00:00:00-0400", "America/New_York", "0 3 3 * ?", "2012-12-03T03:00:00-0500"),
    # Test the scenario of DST resulting in midnight not being a valid time (robfig issue #157).
    ("2018-10-17T05:00:00-0400", "America/Sao_Paulo", "0 9 10 * ?", "2018-11-10T06:00:00-0500"),
    ("2018-02-14T05:00:00-0500", "America/Sao_Paulo", "0 9 22 * ?", "2018-02-22T07:00:00-0500"),
    # TestNextWithTz: times with a +0530 offset and a zone-less spec run in that offset.
    ("2016-01-03T13:09:03+0530", "Asia/Kolkata", "14 14 * * *", "2016-01-03T14:14:00+0530"),
    ("2016-01-03T04:09:03+0530", "Asia/Kolkata", "14 14 * * ?", "2016-01-03T14:14:00+0530"),
    ("2016-01-03T14:09:03+0530", "Asia/Kolkata", "14 14 * * *", "2016-01-03T14:14:00+0530"),
    ("2016-01-03T14:00:00+0530", "Asia/Kolkata", "14 14 * * ?", "2016-01-03T14:14:00+0530"),
]

# TestActivation: (time, spec, expected): does Next(time - 1s) == time?
ACTIVATION: list[tuple[str, str, bool]] = [
    # Every fifteen minutes.
    ("Mon Jul 9 15:00 2012", "0/15 * * * *", True),
    ("Mon Jul 9 15:45 2012", "0/15 * * * *", True),
    ("Mon Jul 9 15:40 2012", "0/15 * * * *", False),
    # Every fifteen minutes, starting at 5 minutes.
    ("Mon Jul 9 15:05 2012", "5/15 * * * *", True),
    ("Mon Jul 9 15:20 2012", "5/15 * * * *", True),
    ("Mon Jul 9 15:50 2012", "5/15 * * * *", True),
    # Named months
    ("Sun Jul 15 15:00 2012", "0/15 * * Jul *", True),
    ("Sun Jul 15 15:00 2012", "0/15 * * Jun *", False),
    # Everything set.
    ("Sun Jul 15 08:30 2012", "30 08 ? Jul Sun", True),
    ("Sun Jul 15 08:30 2012", "30 08 15 Jul ?", True),
    ("Mon Jul 16 08:30 2012", "30 08 ? Jul Sun", False),
    ("Mon Jul 16 08:30 2012", "30 08 15 Jul ?", False),
    # Predefined schedules
    ("Mon Jul 9 15:00 2012", "@hourly", True),
    ("Mon Jul 9 15:04 2012", "@hourly", False),
    ("Mon Jul 9 15:00 2012", "@daily", False),
    ("Mon Jul 9 00:00 2012", "@daily", True),
    ("Mon Jul 9 00:00 2012", "@weekly", False),
    ("Sun Jul 8 00:00 2012", "@weekly", True),
    ("Sun Jul 8 01:00 2012", "@weekly", False),
    ("Sun Jul 8 00:00 2012", "@monthly", False),
    ("Sun Jul 1 00:00 2012", "@monthly", True),
    # Test interaction of DOW and DOM. If both are restricted, then only one needs to match.
    ("Sun Jul 15 00:00 2012", "* * 1,15 * Sun", True),
    ("Fri Jun 15 00:00 2012", "* * 1,15 * Sun", True),
    ("Wed Aug 1 00:00 2012", "* * 1,15 * Sun", True),
    ("Sun Jul 15 00:00 2012", "* * */10 * Sun", True),  # verifies robfig #70
    # However, if one has a star, then both need to match.
    ("Sun Jul 15 00:00 2012", "* * * * Mon", False),
    ("Mon Jul 9 00:00 2012", "* * 1,15 * *", False),
    ("Sun Jul 15 00:00 2012", "* * 1,15 * *", True),
    ("Sun Jul 15 00:00 2012", "* * */2 * Sun", True),
]

# parser_test.go TestRange/TestField, mapped onto real fields: (field index, text, values, star bit).
FIELD_BITS: list[tuple[int, str, set[int], bool]] = [
    (0, "5", {5}, False),
    (0, "0", {0}, False),
    (0, "7", {7}, False),
    (0, "5-5", {5}, False),
    (0, "5-6", {5, 6}, False),
    (0, "5-7", {5, 6, 7}, False),
    (0, "5-6/2", {5}, False),
    (0, "5-7/2", {5, 7}, False),
    (0, "5-7/1", {5, 6, 7}, False),
    (3, "*", set(range(1, 13)), True),
    (3, "*/2", {1, 3, 5, 7, 9, 11}, False),
    (4, "5", {5}, False),
    (4, "5,6", {5, 6}, False),
    (2, "5,6,7", {5, 6, 7}, False),
    (2, "1,5-7/2,3", {1, 3, 5, 7}, False),
    # TestAll: '*' is every value plus the star bit.
    (0, "*", set(range(60)), True),
    (1, "*", set(range(24)), True),
    (2, "*", set(range(1, 32)), True),
    (4, "*", set(range(7)), True),
    # TestParseSchedule: minute 5 of every hour.
    (0, "5", {5}, False),
]

# parser_test.go TestRange errors, spec_test.go TestErrors and TestSlash0NoHang, parser_test.go
# TestParseScheduleErrors/TestStandardSpecSchedule: expressions robfig's ParseStandard rejects.
ROBFIG_ERRORS: list[str] = [
    "5--5 * * * *",
    "* * * jan-x *",
    "2-x * * * *",
    "*/-12 * * * *",
    "*//2 * * * *",
    "* * 0 * *",
    "60 * * * *",
    "5-3 * 4-2 * *",
    "*/0 * * * *",
    "xyz",
    "60 0 * * *",
    "0 60 * * *",
    "0 0 * * XYZ",
    "15/0 * * * *",
    "* 5 j * * *",
    "@unrecognized",
    "",
    "* * * *",
    "5 j * * *",
]
