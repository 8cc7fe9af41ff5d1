"""Typed errors. User errors carry a location, print one line each and exit 2; failures exit 1."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Location:
    """Where a problem is: a file, and a 1-based line and column when known."""

    file: str
    line: int | None = None
    col: int | None = None

    def __str__(self) -> str:
        if self.line is None:
            return self.file
        if self.col is None:
            return f"{self.file}:{self.line}"
        return f"{self.file}:{self.line}:{self.col}"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the user's input, and where it is."""

    message: str
    location: Location | None = None

    def __str__(self) -> str:
        return f"{self.location}: {self.message}" if self.location else self.message


class UserError(Exception):
    """The user can fix this: bad input, unknown name, missing file. Exit code 2."""

    exit_code = 2

    def __init__(self, problems: str | Problem | Iterable[Problem], location: Location | None = None):
        if isinstance(problems, str):
            items = [Problem(problems, location)]
        elif isinstance(problems, Problem):
            items = [problems]
        else:
            items = list(problems)
        if not items:
            raise ValueError("UserError needs at least one problem")
        self.problems: list[Problem] = items
        super().__init__("\n".join(str(p) for p in items))

    def lines(self) -> list[str]:
        return [str(p) for p in self.problems]


class Failure(Exception):
    """Something went wrong that is not the user's input: a job failed, a service is down. Exit 1."""

    exit_code = 1

    def __init__(self, message: str, exit_code: int = 1):
        super().__init__(message)
        self.exit_code = exit_code
