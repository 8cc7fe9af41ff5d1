"""The LoadScenario resource: what `sengu load scenario` writes and `sengu load run --scenario` replays.

A scenario is a list of endpoints — a method and a path template (`/n/{id}`) — each with a weight (its
share of the requests) and real values sampled from the logs for each placeholder. Everything else
(`source`, `rate`, `statuses`, `latencyMs`, `hosts`, and per endpoint `requests`, `statuses`,
`latencyMs`) records what the logs showed, for comparison with a run; a hand-written scenario needs only
`endpoints` with a `path` each.

Sample lists of one endpoint that have the same length are rows: row i of every list came from one real
request, so `/u/{id}/posts/{id2}` is replayed with pairs that existed. Lists of different lengths (edited
by hand) are drawn from independently. Weights are relative: they need not sum to 1.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic.alias_generators import to_camel
from pydantic_core import InitErrorDetails, PydanticCustomError

from sengu.core.names import DnsLabel
from sengu.load.templates import PLACEHOLDER

if TYPE_CHECKING:
    from sengu.core.spec import Document

KIND = "LoadScenario"
API_VERSION = "sengu.dev/v1alpha1"

_METHOD = re.compile(r"^[A-Z][A-Z_-]*$")
_BAD_PATH_CHARS = re.compile(r"[\s\x00-\x1f\x7f#]")


def _method(value: str) -> str:
    if not _METHOD.match(value):
        raise ValueError(f"{value!r} is not an HTTP method: use an uppercase name like GET or HEAD")
    return value


def _path(value: str) -> str:
    if not value.startswith("/"):
        raise ValueError(f"{value!r} must start with '/' (a path on the target, with an optional ?query)")
    if _BAD_PATH_CHARS.search(value):
        raise ValueError(f"{value!r} holds whitespace, control characters or '#': percent-encode them")
    rest = PLACEHOLDER.sub("", value)
    if "{" in rest or "}" in rest:
        raise ValueError(f"{value!r}: braces are only for placeholders like {{id}}; write a literal brace as %7B/%7D")
    return value


Method = Annotated[str, AfterValidator(_method)]
PathTemplate = Annotated[str, AfterValidator(_path)]


class Model(BaseModel):
    # Numbers are accepted where text is expected: a hand-written `id: [1, 2]` or status key 200 means "1", "200".
    model_config = ConfigDict(
        extra="forbid", alias_generator=to_camel, populate_by_name=True, frozen=True, coerce_numbers_to_str=True
    )


class Metadata(Model):
    name: DnsLabel
    namespace: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)


class LatencySummary(Model):
    """Percentiles of a logged latency, in milliseconds."""

    count: int = Field(ge=0)
    p50: float = Field(ge=0)
    p90: float = Field(ge=0)
    p99: float = Field(ge=0)
    max: float = Field(ge=0)


class SourceFile(Model):
    path: str
    format: str
    lines: int = Field(default=0, ge=0)
    requests: int = Field(default=0, ge=0, description="Requests kept from this file.")


class Source(Model):
    """The logs the scenario was made from."""

    files: list[SourceFile] = Field(default_factory=list)
    methods: list[Method | Literal["*"]] = Field(
        default_factory=lambda: ["GET", "HEAD"], min_length=1, description="Methods kept ('*': all)."
    )
    start: str | None = Field(default=None, description="Time of the first request logged (ISO 8601, UTC).")
    end: str | None = Field(default=None, description="Time of the last request logged (ISO 8601, UTC).")
    requests: int = Field(default=0, ge=0, description="Requests kept.")
    skipped_methods: dict[str, int] = Field(default_factory=dict, description="Requests of other methods, by method.")
    unparseable: int = Field(default=0, ge=0)
    seed: int = Field(default=0, description="Seed of the sampling of placeholder values.")


class Rate(Model):
    """The observed request rate over time: every request logged, whatever its method."""

    bucket_seconds: int = Field(gt=0)
    start: str = Field(description="Start of the first bucket (ISO 8601, UTC).")
    mean: float = Field(ge=0, description="Requests per second over the whole span.")
    peak: float = Field(ge=0, description="Requests in the busiest second.")
    peak_at: str | None = Field(default=None, description="That second (ISO 8601, UTC).")
    series: list[float] = Field(default_factory=list, description="Mean requests per second in each bucket.")


class Endpoint(Model):
    """A method and path template, its share of the requests, and real values for its placeholders."""

    name: str = Field(min_length=1, description="Defaults to 'METHOD path'.")
    method: Method = "GET"
    path: PathTemplate
    weight: float = Field(default=1.0, ge=0, allow_inf_nan=False)
    requests: int | None = Field(default=None, ge=0, description="Requests observed.")
    statuses: dict[str, int] = Field(default_factory=dict)
    latency_ms: LatencySummary | None = None
    samples: dict[str, list[str]] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _default_name(cls, data: Any) -> Any:
        if isinstance(data, dict) and "name" not in data and isinstance(data.get("path"), str):
            return {"name": f"{data.get('method', 'GET')} {data['path']}", **data}
        return data

    @model_validator(mode="after")
    def _samples_fit(self) -> Endpoint:
        names = PLACEHOLDER.findall(self.path)
        errors: list[tuple[tuple[str, ...], str]] = []
        for name in dict.fromkeys(names):
            if not self.samples.get(name):
                errors.append((("samples",), f"no values for placeholder {{{name}}} of {self.path!r}"))
        for name in self.samples:
            if name not in names:
                errors.append((("samples", name), f"not a placeholder of {self.path!r}"))
        _raise(type(self).__name__, errors)
        return self

    @property
    def placeholders(self) -> list[str]:
        return PLACEHOLDER.findall(self.path)


class LoadScenarioSpec(Model):
    source: Source | None = None
    rate: Rate | None = None
    statuses: dict[str, int] = Field(default_factory=dict, description="Observed status mix (requests kept).")
    latency_ms: LatencySummary | None = None
    hosts: dict[str, int] = Field(default_factory=dict, description="Observed Host headers, most frequent first.")
    endpoints: list[Endpoint] = Field(min_length=1)

    @model_validator(mode="after")
    def _check(self) -> LoadScenarioSpec:
        errors: list[tuple[tuple[str | int, ...], str]] = []
        seen: dict[str, int] = {}
        for i, ep in enumerate(self.endpoints):
            first = seen.setdefault(ep.name, i)
            if first != i:
                errors.append((("endpoints", i, "name"), f"{ep.name!r} is also the name of endpoint {first + 1}"))
        if self.endpoints and not any(ep.weight > 0 for ep in self.endpoints):
            errors.append((("endpoints",), "every endpoint has weight 0: give at least one a positive weight"))
        _raise(type(self).__name__, errors)
        return self


def _raise(title: str, errors: list[Any]) -> None:
    # A ValidationError (not a ValueError) keeps each problem's own location, so it is reported at the
    # field it is about rather than at the model.
    if errors:
        raise ValidationError.from_exception_data(
            title,
            [
                InitErrorDetails(
                    type=PydanticCustomError("cross_field", "{message}", {"message": message}), loc=loc, input=None
                )
                for loc, message in errors
            ],
        )


class LoadScenario(Model):
    """Weighted request templates with real values, made from access logs (`sengu load scenario`)."""

    api_version: Literal["sengu.dev/v1alpha1"] = "sengu.dev/v1alpha1"
    kind: Literal["LoadScenario"] = "LoadScenario"
    metadata: Metadata
    spec: LoadScenarioSpec

    @property
    def name(self) -> str:
        return self.metadata.name


def load_scenario(doc: Document) -> LoadScenario:
    """Validate one LoadScenario document; problems are UserErrors at file:line:col."""
    from sengu.core.spec import validate

    return validate(doc, LoadScenario)


def read_scenario(path: str | Path) -> LoadScenario:
    """The one LoadScenario of a YAML file. Raises UserError (file:line:col) when it is missing or invalid."""
    from sengu.core.errors import Location, UserError
    from sengu.core.spec import as_resource, read_documents

    found = [doc for doc in read_documents(path) if isinstance(doc.data, dict) and doc.data.get("kind") == KIND]
    if not found:
        raise UserError(f"no {KIND} document in the file", Location(str(path)))
    if len(found) > 1:
        where = found[1].locate(("kind",))
        raise UserError(f"more than one {KIND} in the file; give one scenario per file", where)
    as_resource(found[0], [KIND])
    return load_scenario(found[0])


def to_data(scenario: LoadScenario) -> dict[str, Any]:
    """The scenario as plain data, fields in the models' (reading) order; None and empty ones left out.

    Every field that can be empty defaults to empty, so leaving it out reads back the same.
    """
    data: dict[str, Any] = _prune(scenario.model_dump(mode="json", by_alias=True, exclude_none=True))
    return data


def _prune(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _prune(v) for k, v in data.items() if not (isinstance(v, dict | list) and not v)}
    if isinstance(data, list):
        return [_prune(v) for v in data]
    return data
