"""The coordinator's side of a distributed run: what each pod measured, written out and merged exactly.

A pod (`sengu load run --parts FILE`) writes its processes' `Measurements` — counts and the encoded HDR
histograms — as one JSON document; `sengu load merge` reads every pod's document and merges them as the
worker pool merges processes, so percentiles are those of all requests, not averages of percentiles.
A pod's log may hold other lines: the document is the last line that parses as one.
"""

from __future__ import annotations

import base64
import json
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

from sengu.core.errors import Location, UserError
from sengu.load.engine import Measurements, SecondData, build_result
from sengu.load.result import Result

FORMAT = "sengu.load.parts/v1"


def parts_json(parts: list[Measurements], warnings: list[str]) -> str:
    """One line of JSON: the parts with their histograms in base64."""
    return json.dumps(
        {"format": FORMAT, "warnings": warnings, "parts": [_part_json(p) for p in parts]}, separators=(",", ":")
    )


def _part_json(part: Measurements) -> dict[str, Any]:
    data = asdict(part)
    data["latency"] = [_b64(h) for h in part.latency]
    data["service"] = _b64(part.service)
    data["send_lag"] = _b64(part.send_lag)
    data["statuses"] = [{str(k): v for k, v in s.items()} for s in part.statuses]
    data["seconds"] = [{**asdict(s), "hist": _b64(s.hist) if s.hist else None} for s in part.seconds]
    return data


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def read_parts(path: Path) -> tuple[list[Measurements], list[str]]:
    """The parts document of a file (a `--parts` file, or a pod's log holding one)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise UserError(f"cannot read it: {exc.strerror}", Location(str(path))) from None
    return parts_in(text, str(path))


def parts_in(text: str, where: str) -> tuple[list[Measurements], list[str]]:
    """The parts document in `text` (the last line that is one); `where` names it in errors."""
    for line in reversed(text.splitlines()):
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            doc = json.loads(line)
        except ValueError:
            continue
        if isinstance(doc, dict) and doc.get("format") == FORMAT:
            try:
                return [_part(p) for p in doc["parts"]], [str(w) for w in doc.get("warnings", [])]
            except (KeyError, TypeError, ValueError) as exc:
                raise UserError(f"the {FORMAT} document is damaged ({exc})", Location(where)) from None
    raise UserError(f"no {FORMAT} document in it (write one with `sengu load run --parts FILE`)", Location(where))


def _part(data: dict[str, Any]) -> Measurements:
    known = {f.name for f in fields(Measurements)}
    values = {k: v for k, v in data.items() if k in known}
    values["latency"] = [base64.b64decode(h) for h in data["latency"]]
    values["service"] = base64.b64decode(data["service"])
    values["send_lag"] = base64.b64decode(data["send_lag"])
    values["statuses"] = [{int(k): int(v) for k, v in s.items()} for s in data["statuses"]]
    values["seconds"] = [
        SecondData(**{**s, "hist": base64.b64decode(s["hist"]) if s.get("hist") else None}) for s in data["seconds"]
    ]
    return Measurements(**values)


def merge_files(paths: list[Path]) -> Result:
    """One Result from the parts of every file; runs of different targets or models are refused."""
    if not paths:
        raise UserError("no files to merge")
    return merge([(path.name, *read_parts(path)) for path in paths])


def merge(sources: list[tuple[str, list[Measurements], list[str]]], warnings: list[str] | None = None) -> Result:
    """One Result from (name, parts, warnings) of each generator; different targets or models are refused."""
    parts: list[Measurements] = []
    names: list[str] = []
    warnings = list(warnings or [])
    for name, more, said in sources:
        parts.extend(more)
        names.extend(name for _ in more)
        warnings.extend(f"{name}: {w}" for w in said)
    if not parts:
        raise UserError("the files hold no measurements")
    first = parts[0]
    for name, part in zip(names, parts, strict=True):
        if (part.mode, part.target) != (first.mode, first.target):
            raise UserError(
                f"a {part.mode}-model run of {part.target}, not a {first.mode}-model run of {first.target} like "
                "the first: merge the pods of one run only",
                Location(name),
            )
    starts = sorted(p.started_at for p in parts)
    if starts and starts[0][:19] != starts[-1][:19]:
        warnings.append(
            f"the parts started between {starts[0]} and {starts[-1]}: the rate over time dips where they do not overlap"
        )
    return build_result(parts, warnings)
