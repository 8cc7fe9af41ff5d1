"""The CronjobManager resource: the single source for validation, docs and the CRD schema (`sengu crd`)."""

from __future__ import annotations

import functools
import re
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema, model_validator
from pydantic.alias_generators import to_camel

from sengu.batch.schedule import ScheduleError, load_zone, parse
from sengu.core.crd import CustomResource, PrinterColumn
from sengu.core.names import DNS_LABEL

KIND = "CronjobManager"
MAX_JOB_NAME = 52  # a CronJob's name is limited to 52 characters (its Jobs append 11)

Priority = Literal["low", "middle", "high"]
PRIORITY_ORDER: dict[str, int] = {"low": 0, "middle": 1, "high": 2}
ConcurrencyPolicy = Literal["Allow", "Forbid", "Replace"]
# The actions of a Kubernetes pod failure policy rule, which is what this becomes there (render.py).
LostAttemptPolicy = Literal["Count", "Ignore", "FailJob"]

_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_QUANTITY = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+|[KMGTPE]i?|[mkunMGTPE])?$")
_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")


def _job_name(value: str) -> str:
    if len(value) > MAX_JOB_NAME:
        raise ValueError(f"{value!r} is {len(value)} characters; job names are at most {MAX_JOB_NAME}")
    if not DNS_LABEL.match(value):
        raise ValueError(
            f"{value!r} is not a valid Kubernetes name: use lowercase letters, digits and '-', "
            "starting and ending with a letter or digit"
        )
    return value


def _resource_name(value: str) -> str:
    if len(value) > 253 or not _DNS_SUBDOMAIN.match(value):
        raise ValueError(
            f"{value!r} is not a valid Kubernetes name: lowercase letters, digits, '-' and '.', at most 253 characters"
        )
    return value


def _command(value: str | list[str]) -> str | list[str]:
    if isinstance(value, str):
        if not value.strip():
            raise ValueError("command is empty")
    elif not value or not value[0]:
        raise ValueError("command needs at least a program name")
    return value


def _env(value: dict[str, str]) -> dict[str, str]:
    for key in value:
        if not _ENV_NAME.match(key):
            raise ValueError(f"{key!r} is not a valid environment variable name")
    return value


def _quantities(value: dict[str, str]) -> dict[str, str]:
    for key, qty in value.items():
        if not _QUANTITY.match(str(qty)):
            raise ValueError(f"{key}: {qty!r} is not a Kubernetes quantity (e.g. 500m, 1, 256Mi, 2Gi)")
    return value


@functools.lru_cache(maxsize=4096)
def _cron(value: str) -> str:
    # Syntax only, so these problems are reported with every other field problem at once. H is expanded
    # with the job's name later (resolve.py); any seed shows whether the H forms are well made.
    try:
        parse(value, "UTC", seed="validation")
    except ScheduleError as exc:
        raise ValueError(f"{value!r}: {exc}") from None
    return value


@functools.lru_cache(maxsize=1024)
def _zone(value: str) -> str:
    try:
        load_zone(value)
    except ScheduleError as exc:
        raise ValueError(str(exc)) from None
    return value


Cron = Annotated[str, AfterValidator(_cron)]
TimeZone = Annotated[str, AfterValidator(_zone)]
# The CRD checks the name too, so `kubectl apply` refuses a bad one before the operator sees it.
JobName = Annotated[
    str,
    AfterValidator(_job_name),
    WithJsonSchema({"type": "string", "pattern": DNS_LABEL.pattern, "maxLength": MAX_JOB_NAME}),
]
ResourceName = Annotated[str, AfterValidator(_resource_name)]
Command = Annotated[str | list[str], AfterValidator(_command)]
EnvVars = Annotated[dict[str, str | int | float | bool], AfterValidator(_env)]
Quantities = Annotated[dict[str, str | int | float], AfterValidator(_quantities)]


class Model(BaseModel):
    model_config = ConfigDict(
        extra="forbid", alias_generator=to_camel, populate_by_name=True, frozen=True, strict=False
    )


class SecretSource(Model):
    """Where a secret comes from: a file (first line, trimmed) or an environment variable. Never inline."""

    file: str | None = None
    env: str | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> SecretSource:
        if (self.file is None) == (self.env is None):
            raise ValueError("give exactly one of 'file' or 'env'")
        return self


NotifyEvent = Literal["failure", "missed", "recovery", "success"]


class SlackNotifications(Model):
    webhook_url: SecretSource = Field(description="Slack incoming-webhook URL, from a file or env var.")
    on: list[NotifyEvent] = Field(
        default_factory=lambda: list[NotifyEvent](["failure", "missed"]),
        description="Events that send a message: failure (final, after retries), missed, recovery, success.",
    )


class SentryNotifications(Model):
    dsn: SecretSource = Field(description="Sentry DSN, from a file or env var.")
    environment: str | None = None
    checkin_margin_minutes: int = Field(default=5, ge=1, description="Minutes late before Sentry marks a miss.")
    max_runtime_minutes: int | None = Field(
        default=None, ge=1, description="Minutes before Sentry marks a timeout; default from activeDeadlineSeconds."
    )


class Notifications(Model):
    slack: SlackNotifications | None = None
    sentry: SentryNotifications | None = None


class Resources(Model):
    requests: Quantities = Field(default_factory=dict)
    limits: Quantities = Field(default_factory=dict)


class Placement(Model):
    """Where pods may run on Kubernetes. Ignored by the embedded engine (it runs on this machine)."""

    arch: Literal["amd64", "arm64"] | None = None
    capacity_type: Literal["spot", "on-demand"] | None = None
    node_selector: dict[str, str] = Field(default_factory=dict)
    tolerations: list[dict[str, str | int]] = Field(default_factory=list)


class JobSettings(Model):
    """Settings a job inherits from spec.defaults and may override. None means 'inherit'."""

    image: str | None = Field(default=None, description="Container image on Kubernetes; unused when embedded.")
    working_dir: str | None = None
    env: EnvVars | None = None
    resources: Resources | None = None
    time_zone: TimeZone | None = Field(default=None, description="IANA time zone of the schedule (default UTC).")
    concurrency_policy: ConcurrencyPolicy | None = Field(
        default=None, description="Allow, Forbid (default: never overlap) or Replace."
    )
    backoff_limit: int | None = Field(default=None, ge=0, le=100, description="Retries after a failure (default 0).")
    lost_attempt_policy: LostAttemptPolicy | None = Field(
        default=None,
        description="An attempt cut short by the engine's death or drain (on Kubernetes: a disrupted pod). "
        "Count (default): a failure against backoffLimit, so with backoffLimit 0 a scheduled time never starts "
        "twice; Ignore: retried without counting (a run lost more than 3 times fails); FailJob: the run fails.",
    )
    active_deadline_seconds: int | None = Field(
        default=None, ge=1, description="Whole-run deadline, retries included; the process tree is killed."
    )
    starting_deadline_seconds: int | None = Field(
        default=None, ge=0, description="How late a run may still start (default 300); later runs count as missed."
    )
    successful_jobs_history_limit: int | None = Field(default=None, ge=0)
    failed_jobs_history_limit: int | None = Field(default=None, ge=0)
    ttl_seconds_after_finished: int | None = Field(
        default=None,
        ge=0,
        description="Seconds a finished run and its logs are kept (a Job and its pods on Kubernetes; default 7 days).",
    )
    service_account_name: str | None = None
    placement: Placement | None = None
    notifications: Notifications | None = None


class PriorityClassNames(Model):
    """Kubernetes PriorityClass per job priority; a priority without one gets the cluster's default."""

    low: str | None = None
    middle: str | None = None
    high: str | None = None


class Defaults(JobSettings):
    priority_class_names: PriorityClassNames | None = Field(
        default=None, description="Kubernetes only: the PriorityClass of each job priority's pods."
    )


class Recovery(Model):
    command: Command = Field(description="Run once after a run's final failure, with the job's env and workingDir.")


class OnFailure(Model):
    recovery: Recovery | None = None


class Job(JobSettings):
    name: JobName
    command: Command = Field(description="A string runs with /bin/sh -c; a list is the argv.")
    schedule: Cron | None = Field(default=None, description="Cron expression (5 fields or @macro; H hashes).")
    schedules: list[Cron] | None = Field(default=None, min_length=1, description="Several cron expressions.")
    priority: Priority = Field(default="high", description="Migration order: low moves first, high last.")
    suspend: bool = False
    on_failure: OnFailure | None = None

    @model_validator(mode="after")
    def _one_schedule_field(self) -> Job:
        if (self.schedule is None) == (self.schedules is None):
            raise ValueError("give exactly one of 'schedule' or 'schedules'")
        return self


class Migration(Model):
    stage: Priority = Field(
        default="high",
        description="Jobs whose priority is above the stage are suspended here (they still run on the old host).",
    )


class CronjobManagerSpec(Model):
    defaults: Defaults = Field(default_factory=Defaults)
    migration: Migration = Field(default_factory=Migration)
    jobs: list[Job] = Field(min_length=1)


class Metadata(Model):
    name: ResourceName
    namespace: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)


class Observed(BaseModel):
    """Status written by the operator: what it observed. Unknown fields are ignored, never an error."""

    model_config = ConfigDict(extra="ignore", alias_generator=to_camel, populate_by_name=True)


class LastFailure(Observed):
    time: datetime
    reason: str = Field(
        description="Classified cause: BackoffLimitExceeded, DeadlineExceeded, OOMKilled, ImagePullBackOff, "
        "Evicted, Preempted, Error (non-zero exit)..."
    )
    message: str = Field(default="", description="Details: exit code, pod, container, last events.")
    job_name: str | None = Field(default=None, description="The Kubernetes Job that failed.")
    exit_code: int | None = Field(default=None, description="The container's exit code, when it exited.")


class Condition(Observed):
    type: str
    status: Literal["True", "False", "Unknown"]
    reason: str = ""
    message: str = ""
    last_transition_time: datetime | None = None


class JobStatus(Observed):
    cron_jobs: list[str] = Field(default_factory=list, description="The CronJobs of this job (one per schedule).")
    suspended: bool = Field(default=False, description="Suspended on the cluster (suspend, or above the stage).")
    last_schedule_time: datetime | None = None
    last_successful_time: datetime | None = None
    last_failure: LastFailure | None = None
    active: int = Field(default=0, ge=0, description="Runs (Kubernetes Jobs) of this job running now.")
    missed: int = Field(default=0, ge=0, description="Scheduled times that never started, as the operator counted.")


class CronjobManagerStatus(Observed):
    # Other controllers (kopf's progress storage) may keep their own fields here: keep them, don't prune.
    model_config = ConfigDict(json_schema_extra={"x-kubernetes-preserve-unknown-fields": True})

    observed_generation: int | None = Field(default=None, description="metadata.generation last reconciled.")
    stage: Priority | None = Field(default=None, description="The migration stage last reconciled.")
    active_jobs: int | None = Field(default=None, ge=0, description="Jobs not suspended.")
    conditions: list[Condition] = Field(default_factory=list, description="Ready: whether the CronJobs match the spec.")
    job_count: int | None = Field(default=None, ge=0, description="Jobs in the spec.")
    active: int | None = Field(default=None, ge=0, description="Runs of all jobs running now.")
    jobs: dict[str, JobStatus] = Field(default_factory=dict, description="Per job, by name.")


class CronjobManager(Model):
    """Scheduled jobs of one service: each becomes a Kubernetes CronJob (one per schedule)."""

    api_version: Literal["sengu.dev/v1alpha1"]
    kind: Literal["CronjobManager"]
    metadata: Metadata
    spec: CronjobManagerSpec
    status: CronjobManagerStatus | None = Field(default=None, description="Written by the operator.")


RESOURCE = CustomResource(
    model=CronjobManager,
    group="sengu.dev",
    version="v1alpha1",
    kind=KIND,
    plural="cronjobmanagers",
    short_names=("cjm",),
    categories=("sengu",),
    printer_columns=(
        PrinterColumn("Jobs", "integer", ".status.jobCount", "Jobs in the spec."),
        PrinterColumn("Active", "integer", ".status.active", "Runs of all jobs running now."),
        PrinterColumn("Stage", "string", ".spec.migration.stage", "Migration stage: jobs above it are suspended."),
        PrinterColumn("Age", "date", ".metadata.creationTimestamp"),
    ),
)
