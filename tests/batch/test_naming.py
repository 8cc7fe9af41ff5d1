"""Job names from cron commands: the program a command runs, taken from real Debian cron.d commands."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sengu.batch.crontab import is_valid_job_name
from sengu.batch.naming import command_name, comment_name, fit

# The commands of tests/batch/crontabs/debian/system (package in the comment), as cron hands them to sh.
DEBIAN = [
    # munin
    ("if [ -x /usr/bin/munin-cron ]; then /usr/bin/munin-cron; fi", "munin-cron"),
    (
        "if [ -x /usr/share/munin/munin-limits ]; then /usr/share/munin/munin-limits --force --contact nagios "
        "--contact old-nagios; fi",
        "munin-limits-force-contact",
    ),
    (
        "htmldir=$({ cat /etc/munin/munin.conf /etc/munin/munin-conf.d/* 2>/dev/null || true; } | sed -nE "
        "'s/^\\s*htmldir\\s+(\\S.*)$/\\1/p' | tail -1); htmldir=${htmldir:-/var/cache/munin/www}; if [ -d "
        '"$htmldir" ]; then find "$htmldir/" -type f -name "*.html" -mtime +30 -delete; fi',
        "find",
    ),
    # munin-node
    (
        "if [ -x /etc/munin/plugins/apt_all ]; then /etc/munin/plugins/apt_all update 7200 12 >/dev/null; "
        "elif [ -x /etc/munin/plugins/apt ]; then /etc/munin/plugins/apt update 7200 12 >/dev/null; fi",
        "munin-apt-all-update",
    ),
    # cron: /etc/crontab
    ("cd / && run-parts --report /etc/cron.hourly", "cron-hourly"),
    ("test -x /usr/sbin/anacron || { cd / && run-parts --report /etc/cron.daily; }", "cron-daily"),
    # certbot: the random sleep is inline perl, not the job
    (
        "test -x /usr/bin/certbot -a \\! -d /run/systemd/system && perl -e 'sleep int(rand(43200))' && "
        "certbot -q renew --no-random-sleep-on-renew",
        "certbot",
    ),
    # amavisd-new
    ("test -e /usr/sbin/amavisd-new-cronjob && /usr/sbin/amavisd-new-cronjob sa-sync", "amavisd-new-cronjob-sa-sync"),
    # anacron
    (
        "[ -x /etc/init.d/anacron ] && if [ ! -d /run/systemd/system ]; then /usr/sbin/invoke-rc.d anacron "
        "start >/dev/null; fi",
        "invoke-rc-d-anacron-start",
    ),
    # awstats: a generic script name keeps its package
    ("[ -x /usr/share/awstats/tools/update.sh ] && /usr/share/awstats/tools/update.sh", "awstats-update"),
    # cacti: php runs the script
    (
        "php /usr/share/cacti/site/poller.php 2>&1 >/dev/null | if [ -f /usr/bin/ts ] ; then ts ; else tee ; fi "
        ">> /var/log/cacti/poller-error.log",
        "cacti-poller",
    ),
    # clamav-unofficial-sigs
    ("[ -x /usr/sbin/clamav-unofficial-sigs ] && /usr/sbin/clamav-unofficial-sigs", "clamav-unofficial-sigs"),
    # dma
    ("[ -x /usr/sbin/dma ] && /usr/sbin/dma -q", "dma"),
    # e2fsprogs: an environment assignment, a multiarch directory
    (
        "test -e /run/systemd/system || SERVICE_MODE=1 /usr/lib/x86_64-linux-gnu/e2fsprogs/e2scrub_all_cron",
        "e2fsprogs-e2scrub-all-cron",
    ),
    ("test -e /run/systemd/system || SERVICE_MODE=1 /sbin/e2scrub_all -A -r", "e2scrub-all"),
    # logcheck: nice with an attached value
    ("if [ -x /usr/sbin/logcheck ]; then nice -n10 /usr/sbin/logcheck; fi", "logcheck"),
    # mailman3
    ("if [ -x /usr/bin/mailman ]; then /usr/bin/mailman digests --periodic; fi", "mailman-digests-periodic"),
    # mdadm: `$(date +%d)` in a test
    (
        "if [ -x /usr/share/mdadm/checkarray ] && [ $(date +%d) -le 7 ]; then /usr/share/mdadm/checkarray "
        "--cron --all --idle --quiet; fi",
        "mdadm-checkarray-cron-all",
    ),
    # ntpsec
    (
        "if [ ! -d /run/systemd/system ] && [ -x /usr/libexec/ntpsec/rotate-stats ] ; then "
        "/usr/libexec/ntpsec/rotate-stats ; fi",
        "ntpsec-rotate-stats",
    ),
    # php-common
    (
        "[ -x /usr/lib/php/sessionclean ] && if [ ! -d /run/systemd/system ]; then /usr/lib/php/sessionclean; fi",
        "php-sessionclean",
    ),
    # roundcube-core
    ("test -d /run/systemd/system || /usr/share/roundcube/bin/cleandb.sh >/dev/null", "roundcube-cleandb"),
    # sa-exim
    ("[ -x /usr/share/sa-exim/greylistclean ] && /usr/share/sa-exim/greylistclean", "sa-exim-greylistclean"),
    # sysstat: `command -v` is a check
    ("command -v debian-sa1 > /dev/null && debian-sa1 1 1", "debian-sa1"),
    # tiger: a group, `.` and nice with a variable
    (
        'test -x /usr/sbin/tigercron && { [ -r "$DEFAULT" ] && . "$DEFAULT" ; nice -n$NICETIGER '
        "/usr/sbin/tigercron -q ; }",
        "tigercron",
    ),
    # popularity-contest
    (
        "test -x /etc/cron.daily/popularity-contest && /etc/cron.daily/popularity-contest --crond",
        "popularity-contest-crond",
    ),
]

OTHERS = [
    ('for f in /srv/in/*; do /usr/local/bin/ingest "$f"; done', "ingest"),
    ('while read -r x; do process-one "$x"; done < /srv/queue', "process-one"),
    ("! pgrep -x worker >/dev/null && /usr/local/bin/worker", "worker"),
    ("sh -c 'cd /app && exec ./bin/sync --all'", "sync-all"),
    ("bash /opt/jobs/nightly.sh", "jobs-nightly"),
    ("perl -w /usr/local/bin/rotate.pl weekly", "rotate-weekly"),
    ("python3 -u -W ignore /srv/app/manage.py clearsessions", "manage-clearsessions"),
    ("php -d memory_limit=1G /var/www/artisan queue:work", "artisan-queue-work"),
    ("timeout 300 flock -n /tmp/lock /usr/local/bin/export-feed", "export-feed"),
    ("ionice -c3 nice -n 19 /usr/local/bin/reindex", "reindex"),
    ("su - www-data -s /bin/sh -c '/usr/local/bin/warm-cache'", "warm-cache"),
    ("flock -n /tmp/l /usr/bin/tar -czf /backup/x.tgz /srv", "tar"),
    ("flock -w 10 /tmp/l -c 'nice /usr/local/bin/export'", "export"),
    ("python3 -c 'import app; app.run()'", "python3"),
    ("echo done", "echo-done"),
    ("run-parts /etc/cron.hourly", "cron-hourly"),
    ("run-parts", "run-parts"),
    ("if true; then :; fi", "true"),
    ("A=1 B=2", ""),
    ("fi", ""),
]


@pytest.mark.parametrize(("command", "name"), DEBIAN + OTHERS)
def test_a_job_is_named_after_the_program_it_runs(command: str, name: str) -> None:
    assert command_name(command) == name


@pytest.mark.parametrize(
    ("comment", "lines", "name"),
    [
        ("Nightly DB backup!", 1, "nightly-db-backup"),
        ("Generate static reports:", 1, "generate-static-reports"),
        ("hack (see #380425).", 3, ""),  # mdadm: the last line of a paragraph
        ("At 8AM, send out notifices of pending requests to list moderators", 1, ""),  # mailman3: prose
        ("m h dom mon dow user  command", 1, ""),
        ("MAILTO=root", 1, ""),
        ("0 5 * * * old-job", 1, ""),
        ("", 1, ""),
        (None, 0, ""),
    ],
)
def test_only_a_short_comment_of_its_own_is_a_name(comment: str | None, lines: int, name: str) -> None:
    assert comment_name(comment, block_lines=lines) == name


@settings(max_examples=300, deadline=None)
@given(command=st.text(max_size=80), suffix=st.sampled_from(["", "-2", "-13"]))
def test_names_are_slugs_that_fit_and_naming_never_raises(command: str, suffix: str) -> None:
    name = command_name(command)
    assert name == "" or is_valid_job_name(fit(name, suffix)), name
