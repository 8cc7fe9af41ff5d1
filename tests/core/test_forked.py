"""core/forked.py: the result comes from a real child process, and what the caller sees never depends on the fork."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from sengu.core.forked import Forked, ForkedOutput


def pid_and_square(n: int) -> tuple[int, int]:
    return os.getpid(), n * n


def test_the_result_is_computed_in_a_child_while_the_caller_goes_on() -> None:
    job = Forked(pid_and_square, 12)
    here = sum(range(1000))  # the caller's own work meanwhile
    pid, value = job.result()
    assert (value, here) == (144, 499500)
    assert pid != os.getpid()


def test_an_exception_in_the_child_is_raised_here(tmp_path: Path) -> None:
    calls = tmp_path / "calls"

    def fails() -> int:
        with calls.open("a") as f:
            f.write(f"{os.getpid()}\n")
        raise ValueError("bad input")

    job = Forked(fails)
    with pytest.raises(ValueError, match="bad input"):
        job.result()
    pids = calls.read_text().split()
    assert len(pids) == 2 and pids[1] == str(os.getpid()) != pids[0]  # the child, then here


def test_a_child_that_dies_is_replaced_by_computing_here() -> None:
    def dies() -> tuple[int, str]:
        if os.getpid() != parent:
            os._exit(9)  # as if killed
        return os.getpid(), "here"

    parent = os.getpid()
    assert Forked(dies).result() == (parent, "here")


def test_a_result_larger_than_a_pipe_buffer_arrives_whole() -> None:
    big = Forked(lambda: ["x" * 1000] * 5000).result()
    assert big == ["x" * 1000] * 5000


def test_the_child_prints_nothing_and_leaves_no_zombie(capfd: pytest.CaptureFixture[str]) -> None:
    print("before", end="", flush=False)  # unflushed in the parent's buffer at fork time
    job = Forked(pid_and_square, 3)
    pid, _ = job.result()
    out, _ = capfd.readouterr()
    assert out == "before"  # written once, by the parent; the child exits without flushing it
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


# --- ForkedOutput: the child writes its own text to the real stdout, after the caller's -----------------------
WRITER = """
import os, sys
from sengu.core.forked import ForkedOutput

parent = os.getpid()

def text(n: int) -> str | None:
    if n == 0 and os.getpid() != parent:
        raise RuntimeError("fails in the child only")
    if n == 9 and os.getpid() != parent:
        os._exit(9)  # as if killed
    return None if n < 0 else f"text of {'the child' if os.getpid() != parent else 'the parent'}: {n}\\n" * 2000

print("before", end="")  # unflushed at fork time: written once
job = ForkedOutput(text, int(sys.argv[1]))
print(" and the caller's half")
if job.ready():
    print("---")
    job.write()
else:
    job.discard()
    print("no text")
print("after", file=sys.stderr)
"""


def run_writer(arg: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", WRITER, str(arg)], capture_output=True, text=True, timeout=60)


def test_the_child_writes_its_text_after_the_callers() -> None:
    done = run_writer(7)
    assert (done.returncode, done.stderr) == (0, "after\n")
    assert done.stdout == "before and the caller's half\n---\n" + "text of the child: 7\n" * 2000


def test_no_text_writes_nothing() -> None:
    done = run_writer(-1)
    assert (done.returncode, done.stdout, done.stderr) == (0, "before and the caller's half\nno text\n", "after\n")


@pytest.mark.parametrize("arg", [0, 9], ids=["an exception in the child", "a child that dies"])
def test_a_failed_child_is_replaced_by_computing_and_writing_here(arg: int) -> None:
    done = run_writer(arg)
    assert (done.returncode, done.stderr) == (0, "after\n")
    assert done.stdout == "before and the caller's half\n---\n" + f"text of the parent: {arg}\n" * 2000


def test_with_a_captured_stdout_all_is_done_here(capsys: pytest.CaptureFixture[str]) -> None:
    job = ForkedOutput(lambda: f"{os.getpid()}\n")
    assert job.ready()
    job.write()
    assert capsys.readouterr().out == f"{os.getpid()}\n"
