"""What a CronjobManager becomes on Kubernetes: one batch/v1 CronJob per job and schedule. Pure: no I/O.

The CronJobs carry the same effective settings the embedded engine acts on (resolve.py: defaults merged,
H expanded, the migration stage applied), plus what only a cluster needs: image, placement, PriorityClass,
TTL. See docs/batch.md, "On Kubernetes", for every choice made here.

Rendering needs the model as written beside the resolved Manager: JobPlan has neither the TTL nor the
PriorityClass mapping, and its workingDir is already made absolute against the spec file's directory,
which means nothing inside a container.
"""

from __future__ import annotations

import functools
import gc
import hashlib
import math
import posixpath
import re
import sys
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from fractions import Fraction
from typing import Any

from sengu.batch.resolve import JobPlan, Manager, resolve
from sengu.batch.spec import KIND, RESOURCE, CronjobManager, Job, JobSettings
from sengu.core import yamlout
from sengu.core.errors import Location, Problem, UserError
from sengu.core.spec import Document, Loc, validate

MAX_NAME = 52  # a CronJob's name: its Jobs append "-" and a 10-digit time, and must fit in a 63-char label
MAX_LABEL_VALUE = 63
# Long enough to read last week's failure of a weekly job; bounds what manual runs and orphaned Jobs leave.
DEFAULT_TTL_SECONDS_AFTER_FINISHED = 7 * 24 * 3600
CONTAINER = "main"

LABEL_MANAGER = "sengu.dev/manager"
LABEL_JOB = "sengu.dev/job"
LABEL_PRIORITY = "sengu.dev/priority"
ANNOTATION_SUSPENDED = "sengu.dev/suspended-because"
# The embedded engine sets these too; on Kubernetes the run id is the Job's name, read by the downward API.
RESERVED_ENV = ("SENGU_MANAGER", "SENGU_JOB", "SENGU_RUN_ID")
_JOB_NAME_FIELD = "metadata.labels['batch.kubernetes.io/job-name']"


def labels(manager: str, job: str, priority: str) -> dict[str, str]:
    """The labels of every rendered object (the CronJob, its Job template and its pod template)."""
    return {
        "app.kubernetes.io/name": job,
        "app.kubernetes.io/part-of": manager,
        "app.kubernetes.io/managed-by": "sengu",
        "app.kubernetes.io/component": "batch",
        LABEL_MANAGER: manager,
        LABEL_JOB: job,
        LABEL_PRIORITY: priority,
    }


def cronjob_name(manager: str, job: str, index: int | None = None) -> str:
    """MANAGER-JOB, or MANAGER-JOB-INDEX for a job with several schedules (INDEX counts from 0).

    Longer than 52 characters: cut to 43 and followed by "-" and 8 hex digits of a SHA-256 of
    (manager, job, index), so a cut name stays unique and the same from one render to the next.
    """
    base = f"{manager}-{job}" if index is None else f"{manager}-{job}-{index}"
    return base if len(base) <= MAX_NAME else _hashed(base, manager, job, index)


def _hashed(base: str, manager: str, job: str, index: int | None) -> str:
    digest = hashlib.sha256(f"{manager}\0{job}\0{'' if index is None else index}".encode()).hexdigest()[:8]
    return f"{base[: MAX_NAME - 9].rstrip('-.')}-{digest}"


def cronjob_names(manager: Manager) -> dict[tuple[str, int], str]:
    """{(job, schedule index): CronJob name} for a whole manager, unique within it.

    Job names are unique, but a job "a" with two schedules (a-0, a-1) and a job named "a-0" would meet:
    every name given twice takes the hashed form, which includes the job and index and so differs.
    """
    return cronjob_names_of(manager.name, [(plan.name, len(plan.schedules)) for plan in manager.jobs])


def cronjob_names_of(manager: str, jobs: Iterable[tuple[str, int]]) -> dict[tuple[str, int], str]:
    """cronjob_names from each job's name and number of schedules: all a name depends on."""
    wanted: dict[tuple[str, int], tuple[str, int | None]] = {}
    for job, count in jobs:
        several = count > 1
        for i in range(count):
            index = i if several else None
            wanted[(job, i)] = (cronjob_name(manager, job, index), index)
    taken = Counter(name for name, _ in wanted.values())
    out: dict[tuple[str, int], str] = {}
    for (job, i), (name, index) in wanted.items():
        if taken[name] > 1:
            base = f"{manager}-{job}" if index is None else f"{manager}-{job}-{index}"
            name = _hashed(base, manager, job, index)
        out[(job, i)] = name
    return out


def render_document(doc: Document, *, namespace: str | None = None) -> list[dict[str, Any]]:
    """Validate, resolve and render one CronjobManager document; every problem at once as a UserError."""
    model = validate(doc, CronjobManager)
    return render_manager(resolve(model, doc), model=model, namespace=namespace, doc=doc)


def render_manager(
    manager: Manager,
    *,
    model: CronjobManager,
    namespace: str | None = None,
    doc: Document | None = None,
    names: Mapping[tuple[str, int], str] | None = None,
) -> list[dict[str, Any]]:
    """The CronJobs of one CronjobManager, in job order then schedule order.

    `model` is the validated document `manager` was resolved from (`resolve(model, doc)`); `doc`, when
    given, places problems at the exact field, else at the job (JobPlan.location). `namespace` overrides
    metadata.namespace; with neither, the objects have none (kubectl's current namespace applies). Raises
    UserError listing every problem: a job without an image, a relative workingDir, a manager name too
    long for a label value. `names` (cronjob_names of the whole manager) is for a `manager` resolved for
    part of its jobs, whose CronJobs must be named as in the whole.
    """
    # Rendering builds many long-lived objects and no cycles: the cycle collector would rescan the loaded
    # spec again and again (two thirds of the time for 10,000 jobs, see docs/benchmarks.md).
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _render(manager, model, namespace, doc, names)
    finally:
        if was_enabled:
            gc.enable()


def _render(
    manager: Manager,
    model: CronjobManager,
    namespace: str | None,
    doc: Document | None,
    names: Mapping[tuple[str, int], str] | None,
) -> list[dict[str, Any]]:
    problems: list[Problem] = []
    if len(manager.name) > MAX_LABEL_VALUE:
        problems.append(
            _problem(
                f"CronjobManager name {manager.name!r} is {len(manager.name)} characters; on Kubernetes it is a "
                f"label value, at most {MAX_LABEL_VALUE}",
                doc,
                ("metadata", "name"),
                manager.path,
            )
        )
    ns = namespace if namespace is not None else model.metadata.namespace
    defaults = model.spec.defaults
    written = {job.name: (i, job) for i, job in enumerate(model.spec.jobs)}
    if names is None:
        names = cronjob_names(manager)
    # A problem that comes from spec.defaults is reported once, at the field in defaults: a manager of 300
    # jobs without an image is one thing to fix, not 300.
    no_image = len(manager.jobs) > 1 and all(plan.image is None for plan in manager.jobs)
    if no_image:
        problems.append(
            _problem(
                f"no job has an image ({len(manager.jobs)} jobs): on Kubernetes every job runs in a container; "
                "set spec.defaults.image (or each job's image)",
                doc,
                ("spec", "defaults"),
                manager.path,
                key=True,
            )
        )
    inherit_dir = [p for p in manager.jobs if written[p.name][1].working_dir is None]
    if inherit_dir and not _usable_working_dir(defaults.working_dir):
        problems.append(
            _problem(
                f"spec.defaults.workingDir {defaults.working_dir!r} is relative (inherited by {len(inherit_dir)} "
                f"job{'s' if len(inherit_dir) > 1 else ''}); {_RELATIVE}",
                doc,
                ("spec", "defaults", "workingDir"),
                manager.path,
            )
        )
    out: list[dict[str, Any]] = []
    for plan in manager.jobs:
        i, job = written[plan.name]
        at: Loc = ("spec", "jobs", i)
        if plan.image is None and not no_image:
            problems.append(
                _problem(
                    f"job {plan.name!r} has no image: on Kubernetes every job runs in a container; "
                    "set spec.defaults.image or the job's image",
                    doc,
                    (*at, "name"),
                    plan.location,
                )
            )
        working_dir = job.working_dir if job.working_dir is not None else defaults.working_dir
        if job.working_dir is not None and not _usable_working_dir(job.working_dir):
            problems.append(
                _problem(
                    f"job {plan.name!r}: workingDir {working_dir!r} is relative; {_RELATIVE}",
                    doc,
                    (*at, "workingDir"),
                    plan.location,
                )
            )
        if working_dir is not None and posixpath.normpath(working_dir) == ".":
            working_dir = None  # the image's own WORKDIR, as "." is the spec file's directory on this machine
        if problems:
            continue  # keep collecting problems; objects are of no use now
        ttl = job.ttl_seconds_after_finished
        if ttl is None:
            ttl = defaults.ttl_seconds_after_finished
        classes = defaults.priority_class_names
        priority_class = getattr(classes, plan.priority) if classes is not None else None
        for index, schedule in enumerate(plan.schedules):
            out.append(
                _cronjob(
                    plan,
                    names[(plan.name, index)],
                    schedule.expression,
                    namespace=ns,
                    working_dir=working_dir,
                    ttl=DEFAULT_TTL_SECONDS_AFTER_FINISHED if ttl is None else ttl,
                    priority_class=priority_class,
                )
            )
    if problems:
        raise UserError(problems)
    return out


def _cronjob(
    plan: JobPlan,
    name: str,
    schedule: str,
    *,
    namespace: str | None,
    working_dir: str | None,
    ttl: int,
    priority_class: str | None,
) -> dict[str, Any]:
    def tags() -> dict[str, str]:
        # a fresh dict per use: shared objects would come out of YAML as anchors and aliases
        return labels(plan.manager, plan.name, plan.priority)

    metadata: dict[str, Any] = {"name": name}
    if namespace:
        metadata["namespace"] = namespace
    metadata["labels"] = tags()
    if plan.suspend_reason:
        metadata["annotations"] = {ANNOTATION_SUSPENDED: plan.suspend_reason}

    container: dict[str, Any] = {"name": CONTAINER, "image": plan.image, "command": list(plan.argv)}
    if working_dir is not None:
        container["workingDir"] = working_dir
    container["env"] = _env(plan)
    resources = _resources(plan)
    if resources:
        container["resources"] = resources

    pod: dict[str, Any] = {"restartPolicy": "Never"}  # podFailurePolicy requires Never
    if priority_class:
        pod["priorityClassName"] = priority_class
    if plan.service_account_name:
        pod["serviceAccountName"] = plan.service_account_name
    placement = plan.placement
    if placement is not None:
        selector = dict(placement.node_selector)
        if placement.arch:
            selector["kubernetes.io/arch"] = placement.arch
        if placement.capacity_type:
            selector["karpenter.sh/capacity-type"] = placement.capacity_type
        if selector:
            pod["nodeSelector"] = dict(sorted(selector.items()))
        if placement.tolerations:
            pod["tolerations"] = [dict(t) for t in placement.tolerations]
    pod["containers"] = [container]

    job_spec: dict[str, Any] = {"backoffLimit": plan.backoff_limit}
    if plan.active_deadline_seconds is not None:
        job_spec["activeDeadlineSeconds"] = plan.active_deadline_seconds
    job_spec["ttlSecondsAfterFinished"] = ttl
    # A pod the cluster took away (spot interruption, drain, preemption) is the Kubernetes form of an attempt
    # the engine lost: lostAttemptPolicy is the rule's action (Count: a failure, as every other one).
    job_spec["podFailurePolicy"] = {
        "rules": [
            {"action": plan.lost_attempt_policy, "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]}
        ]
    }
    job_spec["template"] = {"metadata": {"labels": tags()}, "spec": pod}

    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": metadata,
        "spec": {
            "schedule": schedule,
            "timeZone": plan.zone.key,
            "concurrencyPolicy": plan.concurrency_policy,
            "startingDeadlineSeconds": plan.starting_deadline_seconds,
            "suspend": plan.suspended,
            "successfulJobsHistoryLimit": plan.successful_history,
            "failedJobsHistoryLimit": plan.failed_history,
            "jobTemplate": {"metadata": {"labels": tags()}, "spec": job_spec},
        },
    }


def _env(plan: JobPlan) -> list[dict[str, Any]]:
    # In name order: the API server hands maps back with sorted keys, and the operator must render from what
    # it reads exactly what `sengu batch render` renders from the file.
    env: list[dict[str, Any]] = [{"name": k, "value": v} for k, v in sorted(plan.env.items()) if k not in RESERVED_ENV]
    env.append({"name": "SENGU_MANAGER", "value": plan.manager})
    env.append({"name": "SENGU_JOB", "value": plan.name})
    env.append({"name": "SENGU_RUN_ID", "valueFrom": {"fieldRef": {"fieldPath": _JOB_NAME_FIELD}}})
    return env


def _resources(plan: JobPlan) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    if plan.resources is None:
        return out
    for part, values in (("requests", plan.resources.requests), ("limits", plan.resources.limits)):
        if values:
            # In the API server's canonical form: what we send is then what we read back, so an unchanged
            # manager compares equal to its CronJobs and the operator writes nothing.
            out[part] = {k: canonical_quantity(v) for k, v in values.items()}
    return out


_QUANTITY = re.compile(r"^([+-]?)(\d+\.?\d*|\.\d+)(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?\d+)?$")
_BINARY = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_DECIMAL_SUFFIX = {v: k for k, v in _DECIMAL.items()}


@functools.lru_cache(maxsize=4096)  # a few distinct values, repeated across thousands of jobs
def canonical_quantity(value: str | int | float) -> str:
    """A Kubernetes quantity as the API server writes it back (apimachinery's Quantity.String()).

    0.5 -> 500m, 1000m -> 1, 1536Mi stays, 1.5Gi -> 1536Mi, 1024Mi -> 1Gi, 1e3 stays, 3.001n -> 4n: values
    are rounded up to a multiple of 1n; binary suffixes stay binary when the value is a whole number of at
    least 1024, decimal ones take the largest suffix that keeps the number whole. Anything it does not
    parse is returned as given, for the schema or the API server to refuse.
    """
    text = str(value).strip()
    m = _QUANTITY.match(text)
    if not m:
        return text
    sign, digits, suffix = m.group(1), m.group(2), m.group(3) or ""
    number = Fraction(Decimal(digits))
    if suffix in _BINARY:
        amount, style = number * 1024 ** _BINARY[suffix], "binary"
    elif suffix in _DECIMAL:
        amount, style = number * Fraction(10) ** _DECIMAL[suffix], "decimal"
    else:
        amount, style = number * Fraction(10) ** int(suffix[1:]), "exponent"
    nanos = math.ceil(amount * 10**9)  # rounds away from zero, as Kubernetes does
    if nanos == 0:
        return "0"
    sign = "-" if sign == "-" else ""
    if style == "binary" and nanos % 10**9 == 0 and nanos >= 1024 * 10**9:
        whole, power = nanos // 10**9, 0
        while whole % 1024 == 0 and power < 6:
            whole, power = whole // 1024, power + 1
        return f"{sign}{whole}{['', 'Ki', 'Mi', 'Gi', 'Ti', 'Pi', 'Ei'][power]}"
    mantissa, exponent = nanos, -9
    while mantissa % 10 == 0:
        mantissa, exponent = mantissa // 10, exponent + 1
    shift = exponent % 3  # down to a multiple of 3, making the mantissa larger
    mantissa, exponent = mantissa * 10**shift, exponent - shift
    if style == "exponent":
        return f"{sign}{mantissa}" + (f"e{exponent}" if exponent else "")
    if exponent not in _DECIMAL_SUFFIX:
        return text  # beyond E: Kubernetes has no suffix for it either; leave it to the server
    return f"{sign}{mantissa}{_DECIMAL_SUFFIX[exponent]}"


_RELATIVE = (
    "on Kubernetes it must be an absolute path in the image (relative to the spec file only means something "
    "on this machine), or '.' for the image's own working directory"
)


def _usable_working_dir(value: str | None) -> bool:
    """On Kubernetes: none, an absolute path in the image, or "." (the image's WORKDIR)."""
    return value is None or posixpath.isabs(value) or posixpath.normpath(value) == "."


def _problem(message: str, doc: Document | None, loc: Loc, fallback: str, *, key: bool = False) -> Problem:
    if doc is not None:
        return doc.problem(loc, message, key=key)
    return Problem(message, _location(fallback))


def _location(text: str) -> Location | None:
    """JobPlan.location ("file:line") back into a Location."""
    if not text:
        return None
    file, sep, line = text.rpartition(":")
    return Location(file, int(line)) if sep and line.isdigit() else Location(text)


# --- the custom resource itself ---------------------------------------------------------------------------
def custom_resource(doc: Document, *, namespace: str | None = None) -> dict[str, Any]:
    """The CronjobManager object to apply to a cluster, from one document (validated; status dropped)."""
    return manager_resource(validate(doc, CronjobManager), namespace=namespace)


def manager_resource(model: CronjobManager, *, namespace: str | None = None) -> dict[str, Any]:
    """The CronjobManager object of a validated model: the spec as written (H not expanded), no defaults
    filled in, so what is stored on the cluster reads like the user's file."""
    metadata: dict[str, Any] = {"name": model.metadata.name}
    ns = namespace if namespace is not None else model.metadata.namespace
    if ns:
        metadata["namespace"] = ns
    if model.metadata.labels:
        metadata["labels"] = dict(model.metadata.labels)
    if model.metadata.annotations:
        metadata["annotations"] = dict(model.metadata.annotations)
    spec = model.spec.model_dump(mode="json", by_alias=True, exclude_unset=True)
    return {"apiVersion": RESOURCE.api_version, "kind": KIND, "metadata": metadata, "spec": spec}


# --- checking and printing --------------------------------------------------------------------------------
# Where a field of a job lands in its CronJob: a schema error under one of these paths comes from that field,
# and from spec.defaults when the job does not set the field itself.
_POD = "spec.jobTemplate.spec.template.spec."
# The third part is where the object's path continues in the spec, when it does (tolerations[0] is the first
# of placement.tolerations); the error is then placed at that very item.
_FIELD_AT: tuple[tuple[str, str, Loc | None], ...] = (
    (_POD + "containers[0].image", "image", ()),
    (_POD + "containers[0].workingDir", "working_dir", ()),
    (_POD + "containers[0].resources", "resources", ()),
    (_POD + "tolerations", "placement", ("tolerations",)),
    (_POD + "nodeSelector", "placement", None),
    (_POD + "serviceAccountName", "service_account_name", ()),
    ("spec.jobTemplate.spec.ttlSecondsAfterFinished", "ttl_seconds_after_finished", ()),
)
_STEP = re.compile(r"\.([A-Za-z0-9_-]+)|\[(\d+)\]")


def schema_problems(
    objects: Iterable[Mapping[str, Any]],
    manager: Manager,
    *,
    version: str,
    model: CronjobManager | None = None,
    doc: Document | None = None,
) -> list[Problem]:
    """Every error of the rendered objects against the official schemas (strict), placed at their job.

    With the `model` they were rendered from, an error that comes from a field the job inherits from
    spec.defaults is reported once, at that field in defaults (exactly there with `doc`).
    """
    from sengu.core import kschema

    ours = {job.name: job for job in model.spec.jobs} if model is not None else {}
    minor = kschema.resolve_version(version)
    problems = []
    inherited: dict[tuple[Loc, str, str], list[str]] = {}  # (where in defaults, path, message) -> jobs
    for obj in objects:
        errors = kschema.validate(obj, version)
        if not errors:
            continue
        meta = obj.get("metadata", {})
        job = meta.get("labels", {}).get(LABEL_JOB, "")
        plan = manager.by_name.get(job)
        where = _location(plan.location) if plan else _location(manager.path)
        for err in errors:
            from_defaults = _in_defaults(err.path, ours.get(job), model)
            if from_defaults is not None:
                jobs = inherited.setdefault((from_defaults, err.path, err.message), [])
                if job not in jobs:
                    jobs.append(job)
                continue
            problems.append(
                Problem(
                    f"job {job!r}: {obj.get('kind')} {meta.get('name')!r} fails the Kubernetes {minor} schema at {err}",
                    where,
                )
            )
    once = []
    for (loc, path, message), jobs in inherited.items():
        text = (
            f"spec.defaults.{_dotted(loc)} (inherited by {len(jobs)} job{'s' if len(jobs) > 1 else ''}): the CronJobs "
            f"fail the Kubernetes {minor} schema at {path}: {message}"
        )
        once.append(_problem(text, doc, ("spec", "defaults", *loc), manager.path))
    return once + problems


def _dotted(loc: Loc) -> str:
    return "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc).lstrip(".")


def _in_defaults(path: str, job: Job | None, model: CronjobManager | None) -> Loc | None:
    """Where in spec.defaults an error at `path` comes from, when the job inherits that field; else None."""
    if job is None or model is None:
        return None
    for prefix, field, continues in _FIELD_AT:
        if path != prefix and not path.startswith((prefix + ".", prefix + "[")):
            continue
        if getattr(job, field) is not None or getattr(model.spec.defaults, field) is None:
            return None
        loc: Loc = (JobSettings.model_fields[field].alias or field,)
        if continues is not None:
            rest = path[len(prefix) :]
            steps = list(_STEP.finditer(rest))
            if sum(m.end() - m.start() for m in steps) == len(rest):  # else a key with dots: stop at the field
                loc = (*loc, *continues, *(m.group(1) or int(m.group(2)) for m in steps))
            else:
                loc = (*loc, *continues)
        return loc
    return None


def to_yaml(objects: Sequence[Mapping[str, Any]]) -> str:
    """Manifests as one multi-document YAML stream, fields in Kubernetes' usual order.

    core/yamlout, not PyYAML: 11,000 CronJobs took PyYAML 3-5 s to print, most of the whole command.
    """
    return yamlout.dump_all(objects)


# Below this many jobs one process renders, checks and prints well under the 1 s bar on its own.
SPLIT_FROM_JOBS = 500


def print_yaml_split(model: CronjobManager, doc: Document, *, namespace: str | None, version: str | None) -> bool:
    """Print what `to_yaml(render_manager(resolve(model, doc), ...))` gives, made by two processes.

    Resolving, rendering, checking (with a `version`) and printing 10,000 jobs is ~1 s of work on one core:
    a forked child (core/forked.py) does the second half of the jobs while this process does the first, and
    once both are sure of their text, this process prints its half and then the child prints its own: one
    stream, the bytes one process would print. Only for a spec in which nothing is wrong: any problem in
    either half (or a job name used twice) prints nothing and gives False, and the caller goes the
    one-process way, which reports every problem exactly as it always has.
    """
    from sengu.core.forked import ForkedOutput

    jobs = model.spec.jobs
    if len(jobs) < SPLIT_FROM_JOBS or len({job.name for job in jobs}) != len(jobs):
        return False
    counts = [(job.name, 1 if job.schedule is not None else len(job.schedules or [])) for job in jobs]
    names = cronjob_names_of(model.metadata.name, counts)

    def part(jobs: slice) -> str | None:
        try:
            manager = resolve(model, doc, jobs=jobs)
            objects = render_manager(manager, model=model, namespace=namespace, doc=doc, names=names)
        except UserError:
            return None
        if version is not None and schema_problems(objects, manager, version=version, model=model, doc=doc):
            return None
        return to_yaml(objects)

    half = len(jobs) // 2
    child = ForkedOutput(part, slice(half, None))
    head = part(slice(None, half))
    if head is None or not child.ready():
        child.discard()
        return False
    if head:
        sys.stdout.write(head)
        sys.stdout.write("---\n")
    child.write()
    return True
