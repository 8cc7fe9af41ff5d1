"""`sengu runners …`: thin commands over the runners capability. Parse, call, print."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from sengu.core.errors import UserError
from sengu.core.help import App

if TYPE_CHECKING:
    from sengu.runners.labels import Launch
    from sengu.runners.spec import RunnerPool

app = App(
    help=(
        "CI runners: one ephemeral GitHub Actions runner per workflow job (kind: RunnerPool).\n\n"
        "Each runner is made on the backend, architecture, size, capacity type and IAM role its job's\n"
        "runs-on labels ask for. A job is sengu's when runs-on includes self-hosted and sengu, e.g.\n"
        "  runs-on: [self-hosted, sengu, arm64, cpu-4, mem-8g]\n\n"
        "Examples:\n"
        "  sengu runners explain --pool pool.yaml self-hosted sengu arm64 cpu-4\n"
        "  sengu up pool.yaml\n"
        "  sengu runners list"
    ),
    no_args_is_help=True,
    rich_markup_mode=None,
)


def _pool(path: Path, name: str | None) -> RunnerPool:
    from sengu import capabilities

    pools: list[RunnerPool] = capabilities.load([path]).of("RunnerPool")
    if name is not None:
        found = [p for p in pools if p.name == name]
        if not found:
            known = ", ".join(p.name for p in pools) or "none"
            raise UserError(f"no RunnerPool named {name!r} in {path} (pools: {known})")
        return found[0]
    if not pools:
        raise UserError(f"no RunnerPool in {path}")
    if len(pools) > 1:
        raise UserError(
            f"{path} has {len(pools)} RunnerPools ({', '.join(p.name for p in pools)}): pick one with --name"
        )
    return pools[0]


@app.command()
def explain(
    labels: Annotated[
        list[str],
        typer.Argument(help="The job's runs-on labels, e.g. self-hosted sengu cpu-4.", show_default=False),
    ],
    pool: Annotated[Path, typer.Option("--pool", help="File with the RunnerPool.", show_default=False)],
    repo: Annotated[
        str | None,
        typer.Option("--repo", metavar="OWNER/NAME", help="Apply the policy for this repository.", show_default=False),
    ] = None,
    name: Annotated[
        str | None, typer.Option("--name", help="The RunnerPool, when the file has several.", show_default=False)
    ] = None,
    output: Annotated[str, typer.Option("--output", "-o", help="text or json.")] = "text",
) -> None:
    """Show what a job with these runs-on labels would get: exit 0 with the launch, 1 with the reason.

    Without --repo the policy is not applied. A bad pool file prints its problems and exits 2.

    Examples:
      sengu runners explain --pool pool.yaml self-hosted sengu arm64 cpu-4
      sengu runners explain --pool pool.yaml --repo my-org/app -o json self-hosted sengu arm64 cpu-4
    """
    from sengu.runners.labels import Launch, Rejection, resolve_labels

    if output not in ("text", "json"):
        raise UserError(f"--output must be 'text' or 'json', not {output!r}")
    if repo is not None and repo.count("/") != 1:
        raise UserError(f"--repo must be OWNER/NAME, not {repo!r}")
    chosen = _pool(pool, name)
    result = resolve_labels(chosen.spec, labels, repo)
    document: dict[str, object] = {"pool": chosen.name, "repository": repo, "labels": labels}
    if isinstance(result, Launch):
        document |= {"result": "launch", "launch": result.to_json()}
    elif isinstance(result, Rejection):
        document |= {"result": "rejected", "reason": result.reason}
    else:
        document |= {"result": "not-ours", "reason": "runs-on must include 'self-hosted' and 'sengu'"}
    if output == "json":
        typer.echo(json.dumps(document, indent=2))
    elif isinstance(result, Launch):
        typer.echo(_describe(result, chosen.name, repo))
    else:
        typer.echo(f"{'rejected' if result else 'not a sengu job'}: {document['reason']}")
    if not isinstance(result, Launch):
        raise typer.Exit(1)


def _describe(launch: Launch, pool: str, repo: str | None) -> str:
    size = f"{launch.vcpu:g} vCPU, {launch.memory_gib:g} GiB"
    lines = [
        f"launch on backend {launch.backend} ({launch.kind}): {launch.arch}, {size}, {launch.capacity}",
        f"  role:   {launch.role} ({launch.role_arn})" if launch.role else "  role:   none",
    ]
    if launch.image:
        lines.append(f"  image:  {launch.image}")
    for key, value in launch.detail.items():
        lines.append(f"  {key}: {value}")
    lines.append(f"  runner labels: {', '.join(launch.labels)}")
    lines.append(f"  policy: for {repo}" if repo else "  policy: not applied (give --repo OWNER/NAME)")
    lines.append(f"  pool:   {pool}")
    return "\n".join(lines)


@app.command("list")
def list_(
    home: Annotated[
        Path | None,
        typer.Option(envvar="SENGU_HOME", help="State directory of `sengu up`.", show_default=False),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="Jobs to show, newest first.")] = 50,
    output: Annotated[str, typer.Option("--output", "-o", help="table or json.")] = "table",
) -> None:
    """Workflow jobs seen by `sengu up` and the runners made for them: state, backend, reason.

    JSON rows have pool, job_id, run_attempt, repository, labels, state, runner_name, backend, reason,
    queued_at, launched_at, started_at, finished_at, stopped_at. Warm runners no job has taken yet come
    first, with state "warm" and no job_id.

    Examples:
      sengu runners list
      sengu runners list --home /var/lib/sengu --limit 20 -o json
    """
    from rich.console import Console
    from rich.table import Table

    from sengu.core.store import Store
    from sengu.runners.store import RunnerStore

    if output not in ("table", "json"):
        raise UserError(f"--output must be 'table' or 'json', not {output!r}")
    rows = RunnerStore(Store(home, read_only=True)).jobs(limit=limit)
    for row in rows:
        row["labels"] = json.loads(row["labels"])
    if output == "json":
        keys = (
            "pool",
            "job_id",
            "run_attempt",
            "repository",
            "labels",
            "state",
            "runner_name",
            "backend",
            "reason",
            "queued_at",
            "launched_at",
            "started_at",
            "finished_at",
            "stopped_at",
        )
        typer.echo(json.dumps([{k: r.get(k) for k in keys} for r in rows], indent=2))
        return
    if not rows:
        typer.echo("no workflow jobs seen yet")
        return
    table = Table(box=None, pad_edge=False)
    for col in ("POOL", "JOB", "REPOSITORY", "STATE", "RUNNER", "BACKEND", "QUEUED", "REASON"):
        table.add_column(col)
    for r in rows:
        table.add_row(
            r["pool"],
            f"{r['job_id']}#{r['run_attempt']}" if r["job_id"] is not None else "-",
            r["repository"] or "-",
            r["state"],
            r["runner_name"] or "-",
            r["backend"] or "-",
            (r["queued_at"] or "-")[:19],
            r["reason"] or "",
        )
    Console(width=200).print(table)
