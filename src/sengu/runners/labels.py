"""A job's runs-on labels → one launch (backend, arch, size, capacity, role, image) or a rejection. Pure.

A job is ours when its labels include `self-hosted` and `sengu`. The rest say what it needs: a backend
name, `x64`/`arm64`, `cpu-N`, `mem-Ng`, `spot`/`on-demand`, `role-NAME` (and `linux`, which every runner
is). Labels compare case-insensitively, as GitHub compares them (`X64`, `ARM64` and `Linux` are GitHub's
own spellings). Sizes are rounded up to the smallest the backend offers: a Fargate cpu/memory pair or a
CodeBuild compute type; kubernetes and local take them as asked (to the millicore and MiB).

The policy (spec.policy) is applied field by field: for each of backends, maxCpu, maxMemoryGiB, roles and
capacity, the most specific entry matching the repository that sets the field decides — an exact
OWNER/NAME beats any pattern, a pattern with more literal characters beats one with fewer, and on a tie
the later entry wins. So a broad entry sets limits for an organization and a narrow one lifts or tightens
one field for one repository without repeating the rest. Roles are denied unless an entry allows them.

Sizes are checked against the policy after rounding up, because what is rounded up is what is paid for.
Numbers are Decimals from the label text, so rounding never loses a millicore to binary floating point.
"""

from __future__ import annotations

import fnmatch
import platform
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, Decimal
from typing import Any, Literal

from sengu.runners.spec import Arch, Backend, Capacity, ComputeType, RunnerPoolSpec, is_glob

__all__ = [
    "CODEBUILD_SIZES",
    "FARGATE_SIZES",
    "Launch",
    "Rejection",
    "Size",
    "effective_policy",
    "host_arch",
    "is_ours",
    "resolve_labels",
]

MEMORY_PER_VCPU_GIB = Decimal(2)  # unasked memory on kubernetes/local: Fargate's smallest ratio, for every cpu
_NUMBER = r"(\d{1,6}(?:\.\d{1,3})?|\.\d{1,3})"
_CPU = re.compile(rf"^cpu-{_NUMBER}$")
_MEM = re.compile(rf"^mem-{_NUMBER}g$")
_OTHER_OS = frozenset({"windows", "macos", "osx"})
_GITHUB_HOSTED_HINT = re.compile(r"^(ubuntu|windows|macos)-")


@dataclass(frozen=True)
class Launch:
    backend: str  # name of a backend in the pool
    kind: Literal["local", "ecs", "codebuild", "kubernetes"]
    arch: Literal["x64", "arm64"]
    vcpu: float  # after rounding up to what the backend offers
    memory_gib: float
    capacity: Literal["spot", "on-demand"]
    role: str | None  # role NAME from spec.roles; the ARN is looked up by the backend
    role_arn: str | None
    image: str | None
    labels: tuple[str, ...]  # the runs-on labels, as the runner must register them
    # backend-specific, e.g. {"fargateCpu": "1024", "fargateMemory": "2048"} or {"computeType": "BUILD_GENERAL1_MEDIUM"}
    detail: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "kind": self.kind,
            "arch": self.arch,
            "vcpu": self.vcpu,
            "memoryGiB": self.memory_gib,
            "capacity": self.capacity,
            "role": self.role,
            "roleArn": self.role_arn,
            "image": self.image,
            "labels": list(self.labels),
            "detail": dict(self.detail),
        }


@dataclass(frozen=True)
class Rejection:
    reason: str  # one line, what and why, e.g. "label 'cpu-64': the policy for my-org/app allows at most 4 vCPU"


# --------------------------------------------------------------------------------------------------
# What backends offer


@dataclass(frozen=True)
class Size:
    """One size a backend offers."""

    vcpu: Decimal
    memory_gib: Decimal
    name: str  # how the backend calls it, for messages: "BUILD_GENERAL1_SMALL", "1024/2048"
    detail: tuple[tuple[str, str], ...]


def _fargate_sizes() -> tuple[Size, ...]:
    # https://docs.aws.amazon.com/AmazonECS/latest/developerguide/fargate-tasks-services.html (task cpu/memory)
    table: list[tuple[str, list[Decimal]]] = [
        ("0.25", [Decimal("0.5"), Decimal(1), Decimal(2)]),
        ("0.5", [Decimal(g) for g in range(1, 5)]),
        ("1", [Decimal(g) for g in range(2, 9)]),
        ("2", [Decimal(g) for g in range(4, 17)]),
        ("4", [Decimal(g) for g in range(8, 31)]),
        ("8", [Decimal(g) for g in range(16, 61, 4)]),
        ("16", [Decimal(g) for g in range(32, 121, 8)]),
    ]
    out = []
    for cpu, memories in table:
        vcpu = Decimal(cpu)
        units = str(int(vcpu * 1024))
        for gib in memories:
            mib = str(int(gib * 1024))
            out.append(Size(vcpu, gib, f"{units}/{mib}", (("fargateCpu", units), ("fargateMemory", mib))))
    return tuple(out)


FARGATE_SIZES: tuple[Size, ...] = _fargate_sizes()

# https://docs.aws.amazon.com/codebuild/latest/userguide/build-env-ref-compute-types.html (EC2 on-demand)
_CODEBUILD: dict[Arch, list[tuple[ComputeType, int, int]]] = {
    "x64": [
        ("BUILD_GENERAL1_SMALL", 2, 3),
        ("BUILD_GENERAL1_MEDIUM", 4, 7),
        ("BUILD_GENERAL1_LARGE", 8, 15),
        ("BUILD_GENERAL1_XLARGE", 36, 70),
        ("BUILD_GENERAL1_2XLARGE", 72, 145),
    ],
    "arm64": [
        ("BUILD_GENERAL1_SMALL", 2, 4),
        ("BUILD_GENERAL1_MEDIUM", 4, 8),
        ("BUILD_GENERAL1_LARGE", 8, 16),
        ("BUILD_GENERAL1_XLARGE", 32, 64),
        ("BUILD_GENERAL1_2XLARGE", 48, 96),
    ],
}
_ENVIRONMENT_TYPE: dict[Arch, str] = {"x64": "LINUX_CONTAINER", "arm64": "ARM_CONTAINER"}
CODEBUILD_SIZES: dict[Arch, tuple[Size, ...]] = {
    arch: tuple(
        Size(
            Decimal(cpu),
            Decimal(mem),
            name,
            (("computeType", name), ("environmentType", _ENVIRONMENT_TYPE[arch])),
        )
        for name, cpu, mem in rows
    )
    for arch, rows in _CODEBUILD.items()
}


def host_arch() -> Arch:
    """This machine's architecture, for local backends that do not say theirs."""
    return "arm64" if platform.machine().lower() in ("aarch64", "arm64", "armv8l") else "x64"


# --------------------------------------------------------------------------------------------------
# Policy


@dataclass(frozen=True)
class Rule:
    """One policy field's value for a repository, and which entry set it (for messages)."""

    value: Any
    pattern: str


@dataclass(frozen=True)
class Policy:
    """The policy fields that apply to one repository; None where no matching entry sets the field."""

    repository: str
    backends: Rule | None = None
    max_cpu: Rule | None = None
    max_memory_gib: Rule | None = None
    roles: Rule | None = None
    capacity: Rule | None = None


def _specificity(pattern: str) -> tuple[int, int]:
    return (0 if is_glob(pattern) else 1, sum(1 for c in pattern if c not in "*?[]"))


def effective_policy(spec: RunnerPoolSpec, repository: str) -> Policy:
    """Field by field, the most specific matching entry that sets the field (ties: the later entry)."""
    repo = repository.lower()
    best: dict[str, tuple[tuple[int, int, int], Rule]] = {}
    for index, entry in enumerate(spec.policy):
        matching = [p for p in entry.repositories if fnmatch.fnmatchcase(repo, p.lower())]
        if not matching:
            continue
        pattern = max(matching, key=_specificity)
        rank = (*_specificity(pattern), index)
        for name in ("backends", "max_cpu", "max_memory_gib", "roles", "capacity"):
            value = getattr(entry, name)
            if value is not None and (name not in best or rank > best[name][0]):
                best[name] = (rank, Rule(value, pattern))
    return Policy(repository, **{name: rule for name, (_, rule) in best.items()})


# --------------------------------------------------------------------------------------------------
# Labels


def is_ours(labels: Sequence[str]) -> bool:
    """Whether a job with these runs-on labels is for sengu: they include `self-hosted` and `sengu`."""
    folded = {label.lower() for label in labels}
    return "self-hosted" in folded and "sengu" in folded


@dataclass
class _Ask:
    backend: str | None = None
    arch: Arch | None = None
    cpu: Decimal | None = None
    memory: Decimal | None = None
    capacity: Capacity | None = None
    role: str | None = None
    said: dict[str, str] = field(default_factory=dict)  # which label set each field, as written


def _parse(spec: RunnerPoolSpec, labels: Sequence[str]) -> tuple[_Ask, list[str]]:
    ask = _Ask()
    problems: list[str] = []

    def put(what: str, value: Any, label: str) -> None:
        if what in ask.said:
            first = ask.said[what]
            if getattr(ask, what) != value:
                problems.append(f"labels {first!r} and {label!r} conflict: give one {_WHAT[what]}")
            return
        setattr(ask, what, value)
        ask.said[what] = label

    for label in labels:
        key = label.lower()
        if key in ("self-hosted", "sengu", "linux"):
            continue
        if key in ("x64", "arm64"):
            put("arch", key, label)
        elif key in ("spot", "on-demand"):
            put("capacity", key, label)
        elif spec.backend(key) is not None:
            put("backend", key, label)
        elif key.startswith("cpu-"):
            m = _CPU.match(key)
            if m and Decimal(m.group(1)) > 0:
                put("cpu", Decimal(m.group(1)), label)
            else:
                problems.append(f"label {label!r}: cpu-N takes a number of vCPUs above 0, e.g. cpu-2 or cpu-0.5")
        elif key.startswith("mem-"):
            m = _MEM.match(key)
            if m and Decimal(m.group(1)) > 0:
                put("memory", Decimal(m.group(1)), label)
            else:
                problems.append(f"label {label!r}: mem-Ng takes GiB above 0 with a g, e.g. mem-8g or mem-0.5g")
        elif key.startswith("role-"):
            name = key[len("role-") :]
            if name in spec.roles:
                put("role", name, label)
            else:
                known = ", ".join(spec.roles) or "the pool declares none"
                problems.append(f"label {label!r}: no role {name!r} in the pool (roles: {known})")
        elif key in _OTHER_OS:
            problems.append(f"label {label!r}: sengu runners are Linux")
        else:
            hint = " (a GitHub-hosted runner name; drop it from runs-on)" if _GITHUB_HOSTED_HINT.match(key) else ""
            backends = ", ".join(b.name for b in spec.backends)
            problems.append(
                f"unknown label {label!r}{hint}: sengu understands a backend ({backends}), x64/arm64, cpu-N, "
                "mem-Ng, spot/on-demand and role-NAME"
            )
    return ask, problems


_WHAT = {
    "arch": "of x64 or arm64",
    "capacity": "of spot or on-demand",
    "backend": "backend",
    "cpu": "cpu-N",
    "memory": "mem-Ng",
    "role": "role-NAME",
}


def _num(value: Decimal) -> str:
    """2, 0.5, 16 — never 2.000 or 1.6E+1."""
    return format(value.normalize(), "f")


def _ceil(value: Decimal, step: Decimal) -> Decimal:
    return (value / step).to_integral_value(rounding=ROUND_CEILING) * step


# --------------------------------------------------------------------------------------------------
# Resolution


def resolve_labels(
    pool: RunnerPoolSpec,
    labels: Sequence[str],
    repository: str | None,
    *,
    capacity: Capacity | None = None,
) -> Launch | Rejection | None:
    """What a job with these runs-on labels gets, or why it gets nothing. None: not our job.

    `repository` (OWNER/NAME) selects the policy; None skips the policy and the pool's repository scope
    (for explaining labels without a repository — the engine always passes one). `capacity` overrides
    what the labels ask (the engine passes on-demand to relaunch a spot job after an interruption); it is
    still checked against the backend and the policy.
    """
    if not is_ours(labels):
        return None
    ask, problems = _parse(pool, labels)
    if problems:
        return Rejection("; ".join(problems))
    if repository is not None and not pool.github.serves(repository):
        return Rejection(f"repository {repository} is not served by this pool ({pool.github.scope})")
    backend = pool.backend(ask.backend) if ask.backend else pool.default
    assert backend is not None
    policy = effective_policy(pool, repository) if repository is not None else None
    arch: Arch = ask.arch or "x64"
    problems = [
        *_backend_problems(backend, ask, policy),
        *_arch_problems(backend, arch, ask),
        *_role_problems(backend, ask, policy),
    ]
    chosen, capacity_problems = _capacity(pool, backend, arch, ask, policy, capacity)
    problems.extend(capacity_problems)
    size, size_problem = _size(pool, backend, arch, ask, policy)
    if size_problem:
        problems.append(size_problem)
    if problems or size is None:
        return Rejection("; ".join(problems))
    image, detail = _placement(backend, arch, chosen, ask.role)
    return Launch(
        backend=backend.name,
        kind=backend.kind,
        arch=arch,
        vcpu=float(size.vcpu),
        memory_gib=float(size.memory_gib),
        capacity=chosen,
        role=ask.role,
        role_arn=pool.roles.get(ask.role) if ask.role else None,
        image=image,
        labels=_unique(labels),
        detail={**dict(size.detail), **detail},
    )


def _entry(rule: Rule) -> str:
    return f"(policy entry {rule.pattern!r})"


def _backend_problems(backend: Backend, ask: _Ask, policy: Policy | None) -> list[str]:
    if policy is None or policy.backends is None or backend.name in policy.backends.value:
        return []
    said = f"label {ask.said['backend']!r}" if ask.backend else f"the default backend {backend.name!r}"
    allowed = ", ".join(policy.backends.value) or "none"
    return [f"{said}: the policy for {policy.repository} allows backends {allowed} {_entry(policy.backends)}"]


def _arch_problems(backend: Backend, arch: Arch, ask: _Ask) -> list[str]:
    said = f"label {ask.said['arch']!r}" if ask.arch else "x64 (the default)"
    if backend.local is not None:
        local_arch = backend.local.arch or host_arch()
        if arch != local_arch:
            return [f"{said}: backend {backend.name} runs on this machine, which is {local_arch}"]
    elif backend.ecs is not None:
        task_definition = backend.ecs.arm64_task_definition if arch == "arm64" else backend.ecs.task_definition
        if task_definition is None:
            field_name = "arm64TaskDefinition" if arch == "arm64" else "taskDefinition"
            return [f"{said}: backend {backend.name} has no {field_name}"]
    elif backend.codebuild is not None and arch == "arm64" and backend.codebuild.arm64_image is None:
        return [f"{said}: backend {backend.name} has no arm64Image for ARM_CONTAINER builds"]
    return []


def _role_problems(backend: Backend, ask: _Ask, policy: Policy | None) -> list[str]:
    if ask.role is None:
        return []
    said = f"label {ask.said['role']!r}"
    problems = []
    if backend.local is not None:
        problems.append(f"{said}: backend {backend.name} is a process on this machine and takes no IAM role")
    if policy is not None:
        if policy.roles is None:
            problems.append(f"{said}: no policy entry for {policy.repository} allows roles")
        elif ask.role not in policy.roles.value:
            allowed = ", ".join(policy.roles.value) if policy.roles.value else "no roles"
            problems.append(f"{said}: the policy for {policy.repository} allows {allowed} {_entry(policy.roles)}")
    return problems


def _capacity(
    pool: RunnerPoolSpec, backend: Backend, arch: Arch, ask: _Ask, policy: Policy | None, override: Capacity | None
) -> tuple[Capacity, list[str]]:
    """Asked capacity (a label, or the engine's override) is firm; the default bends to what is possible."""
    spot_possible, why_not = _spot_possible(backend, arch)
    allowed_rule = policy.capacity if policy is not None else None
    firm = override or ask.capacity
    if firm is not None:
        said = f"label {ask.said['capacity']!r}" if ask.capacity and not override else f"capacity {firm}"
        problems = []
        if firm == "spot" and not spot_possible:
            problems.append(f"{said}: {why_not}")
        if policy is not None and allowed_rule is not None and firm not in allowed_rule.value:
            allowed = ", ".join(allowed_rule.value) or "none"
            problems.append(
                f"{said}: the policy for {policy.repository} allows capacity {allowed} {_entry(allowed_rule)}"
            )
        return firm, problems
    preferred = pool.defaults.capacity
    options: list[Capacity] = [preferred, "on-demand" if preferred == "spot" else "spot"]
    usable = [c for c in options if c == "on-demand" or spot_possible]
    if policy is None or allowed_rule is None:
        return usable[0], []
    permitted = [c for c in usable if c in allowed_rule.value]
    if permitted:
        return permitted[0], []
    allowed = ", ".join(allowed_rule.value) or "none"
    return usable[0], [
        f"backend {backend.name} offers {', '.join(usable)}; the policy for {policy.repository} allows capacity "
        f"{allowed} {_entry(allowed_rule)}"
    ]


def _placement(backend: Backend, arch: Arch, capacity: Capacity, role: str | None) -> tuple[str | None, dict[str, str]]:
    """The image, and what the backend needs beyond the size, for the launch."""
    if backend.ecs is not None:
        ecs = backend.ecs
        return None, {
            "taskDefinition": str(ecs.arm64_task_definition if arch == "arm64" else ecs.task_definition),
            "capacityProvider": "FARGATE_SPOT" if capacity == "spot" else "FARGATE",
            "cpuArchitecture": "ARM64" if arch == "arm64" else "X86_64",
        }
    if backend.codebuild is not None:
        return (backend.codebuild.arm64_image if arch == "arm64" else backend.codebuild.image), {}
    if backend.kubernetes is not None:
        kube = backend.kubernetes
        detail = {"nodeArch": "arm64" if arch == "arm64" else "amd64"}
        if kube.spot_nodes:
            detail["capacityType"] = capacity
        account = kube.service_accounts.get(role, f"sengu-runner-{role}") if role else kube.service_account
        if account:
            detail["serviceAccount"] = account
        return (kube.arm64_image if arch == "arm64" and kube.arm64_image else kube.image), detail
    return None, {}


def _unique(labels: Sequence[str]) -> tuple[str, ...]:
    seen: set[str] = set()
    out = []
    for label in labels:
        if label.lower() not in seen:
            seen.add(label.lower())
            out.append(label)
    return tuple(out)


def _spot_possible(backend: Backend, arch: Arch) -> tuple[bool, str]:
    if backend.ecs is not None:
        if arch == "arm64":
            return False, f"Fargate Spot runs x64 only (backend {backend.name}): drop spot or arm64"
        return True, ""
    if backend.codebuild is not None:
        return False, f"CodeBuild has no spot capacity (backend {backend.name})"
    if backend.kubernetes is not None:
        if backend.kubernetes.spot_nodes:
            return True, ""
        return False, f"backend {backend.name} has no spot nodes (kubernetes.spotNodes is false)"
    return False, f"backend {backend.name} runs on this machine and has no spot capacity"


def _size(
    pool: RunnerPoolSpec, backend: Backend, arch: Arch, ask: _Ask, policy: Policy | None
) -> tuple[Size | None, str | None]:
    """The smallest size ≥ what is asked, within the policy; or why there is none."""
    cpu = ask.cpu if ask.cpu is not None else Decimal(str(pool.defaults.cpu))
    default_memory = pool.defaults.memory_gib
    memory = ask.memory if ask.memory is not None else Decimal(str(default_memory)) if default_memory else None
    asked = [repr(ask.said[k]) for k in ("cpu", "memory") if k in ask.said]
    said = f"label{'s' if len(asked) > 1 else ''} {', '.join(asked)}" if asked else "the default size"

    offers: tuple[Size, ...]
    if backend.ecs is not None:
        offers, what = FARGATE_SIZES, "Fargate"
    elif backend.codebuild is not None:
        allowed = set(backend.codebuild.compute_types)
        offers, what = tuple(s for s in CODEBUILD_SIZES[arch] if s.name in allowed), "CodeBuild"
    else:
        spec_backend = backend.kubernetes or backend.local
        assert spec_backend is not None
        vcpu = _ceil(cpu, Decimal("0.001"))
        gib = memory if memory is not None else vcpu * MEMORY_PER_VCPU_GIB
        gib = _ceil(gib, Decimal(1) / Decimal(1024))
        max_cpu, max_memory = spec_backend.max_cpu, spec_backend.max_memory_gib
        if max_cpu is not None and vcpu > Decimal(str(max_cpu)):
            return None, f"{said}: backend {backend.name} offers at most {_num(Decimal(str(max_cpu)))} vCPU"
        if max_memory is not None and gib > Decimal(str(max_memory)):
            return None, f"{said}: backend {backend.name} offers at most {_num(Decimal(str(max_memory)))} GiB"
        detail: tuple[tuple[str, str], ...] = ()
        if backend.kubernetes is not None:
            detail = (("cpu", _kube_cpu(vcpu)), ("memory", _kube_memory(gib)))
        offers, what = (Size(vcpu, gib, f"{_num(vcpu)} vCPU/{_num(gib)} GiB", detail),), backend.kind

    fits = [s for s in offers if s.vcpu >= cpu and (memory is None or s.memory_gib >= memory)]
    if not fits:
        top_cpu = max(s.vcpu for s in offers)
        top_memory = max(s.memory_gib for s in offers)
        if cpu > top_cpu:
            return None, f"{said}: backend {backend.name} ({what}, {arch}) offers at most {_num(top_cpu)} vCPU"
        return None, f"{said}: backend {backend.name} ({what}, {arch}) offers at most {_num(top_memory)} GiB"
    smallest = min(fits, key=lambda s: (s.vcpu, s.memory_gib))
    if policy is None:
        return smallest, None
    caps = (
        (policy.max_cpu, "vcpu", ask.cpu, "vCPU"),
        (policy.max_memory_gib, "memory_gib", ask.memory, "GiB of memory"),
    )
    within = [
        s for s in fits if all(rule is None or getattr(s, get) <= Decimal(str(rule.value)) for rule, get, _, _ in caps)
    ]
    if within:
        return min(within, key=lambda s: (s.vcpu, s.memory_gib)), None
    # A cap the ask itself exceeds is the plainest reason; one broken only by rounding up comes second.
    order = sorted(caps, key=lambda c: not (c[0] is not None and c[2] is not None and c[2] > Decimal(str(c[0].value))))
    for rule, get, asked_value, unit in order:
        cap = Decimal(str(rule.value)) if rule is not None else None
        if rule is not None and cap is not None and getattr(smallest, get) > cap:
            # When the ask itself is within the cap, the rounding (or the pairing) is what breaks it: say so.
            resolves = ""
            if asked_value is None or asked_value <= cap:
                got = f"{_num(smallest.vcpu)} vCPU and {_num(smallest.memory_gib)} GiB"
                resolves = f" resolves to {got} on backend {backend.name} ({smallest.name});"
            return None, (
                f"{said}:{resolves} the policy for {policy.repository} allows at most {_num(cap)} {unit} "
                f"(policy entry {rule.pattern!r})"
            )
    raise AssertionError("a smallest size within every cap would have been found above")


def _kube_cpu(vcpu: Decimal) -> str:
    return _num(vcpu) if vcpu == vcpu.to_integral_value() else f"{int(vcpu * 1000)}m"


def _kube_memory(gib: Decimal) -> str:
    return f"{_num(gib)}Gi" if gib == gib.to_integral_value() else f"{int(gib * 1024)}Mi"
