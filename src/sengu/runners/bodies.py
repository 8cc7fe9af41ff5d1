"""Webhook bodies read under one memory budget shared by every request at once.

A body is judged only at its end (its signature covers all of it), so a body being read must be held; a
made-up signature costs an attacker nothing. What bounds memory is therefore the total held, not each body:
bodies up to LARGE_BODY (a real workflow_job is ~10 KB) share SMALL_BUDGET; one body at a time may grow past
that, up to MAX_PAYLOAD. A request that finds the small budget taken is answered 503 at once instead of
waiting while it holds bytes: waiting holders could otherwise add up, or wait on each other for ever."""

from __future__ import annotations

import asyncio

from starlette.requests import Request

from sengu.runners.webhook import MAX_PAYLOAD

LARGE_BODY = 1024 * 1024
# 16 MB: 1,600 ordinary deliveries read at once; with the one large body, ~41 MB held at most.
SMALL_BUDGET = 16 * 1024 * 1024


class Busy(Exception):
    """The shared budget is taken: the sender should retry."""


class BodyBudget:
    def __init__(self, small: int = SMALL_BUDGET) -> None:
        self.small = small
        self.small_held = 0
        self.large = asyncio.Semaphore(1)


class HeldBody:
    """One request's share of the budget: taken as its body is read, given back by `release` once the
    request is answered (the body is still held while it is checked, parsed and stored)."""

    def __init__(self, budget: BodyBudget) -> None:
        self._budget = budget
        self._small = 0
        self._large = False

    async def read(self, request: Request, *, keep: bool) -> bytearray | None:
        """The body (not copied again: a bytearray), or None as soon as it passes MAX_PAYLOAD (a chunked
        body has no length to check first). With `keep` false the bytes are counted and dropped. Raises
        Busy when the small budget is taken."""
        kept = bytearray()
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > MAX_PAYLOAD:
                return None
            if not keep:
                continue
            if not self._large:
                if size > LARGE_BODY:
                    # Bytes past LARGE_BODY wait for the one large slot; what this request holds meanwhile
                    # (at most LARGE_BODY) stays counted in the small budget, so waiters are bounded too.
                    await self._budget.large.acquire()
                    self._large = True
                    self._give_small()
                elif self._budget.small_held + len(chunk) > self._budget.small:
                    raise Busy
                else:
                    self._budget.small_held += len(chunk)
                    self._small += len(chunk)
            kept += chunk
        return kept

    def _give_small(self) -> None:
        self._budget.small_held -= self._small
        self._small = 0

    def release(self) -> None:
        self._give_small()
        if self._large:
            self._large = False
            self._budget.large.release()
