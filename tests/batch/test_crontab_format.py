"""Whether a crontab has a user field, decided from all of its lines (never its path or a list of accounts)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sengu.batch.crontab import CrontabSource, _entries, import_crontabs
from sengu.batch.crontab_format import Entry, decide, read_line
from sengu.core.errors import Location

CRONTABS = Path(__file__).parent / "crontabs"


def verdict(text: str) -> bool | None:
    return decide("f", list(_entries(text))).system


@pytest.mark.parametrize(
    ("after_schedule", "reading"),
    [
        ("root cd / && run-parts --report /etc/cron.hourly", "system"),
        ("root updatedb", "system"),
        ("munin if [ -x /usr/bin/munin-cron ]; then /usr/bin/munin-cron; fi", "system"),
        ("www-data cgitmpdir=$({ cat /etc/munin/munin.conf; } | tail -1); find", "system"),
        ("Debian-exim [ -x /usr/share/sa-exim/greylistclean ] && x", "system"),
        ("amavis\ttest -e /usr/sbin/amavisd-new-cronjob && x", "system"),
        ("www-data php /usr/share/cacti/site/poller.php", "system"),
        ("postgres /usr/bin/vacuumdb --all", "system"),
        ("/usr/local/bin/backup.sh --full", "user"),
        ("$HOME/bin/daily.job >> $HOME/tmp/out 2>&1", "user"),
        ("backup.sh", "user"),
        ("rotate", "user"),
        ("backup --full /srv", "user"),
        ('mail -s "It\'s 10pm" joe%Joe,%', "user"),
        ('echo "run at 5 after 4 every sunday"', "user"),
        ("expr $(date +\\%s) / 60 / 60 / 24 \\% 9 > /dev/null || echo Wax the floor.", "user"),
        ("php /var/www/artisan schedule:run", "user"),
        ("if [ -x /x ]; then /x; fi", "user"),
        ("[ -f /run/pause ] || /opt/x", "user"),
        ("deploy rotate-logs", "either"),
        ("postgres vacuumdb", "system"),  # vacuumdb is a well-known program: it starts the command
        ("app run", "either"),
        ("john.doe /usr/local/bin/report", "either"),
        ("app.backup /srv/data", "either"),
        ("backup.sh /srv/data", "user"),
        ("app.backup nightly", "user"),
        # A path after a plausible name reads as a program only when it names one; an argument can't decide.
        ("backup /srv/data", "either"),
        ("ansible-playbook /etc/ansible/site.yml", "either"),
        ("Rscript /home/me/report.R", "either"),
        ("backup /var/lib/mysql", "either"),
        ("deploy /home/deploy/app/bin/run", "system"),
        ("www-data /var/www/app/cron.php", "system"),
        ("uucp /usr/lib/uucp/uudemon.hr", "system"),
        # Programs that are also accounts decide nothing by their name (Gitea and GitLab run as git).
        ("git /usr/local/bin/gitea-mirror-sync", "system"),
        ("git cd /home/git && ./bin/backup.sh", "system"),
        ("git pull", "either"),
        ("docker /usr/local/bin/prune.sh", "system"),
        ("git -C /srv/repo pull", "user"),
    ],
)
def test_what_the_word_after_the_schedule_can_be(after_schedule: str, reading: str) -> None:
    assert read_line(Entry(1, after_schedule)).reading == reading


def test_user_lines_and_system_lines_in_one_file_cannot_be_decided() -> None:
    result = decide("f", [Entry(3, "root cd / && x"), Entry(7, "/usr/bin/y")])
    assert result.system is None and result.problem is not None
    assert result.problem.location == Location("f", 7)
    assert "line 3 reads as user 'root' running 'cd / && x'" in result.problem.message


def test_lines_that_read_either_way_say_so_at_the_first_one() -> None:
    result = decide("f", [Entry(2, "deploy rotate"), Entry(5, "deploy purge")])
    assert result.system is None and result.problem is not None
    assert str(result.problem).startswith("f:2: cannot tell whether 'deploy' is the user this job ran as")
    assert "--system" in result.problem.message and "--user" in result.problem.message


def test_plain_words_follow_the_lines_that_decide() -> None:
    assert verdict("0 0 * * * root /usr/sbin/x\n0 1 * * * deploy rotate\n") is True
    assert verdict("0 0 * * * /usr/sbin/x\n0 1 * * * deploy rotate\n") is False


def test_env_lines_comments_and_bad_schedules_are_not_job_lines() -> None:
    text = "MAILTO=root\nPATH = /bin\n# 0 0 * * * root x\n61 0 * * * root x\n@fortnightly root x\n"
    assert list(_entries(text)) == []
    assert verdict(text) is False  # no job lines: nothing to read a user field from


def test_macros_are_read_like_five_fields() -> None:
    assert verdict("@reboot logcheck if [ -x /usr/sbin/logcheck ]; then x; fi\n") is True
    assert verdict("@daily /usr/local/bin/x\n") is False


@pytest.mark.parametrize("path", sorted((CRONTABS / "debian" / "system").iterdir()), ids=lambda p: p.name)
def test_every_debian_system_crontab_reads_as_system(path: Path) -> None:
    assert verdict(path.read_text()) is True


@pytest.mark.parametrize(
    "path",
    [
        *sorted((CRONTABS / "debian" / "user").iterdir()),
        *sorted((CRONTABS / "user").glob("*.crontab")),
        CRONTABS / "deploy.crontab",
    ],
    ids=lambda p: p.name,
)
def test_user_crontabs_read_as_user(path: Path) -> None:
    assert verdict(path.read_text()) is False


def test_the_fixture_system_crontab_reads_as_system() -> None:
    assert verdict((CRONTABS / "etc" / "cron.d" / "app-maintenance").read_text()) is True


WORD = st.one_of(
    st.sampled_from(["root", "www-data", "if", "[", "/usr/bin/x", "$HOME/x", "php", "-q", "a=b", "x.sh", "", "é"]),
    st.text(max_size=12),
)
LINE = st.one_of(
    st.tuples(st.sampled_from(["0 0 * * *", "*/5 * * * *", "@daily", "@reboot", "61 * * * *"]), WORD, WORD, WORD).map(
        " ".join
    ),
    st.sampled_from(["", "# c", "MAILTO=root", "SHELL=/bin/bash"]),
    st.text(max_size=40),
)


@settings(max_examples=400, deadline=None)
@given(lines=st.lists(LINE, max_size=12))
def test_deciding_never_raises_and_an_undecided_file_is_one_located_error(lines: list[str]) -> None:
    text = "\n".join(lines)
    result = decide("f", list(_entries(text)))
    if result.system is None:
        assert result.problem is not None and result.problem.location is not None
        assert result.problem.location.file == "f" and result.problem.location.line is not None
        assert "--system" in result.problem.message and "--user" in result.problem.message
        imported = import_crontabs([CrontabSource("f", text)])
        assert imported.errors == [result.problem] and imported.document == {}
    else:
        assert result.problem is None


def test_program_arguments_alone_leave_a_user_crontab_undecided() -> None:
    # Before: `ansible-playbook` was taken for a user and dropped from the command, exit 0.
    lines = ["ansible-playbook /etc/ansible/site.yml", "Rscript /home/me/report.R", "duplicity /home/me file:///x"]
    result = decide("u", [Entry(i + 1, text) for i, text in enumerate(lines)])
    assert result.system is None and result.problem is not None and "--user" in result.problem.message
