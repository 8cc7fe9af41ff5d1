"""core/forked.py: the result comes from a real child process, and what the caller sees never depends on the fork."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sengu.core.forked import Forked


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
