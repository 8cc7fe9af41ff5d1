"""The CronjobManager resource: the single source for validation, docs and (later) the CRD schema."""

from __future__ import annotations

import functools
import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

from sengu.batch.schedule import ScheduleError, load_zone, parse

KIND = "CronjobManager"
MAX_JOB_NAME = 52  # a CronJob's name is limited to 52 characters (its Jobs append 11)

Priority = Literal["low", "middle", "high"]
PRIORITY_ORDER: dict[str, int] = {"low": 0, "middle": 1, "high": 2}
ConcurrencyPolicy = Literal["Allow", "Forbid", "Replace"]

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_QUANTITY = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+|[KMGTPE]i?|[mkunMGTPE])?$")
_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")


def _job_name(value: str) -> str:
    if len(value) > MAX_JOB_NAME:
        raise ValueError(f"{value!r} is {len(value)} characters; job names are at most {MAX_JOB_NAME}")
    if not _DNS_LABEL.match(value):
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
JobName = Annotated[str, AfterValidator(_job_name)]
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
    active_deadline_seconds: int | None = Field(
        default=None, ge=1, description="Whole-run deadline, retries included; the process tree is killed."
    )
    starting_deadline_seconds: int | None = Field(
        default=None, ge=0, description="How late a run may still start (default 300); later runs count as missed."
    )
    successful_jobs_history_limit: int | None = Field(default=None, ge=0)
    failed_jobs_history_limit: int | None = Field(default=None, ge=0)
    service_account_name: str | None = None
    placement: Placement | None = None
    notifications: Notifications | None = None


class Defaults(JobSettings):
    pass


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


class CronjobManager(Model):
    api_version: Literal["sengu.dev/v1alpha1"]
    kind: Literal["CronjobManager"]
    metadata: Metadata
    spec: CronjobManagerSpec
