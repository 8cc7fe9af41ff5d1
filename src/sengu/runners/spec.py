"""The RunnerPool resource: the single source for validation, docs (docs/runners.md) and the CRD schema.

Checks that span fields (the default backend exists, policy roles are declared, backend names are unique…)
run in the spec's model validator and report each problem at the field it is about, so `sengu` prints
them as file:line:col like every other problem. Secrets are named here (a file or an environment
variable), never written inline, and never read while loading: the engine reads them when it starts.
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    WithJsonSchema,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic_core import InitErrorDetails, PydanticCustomError

from sengu.core.crd import CustomResource, PrinterColumn
from sengu.core.duration import parse_duration
from sengu.core.names import DnsLabel, dns_label, is_dns_label

if TYPE_CHECKING:
    from sengu.core.errors import Problem
    from sengu.core.notify import SecretSource
    from sengu.core.spec import Document

KIND = "RunnerPool"

Arch = Literal["x64", "arm64"]
OwnerType = Literal["organization", "user"]
Capacity = Literal["spot", "on-demand"]
BackendKind = Literal["local", "ecs", "codebuild", "kubernetes"]
ComputeType = Literal[
    "BUILD_GENERAL1_SMALL",
    "BUILD_GENERAL1_MEDIUM",
    "BUILD_GENERAL1_LARGE",
    "BUILD_GENERAL1_XLARGE",
    "BUILD_GENERAL1_2XLARGE",
]
COMPUTE_TYPES: tuple[ComputeType, ...] = (
    "BUILD_GENERAL1_SMALL",
    "BUILD_GENERAL1_MEDIUM",
    "BUILD_GENERAL1_LARGE",
    "BUILD_GENERAL1_XLARGE",
    "BUILD_GENERAL1_2XLARGE",
)

# Labels with a fixed meaning (compared case-insensitively, as GitHub compares labels); a backend may not
# take one of these names, or a name with one of the prefixes, or a job could not say what it means.
RESERVED_LABELS: frozenset[str] = frozenset(
    {"self-hosted", "sengu", "linux", "x64", "arm64", "spot", "on-demand", "windows", "macos"}
)
RESERVED_PREFIXES: tuple[str, ...] = ("cpu-", "mem-", "role-")

_LOGIN = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$")
_REPO = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,38}/[A-Za-z0-9._-]{1,100}$")
_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_GLOB_CHARS = frozenset("*?[")
JITCONFIG = "{jitconfig}"


# --------------------------------------------------------------------------------------------------
# Field types


def _backend_name(value: str) -> str:
    dns_label(value)
    if value in RESERVED_LABELS or value.startswith(RESERVED_PREFIXES):
        raise ValueError(
            f"{value!r} is a label with its own meaning; name the backend otherwise (e.g. 'fargate', 'k8s')"
        )
    return value


def _login(value: str) -> str:
    if not _LOGIN.match(value):
        raise ValueError(f"{value!r} is not a GitHub account name (letters, digits and '-', at most 39)")
    return value


def _repository(value: str) -> str:
    if not _REPO.match(value):
        raise ValueError(f"{value!r} is not a repository: write OWNER/NAME, e.g. my-org/app")
    return value


def _repo_glob(value: str) -> str:
    if not value.strip() or value != value.strip():
        raise ValueError(f"{value!r} is not a repository pattern: write OWNER/NAME with * or ? as wildcards")
    return value


def _role_arn(value: str) -> str:
    if not _ROLE_ARN.match(value):
        raise ValueError(f"{value!r} is not an IAM role ARN (arn:aws:iam::123456789012:role/NAME)")
    return value


def _env_name(value: str) -> str:
    if not _ENV_NAME.match(value):
        raise ValueError(f"{value!r} is not an environment variable name")
    return value


def _api_url(value: str) -> str:
    url = value.strip().rstrip("/")
    if not re.match(r"^https?://[^/\s]+(/\S*)?$", url):
        raise ValueError(f"{value!r} is not an http(s) URL; GitHub's is https://api.github.com")
    if re.match(r"^https?://(www\.)?github\.com$", url, flags=re.I):
        raise ValueError(f"{value!r} is GitHub's web address; its API is https://api.github.com")
    return url


def _command(value: list[str]) -> list[str]:
    if not value or not value[0]:
        raise ValueError("command needs at least a program name")
    if not any(JITCONFIG in arg for arg in value):
        raise ValueError(f"command must pass the runner its JIT config: put {JITCONFIG} in an argument")
    return value


# Every limit is a timeout or a retention: a year is past any sensible one, and far enough from where
# `now - duration` overflows a datetime (which would stop every pool's timeouts, not only this one's).
MAX_DURATION_S = 365 * 86400


def _at_most_a_year(seconds: int) -> int:
    if seconds > MAX_DURATION_S:
        raise ValueError(f"{seconds} seconds is too long: at most 365d ({MAX_DURATION_S} seconds)")
    return seconds


Duration = Annotated[
    int,
    BeforeValidator(parse_duration),
    AfterValidator(_at_most_a_year),
    # Kubernetes' int-or-string: the API server then takes both `600` and `10m`; the operator parses.
    WithJsonSchema({"anyOf": [{"type": "integer"}, {"type": "string"}]}),
]
BackendName = Annotated[str, AfterValidator(_backend_name)]
Login = Annotated[str, AfterValidator(_login)]
Repository = Annotated[str, AfterValidator(_repository)]
RepositoryGlob = Annotated[str, AfterValidator(_repo_glob)]
RoleArn = Annotated[str, AfterValidator(_role_arn)]
EnvName = Annotated[str, AfterValidator(_env_name)]
ApiUrl = Annotated[str, AfterValidator(_api_url)]
Command = Annotated[list[str], AfterValidator(_command)]
NonEmpty = Annotated[str, Field(min_length=1)]


class Model(BaseModel):
    model_config = ConfigDict(
        extra="forbid", alias_generator=to_camel, populate_by_name=True, frozen=True, strict=False
    )


# --------------------------------------------------------------------------------------------------
# Models


class SecretRef(Model):
    """Where a secret comes from: a file (its content, trimmed) or an environment variable. Never inline."""

    file: str | None = Field(default=None, description="Path of a file holding the secret.")
    env: EnvName | None = Field(default=None, description="Name of an environment variable holding the secret.")

    @model_validator(mode="after")
    def _exactly_one(self) -> SecretRef:
        if (self.file is None) == (self.env is None):
            raise ValueError("give exactly one of 'file' or 'env'")
        return self

    def source(self) -> SecretSource:
        from sengu.core.notify import SecretSource

        return SecretSource(file=self.file, env=self.env)


class GitHub(Model):
    """The GitHub App that registers runners, and whose jobs this pool serves."""

    api_url: ApiUrl = Field(
        default="https://api.github.com",
        description="GitHub's API; GitHub Enterprise Server: https://HOST/api/v3.",
    )
    app_id: int = Field(ge=1, description="The GitHub App's id.")
    installation_id: int = Field(ge=1, description="The App's installation on the owner's account.")
    private_key_file: str | None = Field(default=None, description="The App's private key (PEM), from this file.")
    private_key_env: EnvName | None = Field(default=None, description="… or from this environment variable.")
    webhook_secret_file: str | None = Field(default=None, description="The App's webhook secret, from this file.")
    webhook_secret_env: EnvName | None = Field(default=None, description="… or from this environment variable.")
    webhook_secret_previous: SecretRef | None = Field(
        default=None,
        description="While rotating: the secret being replaced, also accepted (a file or an env var).",
    )
    owner: Login | None = Field(default=None, description="Serve every repository of this organization or user.")
    owner_type: OwnerType = Field(
        default="organization",
        description="What owner is: an organization (organization runners, in runnerGroupId) or a user "
        "(GitHub has no user runners: each repository gets its own).",
    )
    repositories: list[Repository] | None = Field(
        default=None, min_length=1, description="… or only these repositories (OWNER/NAME, one owner)."
    )
    runner_group_id: int = Field(default=1, ge=1, description="Runner group of organization runners (1: Default).")
    ca_file: str | None = Field(
        default=None,
        description="PEM file of CA certificates trusted for apiUrl besides the usual ones (GitHub Enterprise "
        "Server with its own CA). Proxies come from HTTPS_PROXY and NO_PROXY.",
    )

    @model_validator(mode="after")
    def _sources(self) -> GitHub:
        problems = _github_problems(self.model_dump(by_alias=True))
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def account(self) -> str:
        """The organization or user whose repositories are served."""
        if self.owner is not None:
            return self.owner
        assert self.repositories
        return self.repositories[0].split("/")[0]

    @property
    def org_runners(self) -> bool:
        """Runners are registered on the organization (else on each repository: a user's, or listed ones)."""
        return self.owner is not None and self.owner_type == "organization"

    def runner_scope(self, repository: str) -> str:
        """Where a runner for a job of `repository` is registered: the organization, or the repository."""
        return self.owner if self.org_runners and self.owner is not None else repository

    @property
    def scope(self) -> str:
        """The repositories served, in words: "owner my-org" or "repositories my-org/a, my-org/b"."""
        if self.owner is not None:
            return f"owner {self.owner}"
        return f"repositories {', '.join(self.repositories or [])}"

    def serves(self, repository: str) -> bool:
        """Whether jobs of `repository` (OWNER/NAME) are this pool's. GitHub names are case-insensitive."""
        wanted = repository.lower()
        if self.repositories is not None:
            return wanted in {r.lower() for r in self.repositories}
        return wanted.split("/")[0] == self.account.lower() and "/" in wanted

    def private_key(self) -> SecretSource:
        from sengu.core.notify import SecretSource

        return SecretSource(file=self.private_key_file, env=self.private_key_env)

    def webhook_secret(self) -> SecretSource:
        from sengu.core.notify import SecretSource

        return SecretSource(file=self.webhook_secret_file, env=self.webhook_secret_env)

    def webhook_secrets(self) -> list[SecretSource]:
        """Every webhook secret a delivery may be signed with: the current one, then the previous one."""
        previous = self.webhook_secret_previous
        return [self.webhook_secret(), *([previous.source()] if previous is not None else [])]


def _is_org(owner_type: Any) -> bool:
    return owner_type is None or owner_type == "organization"


def _github_problems(data: dict[str, Any]) -> list[str]:
    """The checks between github's fields, on its camelCase data: the model's, or raw data that did not
    validate (so these are reported along with its field problems)."""
    problems = []
    group = data.get("runnerGroupId")
    if group is not None and group != 1 and data.get("owner") is not None and not _is_org(data.get("ownerType")):
        problems.append(
            f"runnerGroupId {group}: runner groups belong to organizations; a user's repositories get "
            "repository runners in the Default group (1): leave runnerGroupId out"
        )
    for what in ("privateKeyFile", "webhookSecretFile"):
        other = what.replace("File", "Env")
        if (data.get(what) is None) == (data.get(other) is None):
            problems.append(f"give exactly one of '{what}' or '{other}'")
    repositories = data.get("repositories")
    if (data.get("owner") is None) == (repositories is None):
        problems.append("give exactly one of 'owner' (every repository of an account) or 'repositories'")
    elif isinstance(repositories, list):
        owners = sorted({r.split("/")[0].lower() for r in repositories if isinstance(r, str) and "/" in r})
        if len(owners) > 1:
            problems.append(
                f"repositories belong to {len(owners)} owners ({', '.join(owners)}); a GitHub App installation "
                "covers one account: make one RunnerPool per owner"
            )
    return problems


class LocalBackend(Model):
    """A process on the machine that runs `sengu up`, in a fresh work directory per runner."""

    command: Command = Field(description="The runner's argv; {jitconfig} is replaced by the runner's JIT config.")
    work_dir: str | None = Field(
        default=None, description="Where each runner gets a fresh directory (default: under SENGU_HOME)."
    )
    env: dict[EnvName, str] = Field(default_factory=dict, description="Extra environment of the runner process.")
    arch: Arch | None = Field(default=None, description="This machine's architecture (default: detected).")
    max_cpu: float | None = Field(default=None, gt=0, description="Largest vCPU count a job may ask for here.")
    max_memory_gib: float | None = Field(
        default=None, gt=0, alias="maxMemoryGiB", description="Largest memory (GiB) a job may ask for here."
    )


class EcsBackend(Model):
    """ECS RunTask on Fargate or Fargate Spot; cpu, memory and task role are overridden per job."""

    cluster: NonEmpty = Field(description="ECS cluster name or ARN.")
    task_definition: NonEmpty | None = Field(
        default=None, description="Task definition (family[:revision] or ARN) for x64 jobs; its image is used."
    )
    arm64_task_definition: NonEmpty | None = Field(
        default=None, description="Task definition for arm64 jobs (runtimePlatform ARM64); without it arm64 is refused."
    )
    container: NonEmpty = Field(default="runner", description="The container that runs the runner.")
    subnets: list[NonEmpty] = Field(min_length=1, description="Subnets of the task's network interface.")
    security_groups: list[NonEmpty] = Field(default_factory=list, description="Security groups of the task.")
    assign_public_ip: bool = Field(default=False, description="Give the task a public IP (subnets without NAT).")
    platform_version: NonEmpty | None = Field(default=None, description="Fargate platform version (default LATEST).")
    region: NonEmpty | None = Field(default=None, description="AWS region (default: the environment's).")

    @model_validator(mode="after")
    def _a_task_definition(self) -> EcsBackend:
        if self.task_definition is None and self.arm64_task_definition is None:
            raise ValueError("give 'taskDefinition' (x64), 'arm64TaskDefinition', or both")
        return self


class CodeBuildBackend(Model):
    """CodeBuild StartBuild with a compute type, image and environment overrides."""

    project: NonEmpty = Field(description="CodeBuild project name.")
    image: NonEmpty | None = Field(default=None, description="Image for x64 builds (default: the project's).")
    arm64_image: NonEmpty | None = Field(
        default=None, description="Image for arm64 builds (ARM_CONTAINER); without it arm64 is refused."
    )
    compute_types: list[ComputeType] = Field(
        default_factory=lambda: list(COMPUTE_TYPES),
        min_length=1,
        description="Compute types this account and region may use (default: all five BUILD_GENERAL1 sizes).",
    )
    region: NonEmpty | None = Field(default=None, description="AWS region (default: the environment's).")


class KubernetesBackend(Model):
    """A Pod per runner."""

    namespace: DnsLabel = Field(description="Namespace of the runner pods.")
    image: NonEmpty = Field(description="Runner image (multi-arch, or the x64 one when arm64Image is given).")
    arm64_image: NonEmpty | None = Field(default=None, description="Runner image for arm64 jobs.")
    service_account: NonEmpty | None = Field(default=None, description="ServiceAccount of jobs without a role.")
    service_accounts: dict[str, NonEmpty] = Field(
        default_factory=dict,
        description="ServiceAccount per role name (default: sengu-runner-ROLE), e.g. with an IRSA annotation.",
    )
    node_selector: dict[str, str] = Field(default_factory=dict, description="Extra node selector of every pod.")
    spot_nodes: bool = Field(
        default=False,
        description="The cluster has spot and on-demand nodes labelled karpenter.sh/capacity-type; "
        "without it, spot jobs are refused.",
    )
    max_cpu: float | None = Field(default=None, gt=0, description="Largest vCPU count a job may ask for here.")
    max_memory_gib: float | None = Field(
        default=None, gt=0, alias="maxMemoryGiB", description="Largest memory (GiB) a job may ask for here."
    )


class Backend(Model):
    """A named place runners run: exactly one of local, ecs, codebuild, kubernetes."""

    name: BackendName = Field(description="Unique; a job picks this backend with a runs-on label of this name.")
    local: LocalBackend | None = None
    ecs: EcsBackend | None = None
    codebuild: CodeBuildBackend | None = None
    kubernetes: KubernetesBackend | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Backend:
        given = [k for k in ("local", "ecs", "codebuild", "kubernetes") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of 'local', 'ecs', 'codebuild' or 'kubernetes'"
                + (f" (got {', '.join(given)})" if given else "")
            )
        return self

    @property
    def kind(self) -> BackendKind:
        for kind in ("local", "ecs", "codebuild", "kubernetes"):
            if getattr(self, kind) is not None:
                return kind
        raise AssertionError("a Backend has exactly one kind")


class PolicyEntry(Model):
    """What jobs of matching repositories may ask for. A field left out says nothing (see docs/runners.md)."""

    repositories: list[RepositoryGlob] = Field(
        min_length=1, description="OWNER/NAME patterns (* and ? wildcards, case-insensitive)."
    )
    backends: list[str] | None = Field(default=None, description="Backends these repositories may use.")
    max_cpu: float | None = Field(default=None, gt=0, description="Most vCPU a job may get (after rounding up).")
    max_memory_gib: float | None = Field(
        default=None, gt=0, alias="maxMemoryGiB", description="Most memory (GiB) a job may get (after rounding up)."
    )
    roles: list[str] | None = Field(default=None, description="Roles these repositories may use ([] = none).")
    capacity: list[Capacity] | None = Field(default=None, description="Capacity types allowed (spot, on-demand).")


class Defaults(Model):
    """What a job gets when its labels do not say."""

    cpu: float = Field(default=2, gt=0, description="vCPU of a job without a cpu-N label.")
    memory_gib: float | None = Field(
        default=None,
        gt=0,
        alias="memoryGiB",
        description="Memory (GiB) of a job without a mem-Ng label (default: the least the backend pairs with "
        "the vCPU; 2 GiB per vCPU on kubernetes and local).",
    )
    capacity: Capacity = Field(
        default="on-demand",
        description="Capacity of a job without spot/on-demand; on-demand where spot is not possible.",
    )


class Limits(Model):
    max_runners: int = Field(default=100, ge=1, description="Runners alive at once; more jobs wait queued.")
    boot_timeout: Duration = Field(default=600, description="A runner not connected to GitHub by then is replaced.")
    idle_timeout: Duration = Field(default=600, description="A runner without a job for this long is removed.")
    max_job_duration: Duration = Field(default=21600, description="A job running longer is stopped.")
    delivery_retention: Duration = Field(
        default=7 * 86400,
        description="How long webhook deliveries are kept; those of jobs not yet over are kept until they are.",
    )
    reconcile_interval: Duration = Field(
        default=60,
        description="How often queued jobs are listed from GitHub (recovering lost webhooks) and the janitor runs; "
        "each round costs API calls per repository.",
    )


class SlackReport(Model):
    webhook_url: SecretRef = Field(description="Slack incoming-webhook URL, from a file or env var.")


class Rejections(Model):
    """Where a rejected job is reported (it is always logged and counted)."""

    check_run: bool = Field(
        default=True, description="A failed check run with the reason on the job's commit (App needs checks:write)."
    )
    slack: SlackReport | None = Field(default=None, description="A Slack message per rejected job.")


class Warm(Model):
    """Runners kept up before any job asks, for one label set: a job they cover starts without a cold start."""

    labels: list[NonEmpty] = Field(
        min_length=1,
        description="The runners' labels, as a job's runs-on would give them (self-hosted and sengu included).",
    )
    count: int = Field(ge=1, description="Idle runners of these labels kept up; each one used is replaced.")


class RunnerPoolSpec(Model):
    github: GitHub
    default_backend: str | None = Field(
        default=None, description="Backend of jobs without a backend label (required with several backends)."
    )
    backends: list[Backend] = Field(min_length=1)
    roles: dict[str, RoleArn] = Field(
        default_factory=dict, description="IAM roles jobs may ask for with role-NAME, by name."
    )
    policy: list[PolicyEntry] = Field(default_factory=list, description="Per-repository limits.")
    defaults: Defaults = Field(default_factory=Defaults)
    limits: Limits = Field(default_factory=Limits)
    rejections: Rejections = Field(default_factory=Rejections)
    warm: list[Warm] = Field(
        default_factory=list,
        description="Warm runners per label set, kept idle for jobs that cannot wait for a launch "
        "(pools with github.owner; counted in maxRunners).",
    )

    @model_validator(mode="after")
    def _cross_check(self) -> RunnerPoolSpec:
        # A ValidationError (not a ValueError) keeps each problem's own location, so it is reported at the
        # field it is about instead of at `spec:`.
        errors = [
            InitErrorDetails(
                type=PydanticCustomError("cross_field", "{message}", {"message": message}), loc=loc, input=None
            )
            for loc, message in cross_problems(self)
        ]
        if errors:
            raise ValidationError.from_exception_data(type(self).__name__, errors)
        return self

    def backend(self, name: str) -> Backend | None:
        """The backend called `name` (case-insensitive, as labels are), or None."""
        wanted = name.lower()
        return next((b for b in self.backends if b.name == wanted), None)

    @property
    def default(self) -> Backend:
        """The backend of jobs that name none."""
        name = self.default_backend if self.default_backend is not None else self.backends[0].name
        found = self.backend(name)
        assert found is not None, "checked when the spec was validated"
        return found


@dataclass(frozen=True)
class _PolicyShape:
    roles: tuple[str, ...] | None
    backends: tuple[str, ...] | None
    repositories: tuple[str | None, ...]


@dataclass(frozen=True)
class _Shape:
    """What the checks between fields look at. From a valid spec, or — when some fields are wrong, and pydantic
    then never runs the spec's own checks — from whatever of the raw data is valid, so that one run reports
    every problem. None stands for "not known" (the field itself is wrong): checks that need it are skipped."""

    backend_names: tuple[str | None, ...]
    default_backend: str | None
    default_given: bool
    roles: tuple[str, ...]
    service_accounts: tuple[tuple[int, tuple[str, ...]], ...]
    policy: tuple[_PolicyShape, ...]
    github: GitHub | None
    github_problems: tuple[str, ...] = ()  # github's own checks between fields, when github did not validate
    warm: tuple[tuple[tuple[str, ...] | None, int | None], ...] = ()  # (labels, count) of each warm entry
    max_runners: int | None = None


def _shape(spec: RunnerPoolSpec) -> _Shape:
    return _Shape(
        backend_names=tuple(b.name for b in spec.backends),
        default_backend=spec.default_backend,
        default_given=spec.default_backend is not None,
        roles=tuple(spec.roles),
        service_accounts=tuple(
            (i, tuple(b.kubernetes.service_accounts)) for i, b in enumerate(spec.backends) if b.kubernetes is not None
        ),
        policy=tuple(
            _PolicyShape(
                None if e.roles is None else tuple(e.roles),
                None if e.backends is None else tuple(e.backends),
                tuple(e.repositories),
            )
            for e in spec.policy
        ),
        github=spec.github,
        warm=tuple((tuple(w.labels), w.count) for w in spec.warm),
        max_runners=spec.limits.max_runners,
    )


def _count_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 1 else None


def _strings_or_none(value: Any) -> tuple[str, ...] | None:
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    return None


def _valid(check: Any, value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    try:
        return str(check(value))
    except ValueError:
        return None


def _raw_shape(spec: Any) -> _Shape | None:
    """The shape of a spec that did not validate, from its raw data (None when it is not even a mapping)."""
    if not isinstance(spec, dict):
        return None
    raw_backends = spec.get("backends")
    backends = raw_backends if isinstance(raw_backends, list) else []
    names = tuple(_valid(_backend_name, b.get("name")) if isinstance(b, dict) else None for b in backends)
    accounts = []
    for i, b in enumerate(backends):
        kube = b.get("kubernetes") if isinstance(b, dict) else None
        if isinstance(kube, dict) and isinstance(kube.get("serviceAccounts"), dict):
            accounts.append((i, tuple(str(k) for k in kube["serviceAccounts"])))
    raw_roles = spec.get("roles")
    roles = tuple(str(k) for k in raw_roles) if isinstance(raw_roles, dict) else None
    policy = []
    raw_policy = spec.get("policy")
    for entry in raw_policy if isinstance(raw_policy, list) else []:
        if not isinstance(entry, dict):
            policy.append(_PolicyShape(None, None, ()))
            continue
        repos = entry.get("repositories")
        policy.append(
            _PolicyShape(
                _strings_or_none(entry.get("roles")),
                _strings_or_none(entry.get("backends")),
                tuple(_valid(_repo_glob, r) for r in repos) if isinstance(repos, list) else (),
            )
        )
    raw_github = spec.get("github")
    github_problems: tuple[str, ...] = ()
    try:
        github: GitHub | None = GitHub.model_validate(raw_github)
    except ValidationError:
        github = None
        if isinstance(raw_github, dict):
            github_problems = tuple(_github_problems(raw_github))
    default = spec.get("defaultBackend")
    raw_warm = spec.get("warm")
    warm = tuple(
        (_strings_or_none(e.get("labels")), _count_or_none(e.get("count"))) if isinstance(e, dict) else (None, None)
        for e in (raw_warm if isinstance(raw_warm, list) else [])
    )
    limits = spec.get("limits")
    raw_max = limits.get("maxRunners", 100) if isinstance(limits, dict) else 100 if limits is None else None
    return _Shape(
        # Backends that are not a list: nothing is known about them (their own problem is reported).
        backend_names=names if isinstance(raw_backends, list) else (None,),
        default_backend=default if isinstance(default, str) else None,
        default_given=default is not None,
        # Roles unknown: the checks of references to roles see every role as declared.
        roles=roles if roles is not None else (),
        service_accounts=tuple(accounts) if roles is not None else (),
        policy=tuple(replace(p, roles=None) if roles is None else p for p in policy),
        github=github,
        github_problems=github_problems,
        warm=warm,
        max_runners=_count_or_none(raw_max),
    )


def cross_problems(spec: RunnerPoolSpec | _Shape) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """Problems between fields, each at the field it is about (a location relative to the spec)."""
    shape = spec if isinstance(spec, _Shape) else _shape(spec)
    found = list(_between_fields(shape))
    yield from found
    yield from _warm_shape_problems(shape)
    if isinstance(spec, RunnerPoolSpec):
        # Resolving warm labels as a job's needs backends, roles and policy that hold together: with any
        # problem above, only the warm checks that need no resolving are made.
        yield from warm_problems(spec, resolve=not found)


def _between_fields(shape: _Shape) -> Iterator[tuple[tuple[str | int, ...], str]]:
    if shape.github_problems:
        yield ("github",), "; ".join(shape.github_problems)
    names = shape.backend_names
    complete = None not in names  # every backend's name is known: a missing name can be told apart
    first: dict[str, int] = {}
    for i, name in enumerate(names):
        if name is None:
            continue
        if name in first:
            yield ("backends", i, "name"), f"duplicate backend name {name!r} (first used by backends[{first[name]}])"
        first.setdefault(name, i)
    known = ", ".join(first)
    if not shape.default_given:
        if len(names) > 1:
            yield ("backends",), f"with several backends, give defaultBackend (one of {known}) for jobs that name none"
    elif complete and shape.default_backend is not None and shape.default_backend not in first:
        yield ("defaultBackend",), f"{shape.default_backend!r} is not a backend; backends: {known}"
    for role in shape.roles:
        if not is_dns_label(role):
            yield ("roles", role), f"role name {role!r} must be lowercase letters, digits and '-' (label role-NAME)"
    roles = ", ".join(shape.roles) or "none declared"
    for b_index, accounts in shape.service_accounts:
        for role in accounts:
            if role not in shape.roles:
                yield (
                    ("backends", b_index, "kubernetes", "serviceAccounts", role),
                    f"{role!r} is not a role in spec.roles ({roles})",
                )
    for p_index, entry in enumerate(shape.policy):
        at = ("policy", p_index)
        for r_index, role in enumerate(entry.roles or ()):
            if role not in shape.roles:
                yield (*at, "roles", r_index), f"{role!r} is not a role in spec.roles ({roles})"
        for n_index, name in enumerate(entry.backends or ()):
            if complete and name not in first:
                yield (*at, "backends", n_index), f"{name!r} is not a backend; backends: {known}"
        if shape.github is None:
            continue
        for g_index, glob in enumerate(entry.repositories):
            if glob is not None and not _can_match(shape.github, glob):
                yield (
                    (*at, "repositories", g_index),
                    f"{glob!r} matches no repository this pool serves ({shape.github.scope})",
                )


def _warm_shape_problems(shape: _Shape) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """The warm checks that need no resolving, so also made when other fields are wrong."""
    if not shape.warm:
        return
    if shape.github is not None and shape.github.owner is None:
        yield ("warm",), "warm runners are registered for the whole owner: give github.owner, not repositories"
    elif shape.github is not None and not shape.github.org_runners:
        yield ("warm",), "warm runners are registered on an organization; a user's runners are per repository"
        return
    counts = [count for _, count in shape.warm]
    total = sum(count for count in counts if count is not None)
    if shape.max_runners is not None and None not in counts and total > shape.max_runners:
        yield ("warm",), f"{total} warm runners exceed limits.maxRunners ({shape.max_runners})"
    keys: dict[tuple[str, ...], int] = {}
    for index, (labels, _) in enumerate(shape.warm):
        if labels is None:
            continue
        key = warm_key(labels)
        if key in keys:
            yield ("warm", index, "labels"), f"the same label set as warm[{keys[key]}]; give one entry a larger count"
        keys.setdefault(key, index)


def warm_problems(spec: RunnerPoolSpec, *, resolve: bool = True) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """Each warm label set must resolve as a job's labels would, for every repository the pool's policy
    names: GitHub hands a warm runner to any job of the owner whose labels it covers, whatever our policy
    says about that job's repository. The checks that need no resolving are _warm_shape_problems'."""
    from sengu.runners.labels import Launch, resolve_labels

    if not spec.warm or spec.github.owner is None or not resolve:
        return
    keys: set[tuple[str, ...]] = set()
    for index, entry in enumerate(spec.warm):
        key = warm_key(entry.labels)
        if key in keys:  # a duplicate: reported once, as such
            continue
        keys.add(key)
        at: tuple[str | int, ...] = ("warm", index, "labels")
        for repository, who in _policy_repositories(spec).items():
            answer = resolve_labels(spec, entry.labels, repository)
            if answer is None:
                yield at, "warm labels must include self-hosted and sengu, as a job's runs-on does"
                break
            if not isinstance(answer, Launch):
                yield at, f"a job of {who} may take a warm runner, but could not ask for these labels: {answer.reason}"
                break


def warm_key(labels: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """A label set as GitHub compares it: case-insensitive, order and repeats ignored."""
    return tuple(sorted({label.lower() for label in labels}))


def _policy_repositories(spec: RunnerPoolSpec) -> dict[str, str]:
    """A repository of the owner no policy entry names, and one standing for each entry's patterns (→ how
    to name them in a message)."""
    account = spec.github.account
    out = {f"{account}/xxx-warm": f"any repository of {account}"}
    for entry in spec.policy:
        for pattern in entry.repositories:
            if "/" in pattern and "[" not in pattern:
                owner, name = pattern.split("/", 1)
                repo = f"{account if is_glob(owner) else owner}/{re.sub(r'[*?]', 'x', name)}"
                if spec.github.serves(repo):
                    out.setdefault(repo, pattern)
    return out


def _can_match(github: GitHub, glob: str) -> bool:
    pattern = glob.lower()
    if github.repositories is not None:
        return any(fnmatch.fnmatchcase(r.lower(), pattern) for r in github.repositories)
    if "/" not in pattern:
        return is_glob(pattern)  # a plain word can never match OWNER/NAME; `*` or `my-*` may
    owner_part = pattern.split("/", 1)[0]
    # Only a literal owner part can be judged cheaply; a wildcard one is given the benefit of the doubt.
    return is_glob(owner_part) or owner_part == github.account.lower()


def is_glob(pattern: str) -> bool:
    return bool(_GLOB_CHARS & set(pattern))


class Metadata(Model):
    name: DnsLabel
    namespace: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)


class RunnerPool(Model):
    """One ephemeral GitHub Actions runner per workflow job, on the backend the job's labels ask for."""

    api_version: Literal["sengu.dev/v1alpha1"]
    kind: Literal["RunnerPool"]
    metadata: Metadata
    spec: RunnerPoolSpec

    @property
    def name(self) -> str:
        return self.metadata.name


def load_pool(doc: Document) -> RunnerPool:
    """Validate one RunnerPool document. Relative secret files are relative to the spec file."""
    from sengu.core.errors import UserError
    from sengu.core.spec import validate

    try:
        pool = validate(doc, RunnerPool)
    except UserError as exc:
        raise UserError(_with_cross_problems(doc, exc.problems)) from None
    if doc.path.startswith("<"):
        return pool
    base = os.path.dirname(os.path.abspath(doc.path))
    gh = pool.spec.github
    update: dict[str, Any] = {}
    for field in ("private_key_file", "webhook_secret_file", "ca_file"):
        value = getattr(gh, field)
        if value is not None:
            update[field] = _relative_to(value, base)
    previous = gh.webhook_secret_previous
    if previous is not None and previous.file is not None:
        update["webhook_secret_previous"] = previous.model_copy(update={"file": _relative_to(previous.file, base)})
    spec_update: dict[str, Any] = {"github": gh.model_copy(update=update)}
    slack = pool.spec.rejections.slack
    if slack is not None and slack.webhook_url.file is not None:
        url = slack.webhook_url.model_copy(update={"file": _relative_to(slack.webhook_url.file, base)})
        rejections = pool.spec.rejections.model_copy(update={"slack": slack.model_copy(update={"webhook_url": url})})
        spec_update["rejections"] = rejections
    return pool.model_copy(update={"spec": pool.spec.model_copy(update=spec_update)})


def _with_cross_problems(doc: Document, problems: list[Problem]) -> list[Problem]:
    """Field problems, and the problems between fields that the valid part of the spec shows, in file order."""
    data = doc.data.get("spec") if isinstance(doc.data, dict) else None
    shape = _raw_shape(data)
    found = list(problems)
    seen = {str(p) for p in found}
    for loc, message in cross_problems(shape) if shape is not None else ():
        # Worded as pydantic's problems are (core/spec.py), so one found both ways is reported once.
        field = next((part for part in reversed(loc) if isinstance(part, str)), "")
        problem = doc.problem(("spec", *loc), f"{field}: {message}" if field else message)
        if str(problem) not in seen:
            seen.add(str(problem))
            found.append(problem)
    return sorted(found, key=lambda p: (p.location.line or 0, p.location.col or 0) if p.location else (0, 0))


def _relative_to(path: str, base: str) -> str:
    expanded = os.path.expanduser(path)
    return expanded if os.path.isabs(expanded) else os.path.normpath(os.path.join(base, expanded))


RESOURCE = CustomResource(
    model=RunnerPool,
    group="sengu.dev",
    version="v1alpha1",
    kind=KIND,
    plural="runnerpools",
    short_names=("rp",),
    categories=("sengu",),
    printer_columns=(
        PrinterColumn("Default", "string", ".spec.defaultBackend", "Backend of jobs that name none."),
        PrinterColumn("Age", "date", ".metadata.creationTimestamp"),
    ),
)
