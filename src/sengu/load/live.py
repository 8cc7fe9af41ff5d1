"""The live display of `sengu load run`: what the last second did, refreshed about once a second.

On a terminal it is a Rich live panel (offered vs achieved rate, p50/p99/max, errors, send lag, a
sparkline of p99); anywhere else (CI logs, a pipe) it prints one plain line per second, so a log keeps
the whole run readable. The engine's progress callback calls ``update`` with the second just finished
and running totals.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from sengu.load.numbers import fmt_ms, fmt_num, fmt_pct, fmt_rate
from sengu.load.result import CLOSED_LABEL, OPEN_LABEL, Mode, Second

if TYPE_CHECKING:
    from rich.console import Console, RenderableType
    from rich.live import Live


# The keys of `totals` the display reads; every one is optional.
TOTALS_KEYS = {
    "requests": "requests completed so far (int)",
    "errors": "errors so far (int)",
    "overflow": "due requests dropped so far because the backlog was full (int)",
    "send_lag_p99_ms": "p99 send lag of the last second, or so far (float, ms)",
    "elapsed_s": "seconds measured so far (float)",
    "duration_s": "seconds planned (float)",
    "offered_rate": "the rate asked for right now — it moves during a ramp (float, req/s)",
    "in_flight": "requests written and not yet answered, at this moment (int)",
    "backlog": "due requests waiting for a free connection, at this moment (int)",
}

_BARS = "▁▂▃▄▅▆▇█"


def sparkline(values: list[float]) -> str:
    """One block character per value, scaled to the largest (a flat line of lows when all are 0)."""
    top = max(values, default=0.0)
    if top <= 0:
        return _BARS[0] * len(values)
    return "".join(_BARS[min(len(_BARS) - 1, int(v / top * (len(_BARS) - 1) + 0.5))] for v in values)


class LiveDisplay:
    """``with LiveDisplay(mode=..., target=...) as live: ... live.update(second, totals)``."""

    def __init__(
        self,
        *,
        mode: Mode = "open",
        target: str = "",
        console: Console | None = None,
        history: int = 60,
        heading: str = "",
    ) -> None:
        if console is None:
            from rich.console import Console

            console = Console(stderr=True)
        self.console = console
        self.mode: Mode = mode
        self.target = target
        self.heading = heading  # e.g. which step of `sengu load step` this is
        self._p99: deque[float] = deque(maxlen=history)
        self._live: Live | None = None
        self._last: tuple[Second, Mapping[str, Any]] | None = None

    @property
    def interactive(self) -> bool:
        return self.console.is_terminal

    def __enter__(self) -> Self:
        if self.interactive:
            from rich.live import Live

            self._live = Live(self._render(), console=self.console, refresh_per_second=4, transient=False)
            self._live.__enter__()
        else:
            self._plain(f"sengu load: {self.heading or self._label()}" + (f" → {self.target}" if self.target else ""))
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._live is not None:
            self._live.__exit__(exc_type, exc, tb)
            self._live = None

    def update(self, second: Second, totals: Mapping[str, Any]) -> None:
        """Show the second just measured; ``totals`` has the keys in TOTALS_KEYS (all optional)."""
        self._p99.append(second.p99_ms or 0.0)  # the sparkline's floor stands for "no answer" too
        self._last = (second, totals)
        if self._live is not None:
            self._live.update(self._render(), refresh=True)
        elif not self.interactive:
            self._plain(self.line(second, totals))

    def _label(self) -> str:
        return CLOSED_LABEL if self.mode == "closed" else OPEN_LABEL

    def _plain(self, text: str) -> None:
        # No markup or highlighting: a target URL with [brackets] must print as it is.
        self.console.print(text, markup=False, highlight=False, soft_wrap=True)

    @staticmethod
    def _ms(second: Second, value: float | None) -> str:
        # A second with no answer has no latency: "-", not 0 ms.
        return fmt_ms(None if second.answered == 0 and not second.max_ms else value)

    def line(self, second: Second, totals: Mapping[str, Any]) -> str:
        """The plain one-line form of a second."""
        sent = "sent" if self.mode == "closed" else "offered"
        parts = [
            f"{second.t:>4}s",
            f"{sent} {fmt_rate(second.offered)}",
            f"achieved {fmt_rate(second.answered)}",
            f"p50 {self._ms(second, second.p50_ms)}",
            f"p99 {self._ms(second, second.p99_ms)}",
            f"max {self._ms(second, second.max_ms)}",
            f"errors {fmt_num(second.errors)}",
        ]
        if "errors" in totals:
            parts[-1] += f" (total {fmt_num(totals['errors'])}{self._share(totals)})"
        if self.mode == "open" and "send_lag_p99_ms" in totals:
            parts.append(f"send lag p99 {fmt_ms(float(totals['send_lag_p99_ms']))}")
        if totals.get("backlog"):
            parts.append(f"backlog {fmt_num(totals['backlog'])}")
        if totals.get("overflow"):
            parts.append(f"overflow {fmt_num(totals['overflow'])}")
        return "  ".join(parts)

    @staticmethod
    def _share(totals: Mapping[str, Any]) -> str:
        requests = totals.get("requests") or 0
        return f", {fmt_pct(totals['errors'] / requests)}" if requests else ""

    def _render(self) -> RenderableType:
        from rich.table import Table
        from rich.text import Text

        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="bold", no_wrap=True)
        grid.add_column()
        title = Text(f"sengu load — {self.heading or self._label()}", style="bold")
        if self.target:
            title.append(f"\n{self.target}", style="dim")
        grid.add_row(Text(""), title)
        if self._last is None:
            grid.add_row("", Text("starting…", style="dim"))
            return grid
        second, totals = self._last
        progress = f"{second.t + 1}s"
        if "elapsed_s" in totals and totals.get("duration_s"):
            progress = f"{fmt_num(round(float(totals['elapsed_s'])))}s / {fmt_num(float(totals['duration_s']))}s"
        grid.add_row("time", progress)
        sent = "sent" if self.mode == "closed" else "offered"
        short = self.mode == "open" and second.answered < 0.99 * second.offered
        rate = Text(f"{sent} {fmt_rate(second.offered)}   ")
        rate.append(f"achieved {fmt_rate(second.answered)}", style="bold red" if short else "")
        if self.mode == "open" and totals.get("offered_rate"):
            rate.append(f"   (target {fmt_rate(float(totals['offered_rate']))})", style="dim")
        grid.add_row("rate", rate)
        grid.add_row(
            "latency",
            f"p50 {self._ms(second, second.p50_ms)}   p99 {self._ms(second, second.p99_ms)}   "
            f"max {self._ms(second, second.max_ms)}",
        )
        grid.add_row(f"p99, last {len(self._p99)}s", Text(sparkline(list(self._p99)), style="cyan"))
        errors = Text(f"{fmt_num(second.errors)} this second", style="bold red" if second.errors else "")
        if "errors" in totals:
            errors.append(f"   total {fmt_num(totals['errors'])}{self._share(totals)}")
        grid.add_row("errors", errors)
        if self.mode == "open" and "send_lag_p99_ms" in totals:
            grid.add_row("send lag", f"p99 {fmt_ms(float(totals['send_lag_p99_ms']))}")
        if "in_flight" in totals or "backlog" in totals:
            backlog = int(totals.get("backlog") or 0)
            queue = Text(f"{fmt_num(int(totals.get('in_flight') or 0))} in flight   ")
            # A backlog that stays up means the connections cannot carry the offered rate.
            queue.append(f"backlog {fmt_num(backlog)}", style="bold yellow" if backlog else "")
            grid.add_row("queue", queue)
        if totals.get("overflow"):
            grid.add_row("overflow", Text(f"{fmt_num(totals['overflow'])} requests dropped", style="bold red"))
        return grid
