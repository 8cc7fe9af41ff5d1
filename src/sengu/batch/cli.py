"""`sengu batch …`: thin commands over the batch capability. Parse, call, print."""

from __future__ import annotations

import json
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from sengu.core.errors import Failure, Location, Problem, UserError
from sengu.core.help import App

if TYPE_CHECKING:
    import asyncio

    from sengu.batch.resolve import Manager

app = App(
    help=(
        "Scheduled jobs: one CronjobManager YAML declares hundreds of jobs.\n\n"
        "Migration path: `import` your crontabs, `validate`, test each job with `run`, then `sengu up`\n"
        "with migration.stage raised low → middle → high as each group proves itself.\n\n"
        "Examples:\n"
        "  sengu batch import /etc/crontab /etc/cron.d/* --name legacy -o jobs.yaml\n"
        "  sengu batch validate jobs.yaml\n"
        "  sengu batch next jobs.yaml --count 3\n"
        "  sengu batch run jobs.yaml nightly-backup"
    ),
    no_args_is_help=True,
    rich_markup_mode=None,
)

Files = Annotated[
    list[Path], typer.Argument(help="CronjobManager YAML file(s).", show_default=False, metavar="FILE...")
]
Output = Annotated[str, typer.Option("--output", "-o", help="table or json.")]
Home = Annotated[
    Path | None,
    typer.Option(envvar="SENGU_HOME", help="State directory (default ~/.local/state/sengu).", show_default=False),
]


def _managers(files: list[Path]) -> list[Manager]:
    from sengu import capabilities

    managers: list[Manager] = capabilities.load(files, only="CronjobManager").of("CronjobManager")
    return managers


def _check_output(output: str) -> None:
    if output not in ("table", "json"):
        raise UserError(f"--output must be 'table' or 'json', not {output!r}")


def _when(value: str | None, zone: Any = None) -> str:
    if not value:
        return "-"
    t = datetime.fromisoformat(value)
    return t.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S %Z") if zone else t.astimezone().strftime("%Y-%m-%d %H:%M:%S")


@app.command()
def validate(files: Files) -> None:
    """Check CronjobManager files: every problem at once as FILE:LINE:COL, exit 0 if valid, 2 if not.

    Checks field names and types, cron expressions (and H), time zones, job names (valid Kubernetes
    names, at most 52 characters, unique), commands and secrets sources.

    Examples:
      sengu batch validate jobs.yaml
      sengu batch validate examples/batch/cronjobs.yaml more-jobs.yaml
    """
    for m in _managers(files):
        active = sum(1 for j in m.jobs if not j.suspended)
        typer.echo(
            f"{m.path}: CronjobManager {m.name!r} is valid: {len(m.jobs)} jobs, {active} active, "
            f"{len(m.jobs) - active} suspended (migration stage {m.stage})"
        )


@app.command("import")
def import_(
    crontabs: Annotated[
        list[Path],
        typer.Argument(help="Crontab files (user crontabs, /etc/crontab, /etc/cron.d/*).", show_default=False),
    ],
    name: Annotated[str, typer.Option("--name", help="metadata.name of the CronjobManager.")] = "imported",
    image: Annotated[str | None, typer.Option(help="Container image for the jobs on Kubernetes.")] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write here instead of stdout.")] = None,
    system: Annotated[
        bool | None,
        typer.Option(
            "--system/--user",
            help="Force the format: with the user field after the schedule (/etc/crontab, /etc/cron.d) or "
            "without it (crontab -e). Default: decided per file from all its job lines; a file that could "
            "be either is an error that asks for this option.",
        ),
    ] = None,
    encoding: Annotated[
        str | None,
        typer.Option(
            help="Encoding of the files (e.g. latin-1). Default: UTF-8; a byte that does not decode is an error."
        ),
    ] = None,
) -> None:
    """Turn legacy crontabs into one CronjobManager document, every job suspended until you classify it.

    Imported jobs have no priority yet (unclassified, which the spec reads as high) and the migration
    stage is low, so `sengu up` runs none of them: give the jobs that should move first `priority: low`.
    Warnings (one line each, FILE:LINE) say what cannot move as is: @reboot, output redirected to files,
    host-specific paths, MAILTO, non-root users, day-of-month/day-of-week rules that Kubernetes reads
    differently. Any unparseable line: the errors are printed (20 per file at most), exit 2, and nothing
    is written.

    Examples:
      # The system crontab and every file of /etc/cron.d, into one file
      sengu batch import /etc/crontab /etc/cron.d/* --name legacy -o jobs.yaml
      # A user's crontab, as `crontab -l` prints it
      crontab -l > mine.crontab && sengu batch import mine.crontab --user -o mine.yaml
    """
    import yaml

    from sengu.batch import crontab_text
    from sengu.batch.crontab import CrontabSource, capped, import_crontabs, with_origins
    from sengu.batch.resolve import load_manager
    from sengu.core.spec import parse_documents

    sources = []
    problems: list[Problem] = []
    for path in crontabs:
        try:
            big = crontab_text.too_big(str(path), path.stat().st_size)
            if big is not None:
                problems.append(big)
                continue
            data = path.read_bytes()
        except OSError as exc:
            problems.append(Problem(f"cannot read: {exc.strerror}", Location(str(path))))
            continue
        try:
            text = crontab_text.decode(str(path), data, encoding)
        except UserError as exc:
            problems.extend(exc.problems)
            continue
        sources.append(CrontabSource(str(path), text, system))
    if problems:
        raise UserError(problems)
    result = import_crontabs(sources, name=name, image=image)
    for warning in capped(result.warnings, what="warnings"):
        print(f"warning: {warning}", file=sys.stderr)
    if result.errors:
        raise UserError(capped(result.errors))
    text = with_origins(yaml.safe_dump(result.document, sort_keys=False, allow_unicode=True, width=120), result.origins)
    # What we write must load: a failure here is a bug in the importer, not the user's input.
    for doc in parse_documents(text, "<imported>"):
        try:
            load_manager(doc)
        except UserError as exc:
            raise Failure(f"internal error: the imported document does not validate: {exc}") from None
    jobs = len(result.document["spec"]["jobs"])
    target = str(output) if output else "FILE"
    if output:
        output.write_text(_IMPORT_HEADER + text, encoding="utf-8")
        print(f"wrote {jobs} job(s) to {output}; {len(result.warnings)} warning(s)", file=sys.stderr)
    else:
        sys.stdout.write(_IMPORT_HEADER + text)
    print(_next_steps(jobs, target, image is not None), file=sys.stderr)


_IMPORT_HEADER = (
    "# Imported by `sengu batch import`. Every job is suspended: none has a priority yet (unclassified jobs\n"
    "# move last) and migration.stage is low. Give the jobs that move first `priority: low`, test-run them\n"
    "# (`sengu batch run FILE JOB`), then `sengu up FILE`; raise migration.stage as each group proves itself.\n"
)


def _next_steps(jobs: int, target: str, has_image: bool) -> str:
    """What the user must decide before any imported job runs: said after every import."""
    image = (
        "" if has_image else "\n  also: set spec.defaults.image (or --image) before `sengu batch render` for Kubernetes"
    )
    return (
        f"all {jobs} job(s) are suspended: none has a priority yet, so neither `sengu up` nor Kubernetes runs "
        "them (they still run on the old host).\n"
        "next:\n"
        f"  1. classify: give the jobs that move first `priority: low` in {target} (later ones middle or high;\n"
        "     a job without a priority counts as high and moves last)\n"
        f"  2. test-run each low job: sengu batch run {target} JOB\n"
        f"  3. run them: sengu up {target} (stage low runs the low jobs), and remove them from the old host\n"
        "  4. raise migration.stage to middle, then high, as each group proves itself"
        f"{image}"
    )


@app.command()
def render(
    files: Files,
    k8s_version: Annotated[
        str,
        typer.Option(
            "--k8s-version", metavar="VERSION", help="Kubernetes version whose official schemas the output must pass."
        ),
    ] = "1.32",  # kschema.DEFAULT_VERSION, written out so `--help` needs no import
    namespace: Annotated[
        str | None,
        typer.Option("--namespace", "-n", help="Namespace of the objects (default: metadata.namespace, else none)."),
    ] = None,
    output: Annotated[str, typer.Option("--output", "-o", help="yaml or json.")] = "yaml",
    check: Annotated[
        bool, typer.Option("--validate/--no-validate", help="Check every object against the official schemas.")
    ] = True,
) -> None:
    """Print what each CronjobManager becomes on Kubernetes: one batch/v1 CronJob per job and schedule.

    Every object is checked strictly (no unknown fields) against the official JSON schema of --k8s-version;
    any problem (a job without image, a relative workingDir other than ".", a schema error) is printed as
    FILE:LINE: message, once at spec.defaults when it comes from there, and nothing is printed on stdout
    (exit 2). workingDir "." is the image's own working directory. JSON output is a v1 List. The manager
    itself is not printed: `sengu crd` prints its CustomResourceDefinition.

    Examples:
      sengu batch render jobs.yaml | kubectl apply --dry-run=server -f -
      sengu batch render jobs.yaml -n shop -o json
    """
    import gc

    from sengu.batch.render import print_yaml_split, render_manager, schema_problems, to_yaml
    from sengu.batch.resolve import resolve
    from sengu.batch.spec import KIND, CronjobManager
    from sengu.core import kschema
    from sengu.core.forked import Forked
    from sengu.core.quickexit import exit_after_output
    from sengu.core.spec import Document, as_resource, collect, read_documents, validate

    if output not in ("yaml", "json"):
        raise UserError(f"--output must be 'yaml' or 'json', not {output!r}")
    version = kschema.resolve_version(k8s_version) if check else k8s_version
    # As in capabilities.load: many long-lived objects, no cycles; the cycle collector only costs here,
    # printing included (with it back on, printing 11,000 CronJobs took twice as long).
    gc.disable()
    try:
        problems: list[Problem] = []
        objects: list[dict[str, Any]] = []
        # (where its problems go among the others, objects, manager, model, document), checked below
        pending: list[tuple[int, list[dict[str, Any]], Manager, CronjobManager, Document]] = []
        seen: dict[str, str] = {}
        for path in files:
            docs = collect(problems, read_documents, path) or []
            for doc in docs:
                if collect(problems, as_resource, doc, [KIND]) is None:
                    continue
                model = collect(problems, validate, doc, CronjobManager)
                one = model is not None and output == "yaml" and len(files) == len(docs) == 1
                if one and print_yaml_split(model, doc, namespace=namespace, version=version if check else None):
                    exit_after_output()
                    return
                manager = None if model is None else collect(problems, resolve, model, doc)
                if manager is None:
                    continue
                here = str(doc.locate(("metadata", "name")))
                first = seen.setdefault(manager.name, here)
                if first != here:
                    message = f"{KIND} {manager.name!r} is also defined at {first}"
                    problems.append(doc.problem(("metadata", "name"), message))
                    continue
                rendered = collect(problems, render_manager, manager, model=model, namespace=namespace, doc=doc)
                if rendered is None:
                    continue
                if check:
                    pending.append((len(problems), rendered, manager, model, doc))
                objects.extend(rendered)

        def schema_check() -> list[list[Problem]]:
            return [schema_problems(r, m, version=version, model=mo, doc=d) for _, r, m, mo, d in pending]

        if problems or not pending:
            for (at, *_), found in reversed(list(zip(pending, schema_check(), strict=True))):
                problems[at:at] = found
            checking = None
        else:
            # Checking and printing need nothing of each other: the check runs in a child (core/forked.py)
            # while this process writes the text, and the text is shown only if the check finds nothing.
            checking = Forked(schema_check)
        if problems:
            raise UserError(problems)
        if output == "json":
            text = json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}, indent=2) + "\n"
        else:
            text = to_yaml(objects)
        if checking is not None:
            for found in checking.result():
                problems.extend(found)
        if problems:
            raise UserError(problems)
        sys.stdout.write(text)
    finally:
        gc.enable()
    exit_after_output()


@app.command("next")
def next_(
    files: Files,
    count: Annotated[int, typer.Option("--count", min=1, max=10000, help="Times per job.")] = 5,
    from_: Annotated[
        str | None, typer.Option("--from", metavar="TIME", help="Start instant, ISO 8601 (default now).")
    ] = None,
    job: Annotated[list[str] | None, typer.Option("--job", "-j", help="Only these jobs.")] = None,
    output: Output = "table",
) -> None:
    """Print upcoming fire times per job, in each job's time zone, as the engine and Kubernetes fire them.

    JSON (-o json) is a list of {"job": NAME, "times": [ISO 8601 with offset, ...]}.

    Examples:
      sengu batch next jobs.yaml --count 3 --from 2026-03-08T00:00:00-05:00
      sengu batch next jobs.yaml --job nightly-backup -o json
    """
    _check_output(output)
    start = _parse_instant(from_) if from_ else datetime.now(UTC)
    result = []
    for m in _managers(files):
        plans = [m.job(j) for j in job] if job else list(m.jobs)
        for plan in plans:
            times: set[datetime] = set()
            for schedule in plan.schedules:
                times.update(t.astimezone(UTC) for t in schedule.times(start, count))
            ordered = sorted(times)[:count]
            result.append({"job": plan.name, "times": [t.astimezone(plan.zone).isoformat() for t in ordered]})
    if output == "json":
        typer.echo(json.dumps(result, indent=2))
        return
    for item in result:
        typer.echo(f"{item['job']}:")
        for t in item["times"]:
            typer.echo(f"  {t}")


def _parse_instant(text: str) -> datetime:
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UserError(f"--from: {text!r} is not an ISO 8601 date-time (e.g. 2026-03-08T01:30:00+09:00)") from None
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def _no_runs(manager: str) -> dict[str, dict[str, Any]]:
    return {}


@app.command("list")
def list_(files: Files, home: Home = None, output: Output = "table") -> None:
    """List jobs: schedule, time zone, priority, state, next run and last run status.

    Examples:
      sengu batch list jobs.yaml
      sengu batch list jobs.yaml --home /var/lib/sengu -o json
    """
    from rich.console import Console
    from rich.table import Table

    from sengu.batch.runs import RunStore
    from sengu.core.store import Store

    _check_output(output)
    managers = _managers(files)
    from sengu.core.store import NoState

    try:
        last_runs = RunStore(Store(home, read_only=True)).last_runs
    except NoState:
        if home is not None:  # a home named by --home or SENGU_HOME must hold state; the default may not yet
            raise
        last_runs = _no_runs
    now = datetime.now(UTC)
    rows: list[dict[str, Any]] = []
    for m in managers:
        last = last_runs(m.name)
        for p in m.jobs:
            nexts = [t for t in (s.next_after(now) for s in p.schedules) if t is not None]
            info = last.get(p.name, {})
            rows.append(
                {
                    "manager": m.name,
                    "job": p.name,
                    "schedules": p.expressions,
                    "timeZone": p.zone.key,
                    "priority": p.priority,
                    "state": f"suspended: {p.suspend_reason}" if p.suspended else "active",
                    "next": None if p.suspended or not nexts else min(nexts).astimezone(p.zone).isoformat(),
                    "lastStatus": info.get("status"),
                    "lastRun": info.get("created_at"),
                }
            )
    if output == "json":
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table(box=None, pad_edge=False)
    for col in ("JOB", "SCHEDULE", "TZ", "PRIORITY", "STATE", "NEXT", "LAST"):
        table.add_column(col)
    for r in rows:
        last_txt = f"{r['lastStatus']} {_when(r['lastRun'])}" if r["lastStatus"] else "-"
        table.add_row(
            r["job"],
            " | ".join(r["schedules"]),
            r["timeZone"],
            r["priority"],
            "active" if r["state"] == "active" else "suspended",
            r["next"] or "-",
            last_txt,
        )
    Console(width=200).print(table)


OnCluster = Annotated[bool, typer.Option("--cluster", help="On the Kubernetes cluster of the kubeconfig.")]
Namespace = Annotated[
    str | None,
    typer.Option(
        "--namespace", "-n", help="Namespace (default: the file's, else the kubeconfig's).", show_default=False
    ),
]
Kubeconfig = Annotated[str | None, typer.Option(help="Kubeconfig file (default: KUBECONFIG).", show_default=False)]
Context = Annotated[str | None, typer.Option(help="Kubeconfig context.", show_default=False)]


def _connect(kubeconfig: str | None, context: str | None) -> Any:
    from sengu.core.kube import Cluster

    return Cluster.connect(kubeconfig=kubeconfig, context=context)


def _cluster_documents(files: list[Path]) -> list[Any]:
    """The CronjobManager documents of the files, each checked as `render` checks it (image, names…)."""
    from sengu.batch.render import render_document
    from sengu.core.errors import Problem
    from sengu.core.spec import as_resource, read_documents

    docs, problems = [], []
    for path in files:
        for doc in read_documents(path):
            try:
                if as_resource(doc, ["CronjobManager"]).kind == "CronjobManager":
                    render_document(doc)
                    docs.append(doc)
            except UserError as exc:
                problems.extend(exc.problems)
    if problems:
        raise UserError(list[Problem](problems))
    return docs


def _namespace(doc: Any, option: str | None, cluster: Any) -> str:
    meta = doc.data.get("metadata") or {}
    return str(option or meta.get("namespace") or cluster.namespace)


@app.command()
def apply(
    files: Files,
    cluster: OnCluster = False,
    namespace: Namespace = None,
    kubeconfig: Kubeconfig = None,
    context: Context = None,
) -> None:
    """Put CronjobManagers on the cluster, where the operator (`sengu operator`) turns them into CronJobs.

    Applies the CRD if it is missing or older, then each manager (server-side apply). Everything is
    checked here first, as `render` checks it. On this machine, use `sengu up` instead.

    Examples:
      sengu batch apply jobs.yaml --cluster -n shop
      sengu batch apply jobs.yaml --cluster --context staging
    """
    if not cluster:
        raise UserError("apply needs --cluster (on this machine, run the jobs with `sengu up FILE`)")
    from sengu.batch.cluster import apply_manager, ensure_crd
    from sengu.batch.render import custom_resource
    from sengu.batch.spec import RESOURCE
    from sengu.core.crd import definition

    docs = _cluster_documents(files)
    api = _connect(kubeconfig, context)
    if ensure_crd(api, definition(RESOURCE)):
        typer.echo(f"applied CustomResourceDefinition {RESOURCE.name}")
    for doc in docs:
        ns = _namespace(doc, namespace, api)
        applied = apply_manager(api, custom_resource(doc, namespace=ns), ns)
        jobs = len(applied.get("spec", {}).get("jobs", []))
        typer.echo(f"applied CronjobManager {ns}/{applied['metadata']['name']} ({jobs} jobs)")


@app.command()
def status(
    files: Files,
    cluster: OnCluster = False,
    namespace: Namespace = None,
    kubeconfig: Kubeconfig = None,
    context: Context = None,
    output: Output = "table",
) -> None:
    """Show what the operator observed on the cluster, per job and per CronjobManager.

    Per job: its CronJobs, suspension, runs in flight, last schedule, last success and last failure (with
    its classified reason); per manager, whether it is Ready.

    Examples:
      sengu batch status jobs.yaml --cluster -n shop
      sengu batch status jobs.yaml --cluster -n shop -o json
    """
    if not cluster:
        raise UserError("status needs --cluster (on this machine: `sengu batch list FILE` and `sengu batch history`)")
    from dataclasses import asdict

    from rich.console import Console
    from rich.table import Table

    from sengu.batch.cluster import JobStatus
    from sengu.batch.cluster import status as read_status

    _check_output(output)
    docs = _cluster_documents(files)
    api = _connect(kubeconfig, context)
    result: list[tuple[str, list[dict[str, Any]], list[JobStatus]]] = []
    for doc in docs:
        ns = _namespace(doc, namespace, api)
        body, rows = read_status(api, doc.data["metadata"]["name"], ns)
        conditions = (body.get("status") or {}).get("conditions") or []
        result.append((f"{ns}/{body['metadata']['name']}", conditions, rows))
    if output == "json":
        payload = [{"manager": m, "conditions": c, "jobs": [asdict(j) for j in rows]} for m, c, rows in result]
        typer.echo(json.dumps(payload, indent=2))
        return
    console = Console(width=200)
    for manager, conditions, rows in result:
        ready = next((c for c in conditions if c.get("type") == "Ready"), None)
        state = (
            f"{ready['status']} ({ready.get('reason', '')}: {ready.get('message', '')})"
            if ready
            else "not reconciled yet"
        )
        console.print(f"CronjobManager {manager}: Ready {state}")
        table = Table(box=None, pad_edge=False)
        for col in ("JOB", "CRONJOBS", "SUSPENDED", "ACTIVE", "LAST SCHEDULE", "LAST SUCCESS", "LAST FAILURE"):
            table.add_column(col)
        for j in rows:
            table.add_row(
                j.job,
                ",".join(j.cron_jobs),
                "yes" if j.suspended else "no",
                str(j.active),
                j.last_schedule or "-",
                j.last_success or "-",
                j.last_failure or "-",
            )
        console.print(table)


@app.command()
def run(
    file: Annotated[Path, typer.Argument(help="CronjobManager file.", show_default=False)],
    job: Annotated[str, typer.Argument(help="Job name.", show_default=False)],
    home: Home = None,
    cluster: OnCluster = False,
    namespace: Namespace = None,
    kubeconfig: Kubeconfig = None,
    context: Context = None,
) -> None:
    """Run one job now, as the engine would: retries per backoffLimit, killed at activeDeadlineSeconds.

    Output streams to this terminal (and to the run's log file); the exit code is the job's final one.
    Suspended jobs run too: this is the test run of the migration, before raising the stage.
    With --cluster: a Job is created from the job's CronJob, its pods' logs are followed to the end,
    and the exit code is the container's.

    Examples:
      sengu batch run jobs.yaml nightly-backup
      sengu batch run jobs.yaml nightly-backup --cluster -n shop
    """
    import asyncio

    from sengu.batch.execute import Outcome, RunControl, execute
    from sengu.batch.runs import RunStore
    from sengu.core.clock import SYSTEM_CLOCK
    from sengu.core.store import Store

    managers = _managers([file])
    owners = [m for m in managers if job in m.by_name]
    plan = owners[0].job(job) if owners else managers[0].job(job)
    if cluster:
        from sengu.batch.cluster import run_on_cluster
        from sengu.core.spec import read_documents

        api = _connect(kubeconfig, context)
        doc = next(d for d in read_documents(file) if (d.data.get("metadata") or {}).get("name") == plan.manager)
        out_ = sys.stdout.buffer

        def write(chunk: bytes) -> None:
            out_.write(chunk)
            out_.flush()

        raise typer.Exit(run_on_cluster(api, plan, _namespace(doc, namespace, api), write=write))
    store = Store(home)
    runs = RunStore(store)
    run_id = runs.create_run(plan.manager, plan.name, trigger="manual", now=SYSTEM_CLOCK.now())
    assert run_id is not None
    note = f" (suspended: {plan.suspend_reason})" if plan.suspended else ""
    print(f"sengu: running {plan.key} as run {run_id}{note}", file=sys.stderr, flush=True)
    out = sys.stdout.buffer

    def stream(chunk: bytes) -> None:
        out.write(chunk)
        out.flush()

    control = RunControl(run_id, plan, stop_status="cancelled")

    async def supervised() -> Outcome:
        # Ctrl-C and SIGTERM stop the job's whole process tree and record the run as cancelled. Handlers
        # are installed here, not inherited: a shell may have started us with SIGINT ignored.
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        for sig, why in ((signal.SIGINT, "interrupted (Ctrl-C)"), (signal.SIGTERM, "terminated (SIGTERM)")):
            loop.add_signal_handler(sig, _cancel, task, control, why, sig)
        return await execute(
            plan, run_id, runs=runs, clock=SYSTEM_CLOCK, logs_dir=store.home / "logs", on_output=stream, control=control
        )

    try:
        outcome = asyncio.run(supervised())
    except asyncio.CancelledError:
        print(f"sengu: run {run_id} cancelled: {control.stop_reason}", file=sys.stderr)
        raise typer.Exit(130 if control.stop_reason and "Ctrl-C" in control.stop_reason else 143) from None
    detail = f": {outcome.reason}" if outcome.reason else ""
    print(
        f"sengu: run {run_id} {outcome.status} after {outcome.attempts} attempt(s){detail}; log {outcome.log_path}",
        file=sys.stderr,
    )
    if outcome.status != "succeeded":
        if outcome.exit_code:
            raise typer.Exit(outcome.exit_code)
        raise typer.Exit(128 + outcome.signal if outcome.signal else 1)


def _cancel(task: asyncio.Task[Any], control: Any, why: str, sig: int) -> None:
    control.stop_reason = why
    task.cancel()


@app.command()
def history(
    job: Annotated[str | None, typer.Argument(help="Only this job.", show_default=False)] = None,
    manager: Annotated[str | None, typer.Option("--manager", "-m", help="Only this CronjobManager.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="Rows to show.")] = 50,
    home: Home = None,
    output: Output = "table",
) -> None:
    """Show runs and attempts, newest first: one row per attempt; missed and skipped times too.

    JSON rows have job, run_id, scheduled_at, started_at, finished_at, attempt, status, exit_code.

    Examples:
      sengu batch history
      sengu batch history nightly-backup --limit 10 -o json
    """
    from rich.console import Console
    from rich.table import Table

    from sengu.batch.runs import RunStore
    from sengu.core.store import Store

    _check_output(output)
    rows = RunStore(Store(home, read_only=True)).history(manager=manager, job=job, limit=limit)
    if output == "json":
        typer.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        typer.echo("no runs recorded yet" + (f" for {job}" if job else ""))
        return
    table = Table(box=None, pad_edge=False)
    for col in ("JOB", "RUN", "TRIGGER", "SCHEDULED", "STARTED", "FINISHED", "TRY", "STATUS", "EXIT", "REASON"):
        table.add_column(col)
    for r in rows:
        exit_txt = str(r["exit_code"]) if r["exit_code"] is not None else (f"sig {r['signal']}" if r["signal"] else "-")
        table.add_row(
            r["job"],
            str(r["run_id"]),
            r["trigger"],
            _when(r["scheduled_at"]),
            _when(r["started_at"]),
            _when(r["finished_at"]),
            str(r["attempt"] or "-"),
            r["status"],
            exit_txt,
            r["reason"] or "",
        )
    Console(width=220).print(table)


@app.command()
def logs(
    job: Annotated[str, typer.Argument(help="Job name.", show_default=False)],
    run_id: Annotated[int | None, typer.Option("--run", metavar="ID", help="Run id (default: the latest).")] = None,
    manager: Annotated[str | None, typer.Option("--manager", "-m", help="CronjobManager name.")] = None,
    home: Home = None,
) -> None:
    """Print the output of a job's run, every attempt in order (default: its latest run).

    Examples:
      sengu batch logs nightly-backup
      sengu batch logs nightly-backup --run 42 --manager shop
    """
    from sengu.batch.runs import RunStore
    from sengu.core.store import Store

    attempts = RunStore(Store(home, read_only=True)).log_paths(manager, job, run_id)
    if not attempts:
        which = f"run {run_id} of {job}" if run_id is not None else job
        raise UserError(f"no logs recorded for {which}; see `sengu batch history {job}`")
    out = sys.stdout.buffer
    for a in attempts:
        print(f"==> run {a['run_id']} attempt {a['attempt']} ({a['status']}): {a['log_path']}", file=sys.stderr)
        try:
            with open(a["log_path"], "rb") as f:
                while chunk := f.read(65536):
                    out.write(chunk)
        except FileNotFoundError:
            print("    (log file removed)", file=sys.stderr)
    out.flush()
