"""`sengu load capacity`: from a knee measured on N pods of one size, the pods a target peak needs.

Per-pod capacity is the knee divided by the pods it was measured on — which assumes throughput scales
linearly with the pod count. It does not when something shared (a database, a cache, a lock) is the
bottleneck, so the plan says so and the knee should be measured again at the planned size ("start small,
watch how the bottleneck moves"). With a baseline (the old fleet and its knee) the plan also says how many
pods of this size match the fleet, and what each side asks in CPU and memory.

Pure arithmetic; quantities are Kubernetes quantities (``500m``, ``2``, ``1.5Gi``, ``512Mi``).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from sengu.core.errors import UserError
from sengu.load.numbers import fmt_num, fmt_pct, fmt_rate

_QUANTITY = re.compile(
    r"^(?P<number>[+-]?(?:\d+(?:\.\d*)?|\.\d+))(?:(?P<exponent>[eE][+-]?\d+)|(?P<suffix>[A-Za-z]+))?$"
)
_SUFFIXES: dict[str, Decimal] = {
    "Ki": Decimal(2) ** 10,
    "Mi": Decimal(2) ** 20,
    "Gi": Decimal(2) ** 30,
    "Ti": Decimal(2) ** 40,
    "Pi": Decimal(2) ** 50,
    "Ei": Decimal(2) ** 60,
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "": Decimal(1),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
}
_GIB = 2**30

LINEAR_SCALING = (
    "throughput scales linearly with the pod count (per-pod capacity = knee / pods measured); a shared "
    "bottleneck (database, cache) breaks that — measure the knee again at the planned size"
)


def parse_quantity(text: str, *, name: str = "quantity") -> Decimal:
    """A Kubernetes quantity (``500m``, ``1.5Gi``, ``2``, ``1e3``) as an exact number."""
    cleaned = text.strip().replace(" ", "")
    # "8GiB" is how people (and EC2's docs) write memory; Kubernetes writes "8Gi". Accept both.
    if len(cleaned) > 3 and cleaned.endswith("iB") and cleaned[-3] in "KMGTPE":
        cleaned = cleaned[:-1]
    match = _QUANTITY.match(cleaned)
    suffix = (match.group("suffix") or "") if match else ""
    if match is None or suffix not in _SUFFIXES:
        raise UserError(
            f"{name} {text!r} is not a Kubernetes quantity (like 500m, 2, 1.5Gi, 512Mi; suffixes "
            "n u m k M G T P E, Ki Mi Gi Ti Pi Ei)"
        )
    try:
        number = Decimal(match.group("number"))
        if match.group("exponent"):
            number = number.scaleb(int(match.group("exponent")[1:]))
    except (InvalidOperation, ValueError) as e:
        raise UserError(f"{name} {text!r} is not a number Kubernetes accepts") from e
    return number * _SUFFIXES[suffix]


def parse_cpu(value: str | float, *, name: str = "CPU") -> float:
    """CPU in cores: ``500m`` → 0.5, ``2`` → 2.0. Must be at least 1m, the smallest Kubernetes schedules."""
    if isinstance(value, str):
        if re.search(r"[KMGTPE]i$", value.strip()):
            raise UserError(f"{name} {value!r} is a memory size, not CPU (like 500m or 2)")
        cores = parse_quantity(value, name=name)
    else:
        if not math.isfinite(value):
            raise UserError(f"{name} must be a finite number of cores, not {value}")
        cores = Decimal(str(value))
    if cores < Decimal("0.001"):
        raise UserError(f"{name} {value!r} is below 1m, the smallest CPU request Kubernetes allows")
    return float(cores)


def parse_memory(value: str | int, *, name: str = "memory") -> int:
    """Memory in bytes: ``512Mi`` → 536870912, ``1G`` → 1000000000; a bare integer is bytes."""
    if isinstance(value, int):
        amount = Decimal(value)
    else:
        stripped = value.strip()
        if stripped.endswith("m"):
            # Valid Kubernetes (millibytes), and always a typo for M or Mi.
            raise UserError(
                f"{name} {value!r} means thousandths of a byte; write {stripped[:-1]}Mi or {stripped[:-1]}M"
            )
        amount = parse_quantity(value, name=name)
    if amount < 1:
        raise UserError(f"{name} {value!r} must be at least one byte")
    return math.ceil(amount)


def fmt_cpu(cores: float) -> str:
    """Cores the Kubernetes way: 0.5 → "500m", 2 → "2", 1.25 → "1250m"."""
    millis = round(cores * 1000, 6)
    if millis == int(millis) and int(millis) % 1000:
        return f"{int(millis)}m"
    return fmt_num(cores)


def fmt_memory(size: int) -> str:
    """Bytes in the largest binary unit that keeps the number readable: "1.5 GiB", "512 MiB"."""
    for unit, factor in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if size >= factor:
            return f"{fmt_num(round(size / factor, 2))} {unit}"
    return f"{size} B"


def _ceil(value: float) -> int:
    # 10,000 × 1.3 / 1,000 is 13.000000000000002 in floats: that is 13 pods, not 14.
    return math.ceil(round(value, 9))


@dataclass(frozen=True)
class Baseline:
    """The old fleet: its knee (measured like ours), how many instances and of what kind.

    ``vcpu`` and ``memory`` are per instance (``4`` and ``"8Gi"`` for a c5.xlarge).
    """

    knee_rate: float
    instances: int
    instance_type: str
    vcpu: str | float
    memory: str | int

    def describe(self) -> str:
        cpu = parse_cpu(self.vcpu, name="baseline vCPU")
        memory = parse_memory(self.memory, name="baseline memory")
        return f"{self.instances} × {self.instance_type} ({fmt_num(cpu)} vCPU, {fmt_memory(memory)})"


@dataclass(frozen=True)
class Comparison:
    """Pods of the measured size against the baseline fleet, at the fleet's knee."""

    pods: int  # pods whose combined capacity reaches the fleet's knee
    pods_cpu: float  # cores requested by those pods
    pods_memory: int  # bytes requested by those pods
    fleet_cpu: float  # vCPU of the whole fleet
    fleet_memory: int  # bytes of the whole fleet
    cpu_ratio: float  # pods_cpu / fleet_cpu
    memory_ratio: float  # pods_memory / fleet_memory
    pod_rate_per_cpu: float  # requests/s per requested core, pods
    fleet_rate_per_cpu: float  # requests/s per vCPU, fleet


@dataclass(frozen=True)
class Plan:
    """The outcome of `sengu load capacity`."""

    knee_rate: float  # measured on `measured_pods` pods
    measured_pods: int
    pod_cpu: float  # cores per pod
    pod_memory: int  # bytes per pod
    per_pod_rate: float
    target_peak: float
    headroom: float  # 0.3 is 30 %
    required_rate: float  # target_peak × (1 + headroom)
    pods: int
    total_cpu: float
    total_memory: int
    baseline: Baseline | None = None
    comparison: Comparison | None = None
    assumptions: list[str] = field(default_factory=lambda: [LINEAR_SCALING])


def plan(
    knee_rate: float,
    pods: int,
    pod_cpu: str | float,
    pod_memory: str,
    target_peak: float,
    headroom: float = 0.3,
    baseline: Baseline | None = None,
) -> Plan:
    """Pods of size ``pod_cpu``/``pod_memory`` needed for ``target_peak`` requests/s with ``headroom``.

    ``knee_rate`` is the knee measured on ``pods`` pods of that size (`sengu load step`); ``headroom`` is a
    fraction (0.3: plan for 30 % above the peak). Raises UserError on inputs that cannot make a plan.
    """
    if not (math.isfinite(knee_rate) and knee_rate > 0):
        raise UserError(f"the knee rate must be a positive number of requests/s, not {knee_rate}")
    if pods < 1:
        raise UserError(f"the knee was measured on at least one pod, not {pods}")
    if not (math.isfinite(target_peak) and target_peak > 0):
        raise UserError(f"the target peak must be a positive number of requests/s, not {target_peak}")
    if not (math.isfinite(headroom) and headroom >= 0):
        raise UserError(f"headroom is a fraction of the peak, 0 or more (0.3 for 30%), not {headroom}")
    cpu = parse_cpu(pod_cpu, name="pod CPU")
    memory = parse_memory(pod_memory, name="pod memory")
    per_pod = knee_rate / pods
    required = target_peak * (1 + headroom)
    needed = max(1, _ceil(required / per_pod))
    comparison = _compare(baseline, per_pod, cpu, memory) if baseline is not None else None
    return Plan(
        knee_rate=knee_rate,
        measured_pods=pods,
        pod_cpu=cpu,
        pod_memory=memory,
        per_pod_rate=per_pod,
        target_peak=target_peak,
        headroom=headroom,
        required_rate=required,
        pods=needed,
        total_cpu=needed * cpu,
        total_memory=needed * memory,
        baseline=baseline,
        comparison=comparison,
    )


def _compare(baseline: Baseline, per_pod: float, cpu: float, memory: int) -> Comparison:
    if not (math.isfinite(baseline.knee_rate) and baseline.knee_rate > 0):
        raise UserError(f"the baseline knee rate must be a positive number of requests/s, not {baseline.knee_rate}")
    if baseline.instances < 1:
        raise UserError(f"the baseline fleet needs at least one instance, not {baseline.instances}")
    instance_cpu = parse_cpu(baseline.vcpu, name="baseline vCPU")
    instance_memory = parse_memory(baseline.memory, name="baseline memory")
    pods = max(1, _ceil(baseline.knee_rate / per_pod))
    fleet_cpu = baseline.instances * instance_cpu
    fleet_memory = baseline.instances * instance_memory
    return Comparison(
        pods=pods,
        pods_cpu=pods * cpu,
        pods_memory=pods * memory,
        fleet_cpu=fleet_cpu,
        fleet_memory=fleet_memory,
        cpu_ratio=pods * cpu / fleet_cpu,
        memory_ratio=pods * memory / fleet_memory,
        pod_rate_per_cpu=per_pod / cpu,
        fleet_rate_per_cpu=baseline.knee_rate / fleet_cpu,
    )


def _pods(n: int) -> str:
    return f"{n} pod" if n == 1 else f"{n} pods"


def format_plan(plan: Plan) -> str:
    """The plan for the terminal: a short table, the sentence that answers the question, the assumption."""
    size = f"{fmt_cpu(plan.pod_cpu)} CPU / {fmt_memory(plan.pod_memory)}"
    rows = [
        ("measured knee", f"{fmt_rate(plan.knee_rate)} on {_pods(plan.measured_pods)} of {size}"),
        ("per pod", fmt_rate(plan.per_pod_rate)),
        ("target peak", fmt_rate(plan.target_peak)),
        ("with headroom", f"{fmt_rate(plan.required_rate)} (+{fmt_pct(plan.headroom)})"),
        ("pods needed", f"{plan.pods}"),
        ("requests", f"{fmt_num(plan.total_cpu)} CPU, {fmt_memory(plan.total_memory)}"),
    ]
    lines: list[str] = []
    width = max(len(label) for label, _ in rows)
    lines.extend(f"{label:<{width}}  {value}" for label, value in rows)
    lines.append("")
    lines.append(
        f"{_pods(plan.pods)} of {size} serve {fmt_rate(plan.target_peak)} with {fmt_pct(plan.headroom)} headroom."
    )
    if plan.baseline is not None and plan.comparison is not None:
        base, comp = plan.baseline, plan.comparison
        lines.append("")
        table = [
            ("", "pods", "fleet"),
            ("count", _pods(comp.pods), base.describe()),
            ("capacity", fmt_rate(comp.pods * plan.per_pod_rate), fmt_rate(base.knee_rate)),
            ("CPU", f"{fmt_num(comp.pods_cpu)} CPU", f"{fmt_num(comp.fleet_cpu)} vCPU"),
            ("memory", fmt_memory(comp.pods_memory), fmt_memory(comp.fleet_memory)),
            ("per core", fmt_rate(comp.pod_rate_per_cpu), fmt_rate(comp.fleet_rate_per_cpu)),
        ]
        w0 = max(len(r[0]) for r in table)
        w1 = max(len(r[1]) for r in table)
        lines.extend(f"{a:<{w0}}  {b:<{w1}}  {c}".rstrip() for a, b, c in table)
        lines.append("")
        verb = "matches" if comp.pods == 1 else "match"
        lines.append(
            f"{_pods(comp.pods)} of {size} {verb} the EC2 fleet of {base.describe()} "
            f"(knee {fmt_rate(base.knee_rate)}), requesting {fmt_pct(comp.cpu_ratio)} of its CPU "
            f"and {fmt_pct(comp.memory_ratio)} of its memory."
        )
    lines.append("")
    lines.extend(f"Assumes: {a}." for a in plan.assumptions)
    return "\n".join(lines)
