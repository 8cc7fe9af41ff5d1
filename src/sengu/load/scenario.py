"""Access logs → a LoadScenario, and a scenario → the concrete requests the engine sends.

`build_scenario` reads every line once. Per line: one regex match, one dict lookup of the request target
(the template of a target is worked out once, then cached), and a few counter increments. Raw latency and
time strings are counted as they are and converted once per distinct value at the end. Placeholder values
are sampled with Algorithm L (Li, 1994): a reservoir of `samples` rows per template, uniform over all the
requests of that template, drawing a random number only when a row is replaced — O(k log(n/k)) draws, so
hot templates cost nothing extra. Sampling is deterministic for a seed and the same input.

Words that are values (`/users/rin-abe`, `/tags/python`) look like routes one at a time; when one place of
one template shape holds SLUG_MIN different words, they are merged into `{slug}` — while reading too, every
COMPACT_AT new templates, so a log with 200,000 user names keeps a few groups, not 200,000.
"""

from __future__ import annotations

import itertools
import math
import random
import re
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import yaml

from sengu.core.errors import Location, UserError
from sengu.load import logs
from sengu.load.logs import FileReport, LogFormat, ParseReport
from sengu.load.spec import (
    Endpoint,
    LatencySummary,
    LoadScenario,
    LoadScenarioSpec,
    Metadata,
    Rate,
    Source,
    SourceFile,
    to_data,
)
from sengu.load.templates import PLACEHOLDER, placeholders, template, unique_name

DEFAULT_METHODS = ("GET", "HEAD")
SAMPLES = 100
MAX_ENDPOINTS = 500
# Distinct templates tracked while reading, and distinct targets remembered per method: bounds on memory
# when a log has a path component the templating does not recognise as a value (slugs, free text).
MAX_TEMPLATES = 50_000
TARGET_CACHE = 100_000
# Distinct templates at which words that are values are merged while reading (then again at twice as many).
COMPACT_AT = 10_000
MAX_BUCKETS = 1440
BUCKETS = (1, 10, 60, 300, 900, 3600, 21600, 86400)
TOP_HOSTS = 10
# Distinct words at one place of one template shape (`/users/rin`, `/users/aoi`, … → `/users/{slug}`) from
# which they count as values rather than routes. Never the first segment: `/about`, `/healthz`, `/archive`
# are routes, however many there are.
SLUG_MIN = 20


class _Group:
    """The requests of one method + template while reading."""

    __slots__ = ("count", "latency", "method", "next", "rows", "seen", "statuses", "template", "w")

    def __init__(self, method: str, template_: str) -> None:
        self.method = method
        self.template = template_
        self.count = 0
        self.statuses: defaultdict[str, int] = defaultdict(int)
        self.latency: defaultdict[str, int] = defaultdict(int)  # raw logged latency → requests
        self.rows: list[tuple[str, ...]] = []
        self.seen = 0  # requests with values offered to the reservoir
        self.next = 0  # the request (by `seen`) that next replaces a row
        self.w = 1.0


Entry = tuple[_Group | None, tuple[str, ...]]


class _Builder:
    def __init__(self, methods: frozenset[str] | None, *, seed: int, samples: int) -> None:
        self.methods = methods  # None: every method
        self.rng = random.Random(seed)
        self.k = samples
        self.groups: dict[tuple[str, str], _Group] = {}
        self.caches: dict[str, dict[str, Entry]] = {m: {} for m in methods or ()}
        self.overflow = _Group("", "")  # requests of templates past MAX_TEMPLATES
        self.times: defaultdict[str, int] = defaultdict(int)  # raw logged time → requests
        self.hosts: defaultdict[str, int] = defaultdict(int)
        # Words merged into `{slug}` while reading (see _compact), and where new words of those shapes go.
        self.routes: dict[Shape, tuple[_Group, int]] = {}
        self.notes: list[str] = []
        self.compact_at = COMPACT_AT
        self.escaped = True  # the file being read logs nginx's escapes (LogFormat.escaped)

    def _entry(self, method: str, target: str, cache: dict[str, Entry]) -> Entry:
        if len(cache) >= TARGET_CACHE:
            cache.clear()
        # nginx's escapes back to what the client sent (/caf\xC3\xA9 → /café), once per distinct target.
        found = template((logs.unescape(target) if self.escaped else target) or "/")
        if found is None:
            entry: Entry = (None, ())
        else:
            tpl, values = found
            entry = self._group(method or "GET", tpl, values)
        cache[target] = entry
        return entry

    def _group(self, method: str, tpl: str, values: tuple[str, ...]) -> Entry:
        group = self.groups.get((method, tpl))
        if group is not None:
            return group, values
        if self.routes and (routed := self._route(method, tpl, values)) is not None:
            return routed
        if len(self.groups) >= self.compact_at:
            self._compact()
            if (routed := self._route(method, tpl, values)) is not None:
                return routed
        if len(self.groups) >= MAX_TEMPLATES:
            return self.overflow, ()
        group = self.groups[(method, tpl)] = _Group(method, tpl)
        return group, values

    def _route(self, method: str, tpl: str, values: tuple[str, ...]) -> Entry | None:
        """The merged group a new template belongs to (`/users/aoi` → `/users/{slug}`), if any."""
        path, q, query = tpl.partition("?")
        segs = path.split("/")
        for i in range(2, len(segs)):
            if segs[i] and "{" not in segs[i]:
                hit = self.routes.get((method, tuple(segs[:i]), tuple(segs[i + 1 :]), q + query))
                if hit is not None:
                    group, at = hit
                    return group, (*values[:at], segs[i], *values[at:])
        return None

    def _compact(self) -> None:
        """Merge words that are values now, so a log with many (user names, tags) stays within bounds."""
        done = _merge_words(list(self.groups.values()), self.rng, self.k)
        self.compact_at = max(COMPACT_AT, 2 * len(done.groups))
        if not done.notes:
            return
        self.notes.extend(done.notes)
        self.routes = {s: r for s, r in self.routes.items() if id(r[0]) not in done.gone} | done.routes
        self.groups = {(g.method, g.template): g for g in done.groups}
        for g, _at in done.routes.values():
            if len(g.rows) == self.k:
                # Resume Algorithm L where a reservoir that had seen g.seen requests would be.
                g.w = self.k / g.seen
                g.next = g.seen
                self._skip(g)
        # Cached entries point at groups that are gone; the caches are cleared in place because the
        # reading loop holds them.
        for cache in self.caches.values():
            cache.clear()

    def _skip(self, g: _Group) -> None:
        """Algorithm L: the next request to take a row, once the reservoir is full."""
        rand = self.rng.random
        g.w *= math.exp(math.log(rand() or 1e-300) / self.k)
        denom = math.log1p(-g.w) if g.w < 1.0 else -1e-300
        g.next += int(math.log(rand() or 1e-300) / denom) + 1

    def feed(self, path: str, fmt: LogFormat, report: FileReport) -> None:
        """Read one file into the aggregates. Raises UserError when nothing in it parses."""
        match = fmt.pattern.match
        idx = fmt.indices
        caches = self.caches
        if fmt.escaped != self.escaped:  # the same logged text means other bytes now: targets cached are stale
            self.escaped = fmt.escaped
            for stale in caches.values():
                stale.clear()
        every_method = self.methods is None
        if not fmt.logs_method:
            caches[""] = caches.setdefault("GET", {})
        skipped = report.skipped_methods
        # Formats that log no time or host count nothing for them (the group is always empty).
        times = self.times if fmt.logs_time else defaultdict(int)
        hosts = self.hosts if fmt.logs_host else defaultdict(int)
        k = self.k
        randbelow = self.rng.randrange
        lineno = parsed = kept = 0
        with logs.open_log(path) as (lines, gz):
            report.gzipped = gz
            try:
                for lineno, line in enumerate(lines, 1):
                    m = match(line)
                    if m is None:
                        if line.strip():
                            report.fail(lineno, *fmt.why(line))
                            if report.give_up():
                                report.lines = lineno
                                raise report.not_a_log()
                        continue
                    parsed += 1
                    method, target, args, status, lat, ts, host = m.group(*idx)
                    times[ts] += 1  # the rate is of all the traffic logged, replayed or not
                    cache = caches.get(method)
                    if cache is None:
                        if not every_method:
                            skipped[method] = skipped.get(method, 0) + 1
                            continue
                        cache = caches[method] = {}
                    if args and args != "-":
                        target = f"{target}?{args}"
                    entry = cache.get(target)
                    if entry is None:
                        entry = self._entry(method, target, cache)
                    group, values = entry
                    if group is None:
                        parsed -= 1
                        times[ts] -= 1
                        report.fail(lineno, "the request target is not a path", logs.excerpt(target))
                        continue
                    kept += 1
                    group.count += 1
                    group.statuses[status] += 1
                    if lat:
                        group.latency[lat] += 1
                    hosts[host] += 1
                    if values:
                        group.seen += 1
                        rows = group.rows
                        if len(rows) < k:
                            rows.append(values)
                            if len(rows) == k:
                                group.next = k
                                self._skip(group)
                        elif group.seen == group.next:
                            rows[randbelow(k)] = values
                            self._skip(group)
            except logs.READ_ERRORS as exc:
                report.stopped = f"after line {lineno}: {logs.read_error(exc)}"
        caches.pop("", None)
        report.lines = lineno
        report.parsed += parsed
        report.kept += kept
        if report.parsed == 0 and report.unparseable:
            raise report.not_a_log()


# --------------------------------------------------------------------------------------------------
# Words that are values

Shape = tuple[str, tuple[str, ...], tuple[str, ...], str]  # method, segments before, segments after, ?query


@dataclass
class _Merged:
    """What one round of merging did: the groups now, notes for the report, where new words now go."""

    groups: list[_Group]
    notes: list[str]
    routes: dict[Shape, tuple[_Group, int]]  # a template shape → its merged group, where the word goes
    gone: set[int]  # ids of the groups merged into others


def _merge_words(groups: list[_Group], rng: random.Random, k: int) -> _Merged:
    """Merge templates that differ only by a word at one place into one with a `{slug}` there.

    The merged samples are drawn from the members' rows weighted by their requests, so a popular user
    stays as popular in the replay. A template can have several such places: each pass merges one.
    """
    done = _Merged(groups, [], {}, set())
    for _ in range(4):
        shapes: dict[Shape, list[tuple[_Group, str]]] = defaultdict(list)
        for g in done.groups:
            path, q, query = g.template.partition("?")
            segs = path.split("/")
            for i in range(2, len(segs)):
                if segs[i] and "{" not in segs[i]:
                    shapes[(g.method, tuple(segs[:i]), tuple(segs[i + 1 :]), q + query)].append((g, segs[i]))
        merged: list[_Group] = []
        taken: set[int] = set()
        for shape, members in sorted(shapes.items(), key=lambda kv: (-len(kv[1]), kv[0])):
            members = [(g, word) for g, word in members if id(g) not in taken]
            if len(members) < SLUG_MIN:
                continue
            group, at = _merge_members(shape, members, rng, k)
            merged.append(group)
            taken.update(id(g) for g, _ in members)
            done.routes[shape] = (group, at)
            done.notes.append(f"{group.method} {group.template}: {len(members):,} paths with a word there merged")
        if not merged:
            break
        done.gone |= taken
        done.groups = [g for g in done.groups if id(g) not in taken] + merged
    return done


def _merge_members(shape: Shape, members: list[tuple[_Group, str]], rng: random.Random, k: int) -> tuple[_Group, int]:
    """The merged group, and the index among a request's values where the word goes."""
    method, before, after, query = shape
    name = unique_name("slug", set(PLACEHOLDER.findall("/".join(before + after) + query)))
    out = _Group(method, "/".join([*before, f"{{{name}}}", *after]) + query)
    at = len(PLACEHOLDER.findall("/".join(before)))
    rows: list[tuple[str, ...]] = []
    weights: list[float] = []
    for g, word in members:
        out.count += g.count
        for key, n in g.statuses.items():
            out.statuses[key] += n
        for key, n in g.latency.items():
            out.latency[key] += n
        own = g.rows or [()] * min(g.count, k)  # no values: each request is the word alone
        for row in own:
            rows.append((*row[:at], word, *row[at:]))
            weights.append(g.count / len(own))
    # Up to k requests in all, the rows are every request; past that, a draw weighted by what each row stands for.
    out.rows = rows if out.count <= k else rng.choices(rows, weights, k=k)
    out.seen = out.count  # every request of the merged group has a value now: the word
    return out, at


# --------------------------------------------------------------------------------------------------
# Summaries


def _iso(t: int) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _latency(counts: dict[str, int]) -> LatencySummary | None:
    values: dict[float, int] = {}
    for raw, n in counts.items():
        ms = logs.latency_ms(raw)
        if ms is not None:
            values[ms] = values.get(ms, 0) + n
    if not values:
        return None
    ordered = sorted(values.items())
    total = sum(values.values())

    def at(p: float) -> float:
        # Nearest rank: the smallest value with at least p% of the requests at or below it.
        rank = max(1, math.ceil(p / 100 * total))
        seen = 0
        for ms, n in ordered:
            seen += n
            if seen >= rank:
                return ms
        return ordered[-1][0]

    return LatencySummary(count=total, p50=at(50), p90=at(90), p99=at(99), max=ordered[-1][0])


def _sig(x: float) -> float:
    # Six significant digits: a day-long bucket's requests/s is small, and must not round to 0.
    return float(f"{x:.6g}")


def _rate(per_second: dict[int, int]) -> Rate | None:
    if not per_second:
        return None
    start, end = min(per_second), max(per_second)
    span = end - start + 1
    day = BUCKETS[-1]
    bucket = next((b for b in BUCKETS if -(-span // b) <= MAX_BUCKETS), day * -(-span // (day * MAX_BUCKETS)))
    first = start - start % bucket
    counts = [0] * ((end - first) // bucket + 1)
    for t, n in per_second.items():
        counts[(t - first) // bucket] += n
    peak_at, peak = max(per_second.items(), key=lambda kv: (kv[1], -kv[0]))
    return Rate(
        bucket_seconds=bucket,
        start=_iso(first),
        mean=_sig(sum(counts) / span),
        peak=float(peak),
        peak_at=_iso(peak_at),
        series=[_sig(n / bucket) for n in counts],
    )


def _host(raw: str) -> str:
    host = raw.lower()
    for port in (":80", ":443"):
        if host.endswith(port):
            return host[: -len(port)]
    return host


def _sorted_counts(counts: dict[str, int]) -> dict[str, int]:
    # "" is a format that logs no status.
    return dict(sorted((k, n) for k, n in counts.items() if k and n))


def _merge(into: dict[str, int], counts: dict[str, int]) -> None:
    for key, n in counts.items():
        into[key] = into.get(key, 0) + n


_NAME_JUNK = re.compile(r"[^a-z0-9]+")


def scenario_name(paths: Sequence[str | Path]) -> str:
    """A resource name from the first log's file name: `access.log.1.gz` → `access`."""
    if not paths:
        return "scenario"
    base = Path(paths[0]).name.lower()
    for suffix in (".gz", ".txt", ".1", ".log"):
        base = base.removesuffix(suffix)
    name = _NAME_JUNK.sub("-", base).strip("-")[:63].strip("-")
    return name or "scenario"


def _methods(include: Iterable[str]) -> frozenset[str] | None:
    wanted = {m.strip().upper() for m in include if m.strip()}
    if wanted & {"*", "ALL"}:
        return None
    bad = sorted(m for m in wanted if not re.fullmatch(r"[A-Z][A-Z_-]*", m))
    if bad:
        raise UserError(f"--include-methods: {', '.join(map(repr, bad))} is not an HTTP method")
    return frozenset(DEFAULT_METHODS) | wanted


# --------------------------------------------------------------------------------------------------
# Public


def build_scenario(
    paths: Sequence[str | Path],
    fmt: str = "auto",
    include_methods: Iterable[str] = (),
    *,
    name: str | None = None,
    seed: int = 0,
    samples: int = SAMPLES,
    max_endpoints: int = MAX_ENDPOINTS,
) -> tuple[LoadScenario, ParseReport]:
    """Read access logs into a scenario, and report what was read, skipped and unparseable.

    `fmt` is `auto` (recognised per file from its first lines), `combined`, `common`, `alb`, or
    `nginx:<log_format string>`. GET and HEAD are kept; `include_methods` adds others (`*` keeps all).
    `samples` bounds the real values kept per placeholder; the `max_endpoints` most requested templates
    make the scenario, the rest is counted in the report. Raises UserError for a missing or binary file, a
    file in which no line parses, or logs with no request to replay.
    """
    if not paths:
        raise UserError("no log files given")
    if samples < 1:
        raise UserError("samples must be at least 1")
    if max_endpoints < 1:
        raise UserError("max_endpoints must be at least 1")
    methods = _methods(include_methods)
    given = logs.resolve_format(fmt)
    started = time.perf_counter()
    report = ParseReport()
    builder = _Builder(methods, seed=seed, samples=samples)
    for p in paths:
        path = str(p)
        chosen = given if given is not None else logs.detect_file(path)
        if chosen is None:
            report.files.append(FileReport(path=path, format="empty"))
            report.warnings.append(f"{path}: empty")
            continue
        if given is None and chosen.name != "alb" and (extra := logs.extra_fields(path, chosen)):
            report.warnings.append(
                f"{path}: lines go on after the {chosen.name} format ({logs.excerpt(extra, 30)}); if that holds "
                "$request_time, give --format nginx:'<your log_format>' to keep the latency"
            )
        file_report = FileReport(path=path, format=chosen.name)
        report.files.append(file_report)
        if not chosen.logs_method:
            report.warnings.append(f"{path}: the log format logs no method; every request counts as a GET")
        builder.feed(path, chosen, file_report)
    scenario = _assemble(builder, report, paths, methods, name=name, seed=seed, max_endpoints=max_endpoints)
    report.seconds = time.perf_counter() - started
    return scenario, report


def _assemble(
    b: _Builder,
    report: ParseReport,
    paths: Sequence[str | Path],
    methods: frozenset[str] | None,
    *,
    name: str | None,
    seed: int,
    max_endpoints: int,
) -> LoadScenario:
    groups = sorted(b.groups.values(), key=lambda g: (-g.count, g.method, g.template))
    done = _merge_words(groups, b.rng, b.k)
    report.merged = b.notes + done.notes
    groups = sorted(done.groups, key=lambda g: (-g.count, g.method, g.template))
    kept = [g for g in groups[:max_endpoints] if g.count]
    if not kept:
        skipped = report.skipped_methods
        if skipped:
            found = ", ".join(f"{m or '-'} {n:,}" for m, n in skipped.items())
            wanted = " or ".join(sorted(methods or ()))
            raise UserError(
                f"no {wanted} requests in the logs (found {found}); add the methods to replay with --include-methods"
            )
        where = Location(str(paths[0])) if len(paths) == 1 else None
        raise UserError("no requests in the logs", where)
    dropped = groups[max_endpoints:]
    report.endpoints = len(kept)
    report.dropped_endpoints = len(dropped) + (1 if b.overflow.count else 0)
    report.dropped_requests = sum(g.count for g in dropped) + b.overflow.count
    if b.overflow.count:
        report.warnings.append(
            f"more than {MAX_TEMPLATES:,} distinct templates: {b.overflow.count:,} requests of later ones not "
            "counted (a path part the templating does not recognise as a value?)"
        )
    non_idempotent = sorted({g.method for g in kept} - set(DEFAULT_METHODS) - {"OPTIONS"})
    if non_idempotent:
        report.warnings.append(
            f"{', '.join(non_idempotent)} requests are replayed without a body: access logs do not record bodies"
        )

    total = sum(g.count for g in kept)
    endpoints: list[Endpoint] = []
    for g in kept:
        names = placeholders(g.template)
        endpoints.append(
            Endpoint(
                name=f"{g.method} {g.template}",
                method=g.method,
                path=g.template,
                weight=round(g.count / total, 6),
                requests=g.count,
                statuses=_sorted_counts(g.statuses),
                latency_ms=_latency(g.latency),
                samples={n: [row[i] for row in g.rows] for i, n in enumerate(names)},
            )
        )

    statuses: dict[str, int] = {}
    latency: dict[str, int] = {}
    for g in [*groups, b.overflow]:
        _merge(statuses, g.statuses)
        _merge(latency, g.latency)
    per_second: dict[int, int] = {}
    untimed = 0
    for raw, n in b.times.items():
        if n <= 0:
            continue
        t = logs.epoch(raw)
        if t is None:
            untimed += n
        else:
            per_second[t] = per_second.get(t, 0) + n
    if untimed:
        report.warnings.append(f"{untimed:,} requests have no time in the log: the rate leaves them out")
    hosts: dict[str, int] = {}
    for raw, n in b.hosts.items():
        if raw:
            h = _host(raw)
            hosts[h] = hosts.get(h, 0) + n
    top_hosts = dict(sorted(hosts.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_HOSTS])

    source = Source(
        files=[SourceFile(path=f.path, format=f.format, lines=f.lines, requests=f.kept) for f in report.files],
        methods=sorted(methods) if methods is not None else ["*"],
        start=_iso(min(per_second)) if per_second else None,
        end=_iso(max(per_second)) if per_second else None,
        requests=report.kept,
        skipped_methods=report.skipped_methods,
        unparseable=report.unparseable,
        seed=seed,
    )
    return LoadScenario(
        metadata=Metadata(name=name or scenario_name(paths)),
        spec=LoadScenarioSpec(
            source=source,
            rate=_rate(per_second),
            statuses=_sorted_counts(statuses),
            latency_ms=_latency(latency),
            hosts=top_hosts,
            endpoints=endpoints,
        ),
    )


# --------------------------------------------------------------------------------------------------
# Writing


class _Dumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # type: ignore[misc]
    """libyaml's emitter when there is one (a scenario holds up to 100 values per placeholder)."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def scenario_yaml(scenario: LoadScenario) -> str:
    """The scenario as YAML: fields in reading order, short lists and counts on one line each."""
    spec = scenario.spec
    head = f"# sengu load scenario: {len(spec.endpoints)} endpoints"
    if spec.source is not None:
        head += f" from {spec.source.requests:,} requests in {len(spec.source.files)} log file(s)"
    head += ".\n# Weights are relative; row i of an endpoint's samples is one real request.\n"
    body: str = yaml.dump(
        to_data(scenario), Dumper=_Dumper, sort_keys=False, default_flow_style=None, width=110, allow_unicode=True
    )
    return head + body


def write_scenario(scenario: LoadScenario, path: str | Path) -> None:
    """Write the scenario to `path` (`sengu load scenario -o`)."""
    try:
        Path(path).write_text(scenario_yaml(scenario), encoding="utf-8")
    except OSError as exc:
        raise UserError(f"cannot write: {exc.strerror}", Location(str(path))) from None


# --------------------------------------------------------------------------------------------------
# Replaying

# Characters a sampled value keeps as they are: logged values are already percent-encoded, so `%` stays;
# anything else unsafe in a request target (space, `#`, non-ASCII from a hand edit) is encoded.
_SAFE = "!$&'()*+,;=:@/?%~"


@dataclass(frozen=True)
class _Filler:
    name: str
    method: str
    parts: tuple[str, ...]  # literal, placeholder, literal, … (odd indices are placeholders)
    columns: tuple[tuple[str, ...], ...]  # per placeholder (in `parts` order), its encoded values
    rows: int  # > 0: the columns are rows of real requests, drawn together

    @classmethod
    def of(cls, ep: Endpoint) -> _Filler:
        parts = tuple(PLACEHOLDER.split(ep.path))
        names = parts[1::2]
        columns = tuple(tuple(quote(v, safe=_SAFE) for v in ep.samples[n]) for n in names)
        lengths = {len(c) for c in columns}
        rows = lengths.pop() if len(lengths) == 1 else 0
        return cls(ep.name, ep.method, parts, columns, rows)

    def draw(self, rng: random.Random) -> tuple[str, str, str]:
        if not self.columns:
            return self.name, self.method, self.parts[0]
        out = list(self.parts)
        if self.rows:
            j = rng.randrange(self.rows)
            for i, col in enumerate(self.columns):
                out[2 * i + 1] = col[j]
        else:
            for i, col in enumerate(self.columns):
                out[2 * i + 1] = col[rng.randrange(len(col))]
        return self.name, self.method, "".join(out)


def requests(scenario: LoadScenario, *, seed: int, count: int) -> list[tuple[str, str, str]]:
    """`count` requests (endpoint name, method, path with query) drawn by weight, placeholders filled.

    Deterministic for a seed. The engine cycles through the list, so a few thousand give the mix.
    """
    if count < 0:
        raise ValueError("count must be >= 0")
    endpoints = [ep for ep in scenario.spec.endpoints if ep.weight > 0]
    fillers = [_Filler.of(ep) for ep in endpoints]
    rng = random.Random(seed)
    cum = list(itertools.accumulate(ep.weight for ep in endpoints))
    picks = rng.choices(range(len(fillers)), cum_weights=cum, k=count)
    return [fillers[i].draw(rng) for i in picks]
