"""The `sengu` command. Capabilities mount their commands here; heavy imports wait for the command."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from sengu import __version__
from sengu.batch.cli import app as batch_app
from sengu.core.errors import Failure, UserError
from sengu.core.help import App
from sengu.load.cli import app as load_app
from sengu.runners.cli import app as runners_app

app = App(
    name="sengu",
    help=(
        "Move a long-lived web service from VMs onto Kubernetes and keep it running well.\n\n"
        "Every capability is declared in Kubernetes-shaped YAML (apiVersion: sengu.dev/v1alpha1) and runs on\n"
        "this machine with `sengu up` — the same files run on Kubernetes later.\n\n"
        "Start with: sengu batch import /etc/crontab -o jobs.yaml — every job comes in suspended; give the\n"
        "ones that move first `priority: low`, test them with sengu batch run, then sengu up jobs.yaml"
    ),
    no_args_is_help=True,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
    add_completion=False,
    epilog=(
        "Examples:\n"
        "  # Turn crontabs into a CronjobManager and see when each job would run\n"
        "  sengu batch import /etc/crontab /etc/cron.d/* -o jobs.yaml\n"
        "  sengu batch next jobs.yaml\n"
        "  # Run every document of some files on this machine\n"
        "  sengu up jobs.yaml pool.yaml\n"
        "  # Help on one command\n"
        "  sengu batch import --help"
    ),
)
app.add_typer(batch_app, name="batch")
app.add_typer(runners_app, name="runners")
app.add_typer(load_app, name="load")


@app.command()
def version() -> None:
    """Print sengu's version.

    Examples:
      sengu version
    """
    typer.echo(__version__)


@app.command()
def crd(
    output: Annotated[str, typer.Option("--output", "-o", help="yaml or json.")] = "yaml",
    kind: Annotated[list[str] | None, typer.Option("--kind", "-k", help="Only these kinds (default: all).")] = None,
) -> None:
    """Print the CustomResourceDefinitions of sengu's kinds, generated from the same models as validation.

    Apply them before the operator or any resource. JSON output (-o json) is a v1 List.

    Examples:
      sengu crd | kubectl apply -f -
      sengu crd --kind CronjobManager -o json
    """
    import json

    from sengu import capabilities
    from sengu.core import yamlout
    from sengu.core.crd import definition

    if output not in ("yaml", "json"):
        raise UserError(f"--output must be 'yaml' or 'json', not {output!r}")
    docs = [definition(resource) for resource in capabilities.custom_resources(kind)]
    if output == "json":
        typer.echo(json.dumps({"apiVersion": "v1", "kind": "List", "items": docs}, indent=2))
    else:
        sys.stdout.write(yamlout.dump_all(docs))


@app.command()
def operator(
    namespace: Annotated[
        list[str] | None, typer.Option("--namespace", "-n", help="Watch only these namespaces (default: all).")
    ] = None,
    liveness: Annotated[
        str | None,
        typer.Option(metavar="URL", help="Serve health here, e.g. http://0.0.0.0:8080/healthz (standby included)."),
    ] = None,
    metrics_port: Annotated[int | None, typer.Option(help="Serve Prometheus /metrics on this port.")] = None,
    lease_name: Annotated[
        str, typer.Option(envvar="SENGU_LEASE_NAME", help="Lease for leader election (one active replica).")
    ] = "sengu-operator",
    lease_namespace: Annotated[
        str | None,
        typer.Option(
            envvar="SENGU_POD_NAMESPACE", help="Namespace of the Lease (default: the kubeconfig's).", show_default=False
        ),
    ] = None,
    kubeconfig: Annotated[str | None, typer.Option(help="Kubeconfig file (default: KUBECONFIG, in-cluster).")] = None,
    context: Annotated[str | None, typer.Option(help="Kubeconfig context.")] = None,
) -> None:
    """Run the Kubernetes operator: every sengu kind reconciled into native objects.

    CronjobManagers become CronJobs (server-side apply, owned by their manager, pruned when removed, no
    write when nothing differs); failed Jobs are classified (OOMKilled, deadline, image pull, spot
    interruption, exit code) and reported in status, events, Slack and Sentry; missed schedules are
    detected. Replicas elect a leader through a Lease: one is active, the others stand by.

    Example: sengu operator --liveness http://0.0.0.0:8080/healthz --metrics-port 9090
    """
    import asyncio

    from sengu import capabilities
    from sengu.core import operator as runner
    from sengu.core.kube import Cluster

    _setup_logging()
    cluster = Cluster.connect(kubeconfig=kubeconfig, context=context)
    asyncio.run(
        runner.run(
            capabilities.operator_registers(),
            cluster=cluster,
            namespaces=namespace or (),
            liveness=liveness,
            metrics_port=metrics_port,
            lease_name=lease_name,
            lease_namespace=lease_namespace,
        )
    )


def _setup_logging() -> None:
    import logging

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    # httpx logs every request at INFO: thousands of lines an hour from the GitHub client alone.
    logging.getLogger("httpx").setLevel(logging.WARNING)


def _route_job_output(enabled: bool) -> None:
    """Job output lines (logger sengu.jobs) go to stdout alone, as they are, or nowhere."""
    import logging

    jobs = logging.getLogger("sengu.jobs")
    jobs.propagate = False
    jobs.setLevel(logging.INFO if enabled else logging.WARNING)
    if enabled:
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter("%(message)s"))
        jobs.addHandler(handler)


@app.command()
def up(
    files: Annotated[list[Path], typer.Argument(help="Spec files (any kinds sengu knows).", show_default=False)],
    port: Annotated[
        int, typer.Option("--port", "-p", help="Port for /healthz, /metrics and the API (1-65535; 0: any free port).")
    ] = 8080,
    host: Annotated[
        str, typer.Option(help="Address to listen on: an IP address of this machine (0.0.0.0, ::) or its name.")
    ] = "127.0.0.1",
    drain_timeout: Annotated[
        float, typer.Option(help="On SIGTERM, seconds to let running jobs finish before killing them.")
    ] = 30.0,
    home: Annotated[
        Path | None, typer.Option(envvar="SENGU_HOME", help="State directory (SQLite, logs).", show_default=False)
    ] = None,
    job_output: Annotated[
        bool | None,
        typer.Option(
            "--job-output/--no-job-output",
            help="Repeat job output on stdout as '[job #run] line' (default: on when stdout is not a terminal).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Run the embedded engine: every job of every FILE on this machine, until SIGTERM or Ctrl-C.

    State (runs, attempts, schedule cursors) is in SQLite under --home; job output in per-run log files
    there. Killing the engine loses no output and starts no scheduled time twice: on restart, what the
    runs in flight left running is killed, their attempts are marked lost and retried only where the job
    allows it (lostAttemptPolicy, backoffLimit), and times missed while it was down are run or recorded
    per startingDeadlineSeconds.

    SIGHUP, or a change to a FILE, reloads the spec without stopping running work; a file with errors is
    logged and the running spec kept.

    Example: sengu up examples/batch/cronjobs.yaml --port 8080
    """
    import asyncio

    from prometheus_client import CollectorRegistry

    from sengu import capabilities
    from sengu.core.clock import SYSTEM_CLOCK
    from sengu.core.reload import Components, Reloader
    from sengu.core.server import listen_address, serve
    from sengu.core.store import EngineLock, Store

    listen_address(host, port)  # a bad --host or --port is the first thing to hear about
    _setup_logging()
    _route_job_output(not sys.stdout.isatty() if job_output is None else job_output)
    loaded = capabilities.load(files)
    store = Store(home)
    lock = EngineLock(store.home)
    lock.acquire()

    async def main() -> None:
        registry = CollectorRegistry()
        running = Components(
            lambda kind, objs, reg: capabilities.component(kind, objs, store=store, clock=SYSTEM_CLOCK, registry=reg),
            registry,
        )
        comps = running.build_all(loaded.by_kind)
        reloader = Reloader(running, lambda: capabilities.load(files).by_kind, files)

        def ready(bound: int) -> None:
            what = ", ".join(f"{len(objs)} {kind}" for kind, objs in loaded.by_kind.items())
            base = f"http://[{host}]:{bound}" if ":" in host else f"http://{host}:{bound}"
            print(
                f"sengu up: {what} from {len(files)} file(s); state in {store.home}\n"
                f"  health:  {base}/healthz\n  metrics: {base}/metrics\n"
                "  SIGHUP or a changed file reloads the spec; Ctrl-C or SIGTERM drains running work and stops",
                file=sys.stderr,
                flush=True,
            )

        await serve(
            comps, registry, host=host, port=port, drain_timeout=drain_timeout, on_ready=ready, reloader=reloader
        )

    try:
        asyncio.run(main())
    finally:
        lock.release()
        store.close()


def main(argv: list[str] | None = None) -> None:
    """Entry point: user errors print one line each and exit 2; failures exit 1; never a traceback.

    Usage errors (bad options) are Typer's own and also exit 2.
    """
    try:
        app(args=argv)
    except UserError as exc:
        for line in exc.lines():
            print(f"error: {line}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except Failure as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(0)
    except Exception:
        if os.environ.get("SENGU_DEBUG"):
            raise
        import traceback

        last = traceback.extract_tb(sys.exc_info()[2])[-1]
        print(
            f"internal error: {sys.exc_info()[1]!r} at {last.filename}:{last.lineno} — this is a bug in sengu; "
            "rerun with SENGU_DEBUG=1 for the traceback and report it",
            file=sys.stderr,
        )
        sys.exit(1)
