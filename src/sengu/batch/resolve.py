"""Pure resolution of a CronjobManager: defaults merged, H expanded, migration stage applied.

What comes out (`Manager`, `JobPlan`) is what both engines act on; nothing here does I/O.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from sengu.batch.schedule import Schedule, ScheduleError, load_zone, parse
from sengu.batch.spec import (
    PRIORITY_ORDER,
    ConcurrencyPolicy,
    CronjobManager,
    Job,
    JobSettings,
    LostAttemptPolicy,
    Notifications,
    Placement,
    Resources,
)
from sengu.core.errors import Problem, UserError
from sengu.core.spec import Document, Loc, validate

# Defaults when neither the job nor spec.defaults says. Chosen for legacy-cron migrations, see docs/batch.md.
DEFAULT_TIME_ZONE = "UTC"
DEFAULT_CONCURRENCY: ConcurrencyPolicy = "Forbid"
DEFAULT_BACKOFF_LIMIT = 0
DEFAULT_LOST_ATTEMPT_POLICY: LostAttemptPolicy = "Count"
DEFAULT_STARTING_DEADLINE = 300
DEFAULT_SUCCESS_HISTORY = 3
DEFAULT_FAILED_HISTORY = 1
# How long a finished run is kept: the Job's TTL on Kubernetes, the run row and its logs on the embedded engine.
DEFAULT_TTL_SECONDS_AFTER_FINISHED = 7 * 24 * 3600


def command_argv(command: str | list[str]) -> list[str]:
    """A string command runs through /bin/sh -c (as cron does); a list is used as the argv."""
    return ["/bin/sh", "-c", command] if isinstance(command, str) else list(command)


@dataclass(frozen=True)
class JobPlan:
    """One job with every setting decided."""

    manager: str
    name: str
    argv: list[str]
    command: str | list[str]
    schedules: tuple[Schedule, ...]
    zone: ZoneInfo
    priority: str
    suspended: bool
    suspend_reason: str | None
    concurrency_policy: ConcurrencyPolicy
    backoff_limit: int
    active_deadline_seconds: int | None
    starting_deadline_seconds: int
    successful_history: int
    failed_history: int
    env: dict[str, str]
    working_dir: str | None
    image: str | None
    resources: Resources | None
    placement: Placement | None
    service_account_name: str | None
    notifications: Notifications | None
    recovery_argv: list[str] | None
    location: str = ""
    ttl_seconds_after_finished: int = DEFAULT_TTL_SECONDS_AFTER_FINISHED
    lost_attempt_policy: LostAttemptPolicy = DEFAULT_LOST_ATTEMPT_POLICY

    @property
    def key(self) -> str:
        return f"{self.manager}/{self.name}"

    @property
    def expressions(self) -> list[str]:
        return [s.expression for s in self.schedules]


@dataclass(frozen=True)
class Manager:
    name: str
    stage: str
    jobs: tuple[JobPlan, ...]
    path: str = ""
    by_name: dict[str, JobPlan] = field(default_factory=dict, compare=False)

    def job(self, name: str) -> JobPlan:
        try:
            return self.by_name[name]
        except KeyError:
            known = ", ".join(sorted(self.by_name)[:10])
            raise UserError(f"no job named {name!r} in CronjobManager {self.name!r} (jobs: {known}...)") from None


# What a job inherits from spec.defaults where it says nothing (None).
_INHERITED = tuple(JobSettings.model_fields)


def _settings(job: Job, inherited: dict[str, object]) -> dict[str, object]:
    """The job's own value of each inherited setting, else the default's."""
    own = {attr: value for attr in _INHERITED if (value := getattr(job, attr)) is not None}
    return inherited | own if own else inherited


def _schedules(job: Job, zone: ZoneInfo, doc: Document, at: Loc, problems: list[Problem]) -> tuple[Schedule, ...]:
    out = []
    if job.schedule is not None:
        items = [(job.schedule, (*at, "schedule"))]
    else:
        items = [(expr, (*at, "schedules", i)) for i, expr in enumerate(job.schedules or [])]
    for expr, loc in items:
        try:
            out.append(parse(expr, zone, seed=job.name))
        except ScheduleError as exc:
            problems.append(doc.problem(loc, f"schedule {expr!r}: {exc}"))
    return tuple(out)


def resolve(model: CronjobManager, doc: Document, loc: Loc = (), *, jobs: slice = slice(None)) -> Manager:
    """Every job's effective settings; all problems at once as a UserError.

    `jobs` takes only those jobs (by position; `batch render` splits 10,000 jobs over two processes):
    a name used twice is then found only within them.
    """
    spec = model.spec
    defaults = spec.defaults
    problems: list[Problem] = []
    stage = PRIORITY_ORDER[spec.migration.stage]
    seen: dict[str, int] = {}
    plans: list[JobPlan] = []
    zones: dict[str, ZoneInfo] = {}
    default_env = {k: _env_str(v) for k, v in (defaults.env or {}).items()}
    inherited = {attr: getattr(defaults, attr) for attr in _INHERITED}
    for i in range(len(spec.jobs))[jobs]:
        job = spec.jobs[i]
        at: Loc = (*loc, "spec", "jobs", i)
        if job.name in seen:
            problems.append(
                doc.problem((*at, "name"), f"duplicate job name {job.name!r} (first used by jobs[{seen[job.name]}])")
            )
            continue
        seen[job.name] = i
        setting = _settings(job, inherited)
        zone_name = str(setting["time_zone"] or DEFAULT_TIME_ZONE)
        zone = zones.get(zone_name)
        if zone is None:
            try:
                zone = zones[zone_name] = load_zone(zone_name)
            except ScheduleError as exc:
                where = (*at, "timeZone") if job.time_zone else (*loc, "spec", "defaults", "timeZone")
                problems.append(doc.problem(where, str(exc)))
                continue
        schedules = _schedules(job, zone, doc, at, problems)
        above_stage = PRIORITY_ORDER[job.priority] > stage
        reason = "suspend: true" if job.suspend else None
        if above_stage and reason is None:
            reason = f"priority {job.priority} is above migration stage {spec.migration.stage}"
        env = dict(default_env)
        env.update({k: _env_str(v) for k, v in (job.env or {}).items()})
        recovery = job.on_failure.recovery if job.on_failure else None
        mark = doc.locate((*at, "name"))
        plans.append(
            JobPlan(
                manager=model.metadata.name,
                name=job.name,
                argv=command_argv(job.command),
                command=job.command,
                schedules=schedules,
                zone=zone,
                priority=job.priority,
                suspended=reason is not None,
                suspend_reason=reason,
                concurrency_policy=setting["concurrency_policy"] or DEFAULT_CONCURRENCY,  # type: ignore[arg-type]
                backoff_limit=_int(setting["backoff_limit"], DEFAULT_BACKOFF_LIMIT),
                active_deadline_seconds=_opt_int(setting["active_deadline_seconds"]),
                starting_deadline_seconds=_int(setting["starting_deadline_seconds"], DEFAULT_STARTING_DEADLINE),
                successful_history=_int(setting["successful_jobs_history_limit"], DEFAULT_SUCCESS_HISTORY),
                failed_history=_int(setting["failed_jobs_history_limit"], DEFAULT_FAILED_HISTORY),
                env=env,
                working_dir=_working_dir(_opt_str(setting["working_dir"]), doc.path),
                image=_opt_str(setting["image"]),
                resources=setting["resources"],  # type: ignore[arg-type]
                placement=setting["placement"],  # type: ignore[arg-type]
                service_account_name=_opt_str(setting["service_account_name"]),
                notifications=setting["notifications"],  # type: ignore[arg-type]
                recovery_argv=command_argv(recovery.command) if recovery else None,
                location=f"{mark.file}:{mark.line}",
                ttl_seconds_after_finished=_int(
                    setting["ttl_seconds_after_finished"], DEFAULT_TTL_SECONDS_AFTER_FINISHED
                ),
                lost_attempt_policy=setting["lost_attempt_policy"] or DEFAULT_LOST_ATTEMPT_POLICY,  # type: ignore[arg-type]
            )
        )
    if problems:
        raise UserError(problems)
    return Manager(
        name=model.metadata.name,
        stage=spec.migration.stage,
        jobs=tuple(plans),
        path=doc.path,
        by_name={p.name: p for p in plans},
    )


def load_manager(doc: Document) -> Manager:
    """Validate one CronjobManager document and resolve it."""
    return resolve(validate(doc, CronjobManager), doc)


def _working_dir(value: str | None, spec_path: str) -> str | None:
    """A relative workingDir is relative to the spec file, so examples run from any directory."""
    if value is None or os.path.isabs(value) or spec_path.startswith("<"):
        return value
    return os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(spec_path)), value))


def _env_str(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _int(value: object, default: int) -> int:
    return default if value is None else int(value)  # type: ignore[call-overload]


def _opt_int(value: object) -> int | None:
    return None if value is None else int(value)  # type: ignore[call-overload]


def _opt_str(value: object) -> str | None:
    return None if value is None else str(value)
