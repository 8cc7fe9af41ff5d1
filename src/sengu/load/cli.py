"""`sengu load …`: thin commands over the load capability. Parse, call, print.

Everything heavy (uvloop, httptools, hdrh, pydantic models, the report) is imported inside the command
that needs it, so `sengu --help` stays fast.
"""

from __future__ import annotations

import json
import math
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from sengu.core.errors import Failure, UserError
from sengu.core.help import App

if TYPE_CHECKING:
    from sengu.load.engine import LoadConfig, Request, Stop
    from sengu.load.result import Result
    from sengu.load.schedule import Schedule

app = App(
    help=(
        "Load testing and capacity planning: replay production traffic, find the knee, size the pods.\n\n"
        "Open model: requests are released on a schedule at a controlled rate and every latency counts from\n"
        "the request's intended start, so a server stall shows up instead of slowing the generator down.\n\n"
        "Examples:\n"
        "  sengu load scenario access.log.gz -o scenario.yaml\n"
        "  sengu load run --target http://127.0.0.1:8000 --scenario scenario.yaml --rate 500 --duration 1m\n"
        "  sengu load step --target http://127.0.0.1:8000 --scenario scenario.yaml --start 100 --factor 1.5 "
        "--max-rate 5000\n"
        "  sengu load capacity --knee 1800 --pods 2 --pod-cpu 1 --pod-memory 2Gi --peak 12000"
    ),
    no_args_is_help=True,
    rich_markup_mode=None,
)

TargetOpt = Annotated[
    str,
    typer.Option(
        "--target",
        "-t",
        metavar="URL",
        help="Base URL the load goes to, e.g. http://127.0.0.1:8000.",
        show_default=False,
    ),
]
ScenarioOpt = Annotated[
    Path | None,
    typer.Option("--scenario", "-s", help="Scenario file from `sengu load scenario`.", show_default=False),
]
PathOpt = Annotated[
    str | None,
    typer.Option("--path", help="Without a scenario: GET this path on the target (default /).", show_default=False),
]
ConnectionsOpt = Annotated[
    int, typer.Option("--connections", "-c", help="Keep-alive connections, at most (all workers together).")
]
WorkersOpt = Annotated[int, typer.Option("--workers", "-w", help="Generator processes (one per core).")]
TimeoutOpt = Annotated[str, typer.Option("--timeout", help="Per request, and for connecting.")]
HeaderOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--header", "-H", metavar="'NAME: VALUE'", help="Added to every request; repeatable.", show_default=False
    ),
]
JsonOpt = Annotated[
    Path | None, typer.Option("--json", help="Write the result as JSON to FILE ('-': stdout).", show_default=False)
]
ReportOpt = Annotated[
    Path | None, typer.Option("--report", help="Write a self-contained HTML report to FILE.", show_default=False)
]
MaxP99Opt = Annotated[
    float | None,
    typer.Option("--max-p99", metavar="MS", help="Fail (exit 1) when p99 latency is over MS.", show_default=False),
]
MaxErrorRateOpt = Annotated[
    str | None,
    typer.Option(
        "--max-error-rate",
        metavar="SHARE",
        help="Fail (exit 1) when errors are over this share, e.g. 1%.",
        show_default=False,
    ),
]
SeedOpt = Annotated[int, typer.Option("--seed", help="Seed of the request mix drawn from the scenario.")]
InsecureOpt = Annotated[bool, typer.Option("--insecure", help="https without checking the certificate.")]


@dataclass
class _Common:
    target: str
    requests: list[Request]
    connections: int
    timeout_s: float
    headers: list[tuple[str, str]]
    insecure: bool


@app.command()
def scenario(
    logs: Annotated[list[Path], typer.Argument(help="Access logs, plain or .gz.", show_default=False)],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Scenario file to write ('-': stdout).", show_default=False)
    ],
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            "-f",
            help="auto, combined, common, alb, or nginx:'LOG_FORMAT' with nginx's log_format string "
            "(single-quote it: the shell expands $names in double quotes).",
        ),
    ] = "auto",
    include_methods: Annotated[
        list[str] | None,
        typer.Option(
            "--include-methods",
            metavar="METHOD,...",
            help="Replay these methods too (GET and HEAD always); comma-separated or repeated; * for all.",
            show_default=False,
        ),
    ] = None,
    name: Annotated[str | None, typer.Option("--name", help="Scenario name (default: from the files).")] = None,
    samples: Annotated[int, typer.Option("--samples", help="Real values kept per placeholder.")] = 100,
    max_endpoints: Annotated[int, typer.Option("--max-endpoints", help="Most requested endpoints kept.")] = 500,
    seed: SeedOpt = 0,
) -> None:
    """Build a load scenario from access logs: what was requested, how often, and how fast it was served.

    Endpoints become weighted templates (/n/{id}) with sampled real values, beside the status and latency
    mix and the observed rate over time. Only GET and HEAD are kept unless --include-methods says otherwise
    (logs hold no request bodies). Unparseable lines are counted and shown, never fatal.

    Examples:
      sengu load scenario /var/log/nginx/access.log* -o scenario.yaml
      sengu load scenario access.log.gz --format 'nginx:$remote_addr [$time_local] "$request" $status' -o s.yaml
      sengu load scenario alb.log.gz --format alb --include-methods POST,PUT -o scenario.yaml
    """
    from sengu.load.scenario import build_scenario, scenario_yaml, write_scenario

    methods = [m.strip() for item in include_methods or [] for m in item.split(",") if m.strip()]
    built, report = build_scenario(
        [str(p) for p in logs], fmt, methods, name=name, seed=seed, samples=samples, max_endpoints=max_endpoints
    )
    for line in report.summary():
        typer.echo(line, err=True)
    if str(output) == "-":
        sys.stdout.write(scenario_yaml(built))
    else:
        write_scenario(built, output)
        typer.echo(f"wrote {output}: {len(built.spec.endpoints)} endpoints", err=True)


@app.command()
def run(
    target: TargetOpt,
    rate: Annotated[
        str | None,
        typer.Option(
            "--rate",
            "-r",
            help="Requests/s to offer (open model), or 'max': each connection sends its next request as soon "
            "as the last is answered (closed model, raw throughput; latency then hides server stalls). "
            "Required unless --steps.",
            show_default=False,
        ),
    ] = None,
    scenario_file: ScenarioOpt = None,
    path: PathOpt = None,
    duration: Annotated[str, typer.Option("--duration", "-d", help="How long to measure, e.g. 30s, 5m.")] = "30s",
    ramp: Annotated[
        str | None,
        typer.Option(
            "--ramp", help="Rise from 0 to --rate over this long first (counted in the run).", show_default=False
        ),
    ] = None,
    steps: Annotated[
        str | None,
        typer.Option(
            "--steps",
            metavar="RATE,...",
            help="Rates one after the other, e.g. 100,200,400; each lasts --duration.",
            show_default=False,
        ),
    ] = None,
    warmup: Annotated[str, typer.Option("--warmup", help="Run this long before measuring.")] = "0s",
    connections: ConnectionsOpt = 64,
    workers: WorkersOpt = 1,
    timeout: TimeoutOpt = "10s",
    header: HeaderOpt = None,
    json_out: JsonOpt = None,
    report: ReportOpt = None,
    influx: Annotated[
        str | None,
        typer.Option(
            "--influx",
            metavar="URL",
            help="Also write the result to InfluxDB at this URL (line protocol).",
            show_default=False,
        ),
    ] = None,
    influx_bucket: Annotated[
        str | None, typer.Option("--influx-bucket", help="InfluxDB 2 bucket.", show_default=False)
    ] = None,
    influx_org: Annotated[
        str | None, typer.Option("--influx-org", help="InfluxDB 2 organization.", show_default=False)
    ] = None,
    influx_token_env: Annotated[
        str | None,
        typer.Option(
            "--influx-token-env",
            metavar="VAR",
            help="Environment variable holding the InfluxDB token.",
            show_default=False,
        ),
    ] = None,
    influx_db: Annotated[
        str | None, typer.Option("--influx-db", help="InfluxDB 1 database.", show_default=False)
    ] = None,
    max_p99: MaxP99Opt = None,
    max_error_rate: MaxErrorRateOpt = None,
    parts_out: Annotated[
        Path | None,
        typer.Option(
            "--parts",
            help="Also write what was measured, histograms included, to FILE ('-': stdout) for `sengu load merge`.",
            show_default=False,
        ),
    ] = None,
    shard: Annotated[
        str | None,
        typer.Option(
            "--shard",
            metavar="I/N",
            help="Start at part I of N of the request list (pods of a distributed run).",
            show_default=False,
        ),
    ] = None,
    seed: SeedOpt = 0,
    insecure: InsecureOpt = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No live display.")] = False,
) -> None:
    """Send load to a target and measure it.

    The open model releases requests on a schedule (constant --rate, --ramp, or --steps) and times every
    request from its intended start: a server stall shows as latency, not as a slower generator. Send
    lag (the generator late) and service time are reported apart; due requests that find the bounded
    backlog full are counted as overflow, never dropped silently. The generator warns when it, not the
    server, is the bottleneck. Every run stops by itself.

    Examples:
      sengu load run -t http://127.0.0.1:8000 -s scenario.yaml --rate 500 --duration 1m --report r.html
      sengu load run -t http://127.0.0.1:8000 --path /healthz --rate max --duration 10s -c 8
      sengu load run -t http://127.0.0.1:8000 -s scenario.yaml --steps 100,200,400 --duration 30s --json run.json
    """
    from sengu.load import schedule as schedules
    from sengu.load.engine import LoadConfig

    common = _common(target, scenario_file, path, connections, timeout, header, insecure, seed, shard)
    measure_s = _seconds(duration, "--duration")
    schedule: Schedule | None = None
    if steps:
        if rate is not None or ramp:
            raise UserError("--steps gives the rates itself: leave out --rate and --ramp")
        schedule = schedules.steps([_rate(r, "--steps") for r in steps.split(",")], measure_s)
    elif rate is None:
        raise UserError("give --rate (requests/s, or max) or --steps")
    elif rate.strip().lower() == "max":
        if ramp:
            raise UserError("--ramp needs an offered --rate, not max")
    elif ramp:
        try:
            schedule = schedules.ramp(_rate(rate, "--rate"), _seconds(ramp, "--ramp"), measure_s)
        except ValueError as exc:  # the ramp longer than the run
            raise UserError(f"--ramp: {exc}") from None
    else:
        schedule = schedules.constant(_rate(rate, "--rate"), measure_s)
    config = LoadConfig(
        target=common.target,
        requests=common.requests,
        schedule=schedule,
        duration_s=measure_s if schedule is None else None,
        connections=common.connections,
        timeout_s=common.timeout_s,
        headers=common.headers,
        warmup_s=_seconds(warmup, "--warmup", zero=True),
        insecure=common.insecure,
    )
    # Everything that could go wrong after the run is checked before it, so a measurement is never lost.
    _share(max_error_rate, "--max-error-rate")
    token = _env_secret(influx_token_env, "--influx-token-env")
    _writable(json_out, "--json")
    _writable(report, "--report")
    _writable(parts_out, "--parts")
    if influx:
        import asyncio

        from sengu.load.influx import check

        # Where to write, and that InfluxDB takes it (reachable, database or bucket there, token accepted).
        asyncio.run(check(influx, token=token, org=influx_org, bucket=influx_bucket, db=influx_db))
    from sengu.load.interrupt import Interrupt

    with Interrupt() as stop:  # Ctrl-C ends the run early; what was measured is still written below
        result = _measure(
            config, workers, quiet=quiet or Path("-") in (json_out, parts_out), parts_out=parts_out, stop=stop
        )
    _print_summary(result)
    written = _write_outputs(result, json_out, report, title=f"sengu load run: {common.target}")
    if influx:
        _influx(result, influx, bucket=influx_bucket, org=influx_org, token=token, db=influx_db)
        written.append("InfluxDB")
    if result.interrupted:
        _stopped(f"after {result.duration_s:.1f} s of {result.planned_s or 0:g} s", written)
    _check_thresholds(result, max_p99, max_error_rate)


@app.command()
def step(
    target: TargetOpt,
    start: Annotated[
        float, typer.Option("--start", metavar="RATE", help="First offered rate (requests/s).", show_default=False)
    ],
    max_rate: Annotated[float, typer.Option("--max-rate", help="Highest rate to try.", show_default=False)],
    scenario_file: ScenarioOpt = None,
    path: PathOpt = None,
    by: Annotated[
        float | None,
        typer.Option("--step", metavar="RATE", help="Add this much each step (linear).", show_default=False),
    ] = None,
    factor: Annotated[
        float | None, typer.Option("--factor", help="Multiply by this each step (geometric).", show_default=False)
    ] = None,
    step_duration: Annotated[str, typer.Option("--step-duration", help="How long each step is measured.")] = "30s",
    warmup: Annotated[str, typer.Option("--warmup", help="Warm-up before each step.")] = "5s",
    slo_p99: Annotated[float, typer.Option("--slo-p99", metavar="MS", help="SLO: p99 latency at most MS.")] = 500.0,
    slo_errors: Annotated[
        str, typer.Option("--slo-errors", metavar="SHARE", help="SLO: errors at most this share.")
    ] = "1%",
    slo_achieved: Annotated[
        str,
        typer.Option("--slo-achieved", metavar="SHARE", help="SLO: achieved rate at least this share of the offered."),
    ] = "99%",
    refine: Annotated[
        int, typer.Option("--refine", help="Bisection rounds between the last good and first bad rate.")
    ] = 0,
    connections: ConnectionsOpt = 256,
    workers: WorkersOpt = 1,
    timeout: TimeoutOpt = "10s",
    header: HeaderOpt = None,
    json_out: JsonOpt = None,
    report: ReportOpt = None,
    seed: SeedOpt = 0,
    insecure: InsecureOpt = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No live display.")] = False,
) -> None:
    """Raise the offered rate step by step until the SLO breaks, and report the knee.

    The knee is the highest rate held within the SLO (p99, errors, achieved vs offered); what broke after
    it is reported too.

    Examples:
      sengu load step -t http://127.0.0.1:8000 -s scenario.yaml --start 100 --factor 1.5 --max-rate 5000
      sengu load step -t http://127.0.0.1:8000 --start 500 --step 500 --max-rate 4000 --slo-p99 200 --refine 2
    """

    from sengu.load import schedule as schedules
    from sengu.load.engine import LoadConfig
    from sengu.load.interrupt import Interrupt
    from sengu.load.numbers import fmt_ms, fmt_pct, fmt_rate, fmt_seconds
    from sengu.load.step import Slo, Step, find_knee, format_knee, step_rates, verdict

    if (by is None) == (factor is None):
        raise UserError("give exactly one of --step (add each time) or --factor (multiply each time)")
    common = _common(target, scenario_file, path, connections, timeout, header, insecure, seed, None)
    measure_s = _seconds(step_duration, "--step-duration")
    warm_s = _seconds(warmup, "--warmup", zero=True)
    slo = Slo(
        max_p99_ms=slo_p99,
        max_error_rate=_share(slo_errors, "--slo-errors"),
        min_achieved_ratio=_share(slo_achieved, "--slo-achieved"),
    )
    _writable(json_out, "--json")
    _writable(report, "--report")
    quiet = quiet or str(json_out) == "-"
    rates = step_rates(start=start, max_rate=max_rate, step=by, factor=factor)
    each = warm_s + measure_s
    typer.echo(
        f"sengu load step: {len(rates)} step(s) from {fmt_rate(rates[0])} to {fmt_rate(rates[-1])}"
        + (f", then up to {refine} refinement step(s)" if refine else "")
        + f"; {fmt_seconds(each)} each ({fmt_seconds(warm_s)} warm-up + {fmt_seconds(measure_s)} measured): "
        f"about {fmt_seconds((len(rates) + refine) * each)} at most, less if the SLO breaks sooner",
        err=True,
    )
    count = 0

    def one(rate: float) -> Result:
        nonlocal count
        count += 1
        config = LoadConfig(
            target=common.target,
            requests=common.requests,
            schedule=schedules.constant(rate, measure_s),
            connections=common.connections,
            timeout_s=common.timeout_s,
            headers=common.headers,
            warmup_s=warm_s,
            insecure=common.insecure,
        )
        heading = f"step {count}: offering {rate:,.0f} requests/s for {measure_s:g} s"
        if quiet:
            typer.echo(heading, err=True)
        return _measure(config, workers, quiet=quiet, stop=stop, heading=heading)

    def said(done: Step) -> None:
        r = done.result
        typer.echo(
            f"step {count}: {fmt_rate(done.rate)} → {verdict(done)} (achieved {fmt_rate(r.achieved_rate)}, "
            f"p99 {fmt_ms(r.latency_ms.ms('p99'))}, errors {fmt_pct(r.error_rate)})",
            err=True,
        )

    with Interrupt() as stop:  # Ctrl-C ends the search early; the steps measured are still written below
        knee = find_knee(
            one, start=start, max_rate=max_rate, slo=slo, step=by, factor=factor, refine=refine, on_step=said, stop=stop
        )
    to_stdout = str(json_out) == "-"
    typer.echo(format_knee(knee), err=to_stdout)  # with --json -, stdout holds the JSON document alone
    results = [s.result for s in sorted(knee.steps, key=lambda s: s.rate)]
    if json_out is not None:
        doc = {
            "interrupted": knee.interrupted,
            "knee": knee.rate,
            "broke_at": knee.broke_at,
            "broke_by": list(knee.broke_by),
            "steps": [
                {"rate": s.rate, "ok": s.ok, "reasons": list(s.reasons), "result": s.result.to_json()}
                for s in knee.steps
            ],
        }
        _write_json(doc, json_out)
    if report is not None and knee.steps:
        from sengu.load.report import render_html

        report.write_text(render_html(results, title=f"sengu load step: {common.target}", knee=knee), encoding="utf-8")
        typer.echo(f"wrote {report}", err=True)
    if knee.interrupted:
        outputs = [
            "stdout" if str(p) == "-" else str(p)
            for p in (json_out, report)
            if p is not None and (p == json_out or knee.steps)
        ]
        _stopped(f"after {len(knee.steps)} step(s)", outputs)
    if knee.rate is None:
        raise Failure("no knee: the first step already broke the SLO; start lower")


@app.command()
def merge(
    files: Annotated[
        list[Path],
        typer.Argument(help="`--parts` files, or the logs of a distributed run's pods.", show_default=False),
    ],
    json_out: JsonOpt = None,
    report: ReportOpt = None,
    max_p99: MaxP99Opt = None,
    max_error_rate: MaxErrorRateOpt = None,
) -> None:
    """Merge what several generators measured into one result, exactly.

    Histograms are added, so the percentiles are those of every request (not averages of percentiles).
    Thresholds are checked on the merged result.

    Examples:
      # Two generators on two machines, then one result
      sengu load run -t http://10.0.0.5:8000 --rate 5000 --shard 0/2 --parts a.json
      sengu load run -t http://10.0.0.5:8000 --rate 5000 --shard 1/2 --parts b.json
      sengu load merge a.json b.json --report both.html
      # The pods of a distributed run (see render-job), from their logs
      for p in $(kubectl get pods -l job-name=spike -o name); do kubectl logs $p > ${p#pod/}.log; done
      sengu load merge *.log --report spike.html
    """
    from sengu.load.merge import merge_files

    _writable(json_out, "--json")
    _writable(report, "--report")
    result = merge_files(files)
    _print_summary(result)
    _write_outputs(result, json_out, report, title=f"sengu load merge: {result.target}")
    _check_thresholds(result, max_p99, max_error_rate)


@app.command()
def collect(
    name: Annotated[str, typer.Argument(help="The run's name (render-job --name).", show_default=False)],
    namespace: Annotated[str, typer.Option("--namespace", "-n", help="Namespace of the Job.")] = "default",
    kubeconfig: Annotated[
        str | None, typer.Option("--kubeconfig", help="Kubeconfig file (default: the usual).", show_default=False)
    ] = None,
    context: Annotated[str | None, typer.Option("--context", help="Kubeconfig context.", show_default=False)] = None,
    json_out: JsonOpt = None,
    report: ReportOpt = None,
    max_p99: MaxP99Opt = None,
    max_error_rate: MaxErrorRateOpt = None,
) -> None:
    """Collect a distributed run: merge what every pod of a `render-job` run measured, once they have finished.

    Each pod's log is read from the cluster and the measurements merged exactly, as `sengu load merge`
    does.

    Examples:
      kubectl -n load wait --for=condition=complete job/spike --timeout 15m
      sengu load collect spike -n load --report spike.html --max-p99 500
    """
    from sengu.core.kube import Cluster
    from sengu.load.kube import LABEL_RUN
    from sengu.load.merge import merge, parts_in

    _writable(json_out, "--json")
    _writable(report, "--report")
    _share(max_error_rate, "--max-error-rate")
    cluster = Cluster.connect(kubeconfig=kubeconfig, context=context)
    pods = cluster.list_objects("v1", "Pod", namespace, labels={LABEL_RUN: name})
    if not pods:
        raise UserError(f"no pods of load run {name!r} in namespace {namespace} (label {LABEL_RUN}={name})")
    running = sorted(p["metadata"]["name"] for p in pods if (p.get("status") or {}).get("phase") not in _ENDED)
    if running:
        raise UserError(
            f"{len(running)} of {len(pods)} pods have not finished ({', '.join(running[:3])}…); wait with "
            f"kubectl -n {namespace} wait --for=condition=complete job/{name}"
        )
    sources, warnings = [], []
    for pod in sorted(pods, key=lambda p: str(p["metadata"]["name"])):
        pod_name = pod["metadata"]["name"]
        log = b"".join(cluster.follow_log(namespace, pod_name)).decode("utf-8", "replace")
        try:
            sources.append((pod_name, *parts_in(log, f"pod {namespace}/{pod_name}")))
        except UserError:  # a pod that died before printing: the run covered less than asked, said below
            warnings.append(f"pod {pod_name} ({pod['status'].get('phase')}) printed no measurements")
    if not sources:
        raise UserError(f"no pod of load run {name!r} printed its measurements: " + "; ".join(warnings))
    result = merge(sources, warnings)
    _print_summary(result)
    _write_outputs(result, json_out, report, title=f"sengu load collect: {name}")
    _check_thresholds(result, max_p99, max_error_rate)


_ENDED = ("Succeeded", "Failed")


@app.command()
def capacity(
    knee: Annotated[
        float,
        typer.Option(
            "--knee", metavar="RATE", help="Knee measured (requests/s), e.g. by `sengu load step`.", show_default=False
        ),
    ],
    pods: Annotated[int, typer.Option("--pods", help="Pods the knee was measured on.", show_default=False)],
    pod_cpu: Annotated[str, typer.Option("--pod-cpu", help="CPU of each pod: 500m, 1, 2.", show_default=False)],
    pod_memory: Annotated[
        str, typer.Option("--pod-memory", help="Memory of each pod: 512Mi, 2Gi.", show_default=False)
    ],
    peak: Annotated[
        float, typer.Option("--peak", metavar="RATE", help="Peak requests/s to serve.", show_default=False)
    ],
    headroom: Annotated[
        str, typer.Option("--headroom", metavar="SHARE", help="Spare capacity above the peak.")
    ] = "30%",
    baseline_knee: Annotated[
        float | None,
        typer.Option("--baseline-knee", metavar="RATE", help="The old fleet's knee (requests/s).", show_default=False),
    ] = None,
    baseline_instances: Annotated[
        int | None,
        typer.Option("--baseline-instances", help="How many instances the old fleet has.", show_default=False),
    ] = None,
    baseline_type: Annotated[
        str | None, typer.Option("--baseline-type", help="Their type, e.g. c5.xlarge.", show_default=False)
    ] = None,
    baseline_vcpu: Annotated[
        str | None, typer.Option("--baseline-vcpu", help="vCPU per instance.", show_default=False)
    ] = None,
    baseline_memory: Annotated[
        str | None, typer.Option("--baseline-memory", help="Memory per instance, e.g. 8Gi.", show_default=False)
    ] = None,
    output: Annotated[str, typer.Option("--output", "-o", help="text or json.")] = "text",
) -> None:
    """Pods needed for a peak, from a knee measured on N pods of one size, with headroom.

    Given the old fleet's knee and size too, it says how many pods of which size match it. Assumes
    throughput grows linearly with pods (true while the database and the rest keep up: measure again at
    the size you plan).

    Examples:
      sengu load capacity --knee 1800 --pods 2 --pod-cpu 1 --pod-memory 2Gi --peak 12000
      # And what matches the old fleet: 8 c5.xlarge holding 9000 requests/s
      sengu load capacity --knee 1800 --pods 2 --pod-cpu 1 --pod-memory 2Gi --peak 12000 \\
          --baseline-knee 9000 --baseline-instances 8 --baseline-type c5.xlarge --baseline-vcpu 4 --baseline-memory 8Gi
    """
    from sengu.load.capacity import Baseline, format_plan, plan

    given = [baseline_knee, baseline_instances, baseline_type, baseline_vcpu, baseline_memory]
    base = None
    if any(v is not None for v in given):
        if any(v is None for v in given):
            raise UserError(
                "a baseline needs all of --baseline-knee, --baseline-instances, --baseline-type, --baseline-vcpu "
                "and --baseline-memory"
            )
        assert baseline_knee is not None and baseline_instances is not None and baseline_type is not None
        assert baseline_vcpu is not None and baseline_memory is not None
        base = Baseline(baseline_knee, baseline_instances, baseline_type, baseline_vcpu, baseline_memory)
    share = _share(headroom, "--headroom", most=None)
    assert share is not None
    made = plan(knee, pods, pod_cpu, pod_memory, peak, headroom=share, baseline=base)
    if output == "json":
        from dataclasses import asdict

        typer.echo(json.dumps(asdict(made), indent=2, default=str))
    elif output == "text":
        typer.echo(format_plan(made))
    else:
        raise UserError(f"--output must be text or json, not {output!r}")


@app.command("render-job")
def render_job(
    name: Annotated[str, typer.Option("--name", help="Job name (a DNS label).", show_default=False)],
    image: Annotated[str, typer.Option("--image", help="An image with sengu installed.", show_default=False)],
    target: TargetOpt,
    rate: Annotated[str, typer.Option("--rate", help="Requests/s for all pods together, or max.", show_default=False)],
    pods: Annotated[int, typer.Option("--pods", help="Worker pods (an Indexed Job's completions).")] = 4,
    namespace: Annotated[str, typer.Option("--namespace", "-n", help="Namespace of the Job.")] = "default",
    scenario_file: ScenarioOpt = None,
    duration: Annotated[str, typer.Option("--duration", "-d", help="How long each pod measures.")] = "5m",
    processes_per_pod: Annotated[int, typer.Option("--processes-per-pod", help="Generator processes per pod.")] = 1,
    cpu: Annotated[
        str | None, typer.Option("--cpu", help="CPU of each pod (default: one per process).", show_default=False)
    ] = None,
    memory: Annotated[str, typer.Option("--memory", help="Memory of each pod.")] = "512Mi",
    run_args: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="-- RUN_OPTION...",
            help="More `sengu load run` options for every pod, after --, e.g. -- --header 'Authorization: Bearer x'.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Print a Kubernetes Indexed Job (and the scenario's ConfigMap) that runs a load test from many pods.

    Each pod offers its share of the rate and stops by itself (activeDeadlineSeconds). Apply it with
    kubectl; each pod prints what it measured to its log, which `sengu load collect` (or `merge`) combines
    exactly.

    Examples:
      sengu load render-job --name spike --image ghcr.io/me/sengu:1 -t http://web.shop --rate 20000 --pods 8 -s s.yaml
      sengu load render-job --name spike --image me/sengu:1 -t http://web.shop --rate 5000 -n load | kubectl apply -f -
      # Options of `sengu load run` for every pod go after --
      sengu load render-job --name auth --image me/sengu:1 -t http://web.shop --rate 100 -- --header 'Authorization: x'
    """
    from sengu.load.engine import Target
    from sengu.load.kube import render_job as render
    from sengu.load.kube import to_yaml

    Target.parse(target)  # the pods would refuse what `run` refuses: say it here, once
    scenario_text = None
    if scenario_file is not None:
        try:
            scenario_text = scenario_file.read_text(encoding="utf-8")
        except OSError as exc:
            raise UserError(f"--scenario {scenario_file}: {exc.strerror}") from None
    objs = render(
        name=name,
        namespace=namespace,
        image=image,
        workers=pods,
        target=target,
        rate="max" if rate.strip().lower() == "max" else _rate(rate, "--rate"),
        duration_s=_seconds(duration, "--duration"),
        scenario=scenario_text,
        extra_args=run_args or (),
        processes_per_pod=processes_per_pod,
        cpu=cpu,
        memory=memory,
    )
    sys.stdout.write(to_yaml(objs))


# --- shared pieces ------------------------------------------------------------------------------------
def _common(
    target: str,
    scenario_file: Path | None,
    path: str | None,
    connections: int,
    timeout: str,
    header: list[str] | None,
    insecure: bool,
    seed: int,
    shard: str | None,
) -> _Common:
    from sengu.load.engine import Request, Target

    parsed = Target.parse(target)
    if scenario_file is not None and path is not None:
        raise UserError("give --scenario or --path, not both")
    if scenario_file is not None:
        from sengu.load.scenario import requests as draw
        from sengu.load.spec import read_scenario

        drawn = draw(read_scenario(scenario_file), seed=seed, count=REQUEST_POOL)
        requests = [Request(endpoint, method, where) for endpoint, method, where in drawn]
    else:
        where = path or "/"
        if not where.startswith("/"):
            raise UserError(f"--path {where!r} must start with /")
        requests = [Request(f"GET {where}", "GET", where)]
    if not requests:
        raise UserError(f"{scenario_file}: the scenario has no endpoint with a weight")
    if shard is not None:
        index, count = _shard(shard)
        offset = len(requests) * index // count
        requests = requests[offset:] + requests[:offset]
    headers = []
    for item in header or []:
        key, sep, value = item.partition(":")
        if not sep or not key.strip():
            raise UserError(f"--header {item!r}: write it as 'Name: value'")
        headers.append((key.strip(), value.strip()))
    return _Common(parsed.url, requests, connections, _seconds(timeout, "--timeout"), headers, insecure)


MAX_RATE_PER_WORKER = 250_000  # beyond it a typo's extra zeros would only fill memory with overflow
REQUEST_POOL = 10_000  # requests drawn from the scenario and cycled through: enough to hold the mix


def _measure(
    config: LoadConfig,
    workers: int,
    *,
    quiet: bool,
    parts_out: Path | None = None,
    stop: Stop | None = None,
    heading: str = "",
) -> Result:
    from sengu.load import workers as pool
    from sengu.load.engine import build_result

    config.validate()
    if workers < 1:
        raise UserError(f"--workers must be at least 1, not {workers}")
    peak = config.schedule.peak_rate / workers if config.schedule is not None else 0.0
    if peak > MAX_RATE_PER_WORKER:
        raise UserError(
            f"{peak:,.0f} requests/s per worker: one process offers at most {MAX_RATE_PER_WORKER:,} (about "
            "80,000 is what one core sends here); add --workers, or pods with `sengu load render-job`"
        )
    offered = config.schedule.mean_rate if config.schedule is not None else None
    if quiet:
        parts, warnings = pool.run_parts(config, workers, stop=stop)
    else:
        parts, warnings = _measure_live(config, workers, stop, heading)
    if parts_out is not None:
        from sengu.load.merge import parts_json

        _write_text(parts_json(parts, warnings) + "\n", parts_out)
    return build_result(parts, warnings, offered_rate=offered)


def _measure_live(config: LoadConfig, workers: int, stop: Stop | None, heading: str) -> tuple[list[Any], list[str]]:
    from sengu.load import workers as pool
    from sengu.load.live import LiveDisplay

    with LiveDisplay(mode=config.mode, target=config.target, heading=heading) as live:

        def progress(p: Any) -> None:
            totals = {
                "requests": p.requests,
                "errors": p.errors,
                "overflow": p.overflow,
                "duration_s": p.duration_s,
                "elapsed_s": p.second.t + 1,
                "in_flight": p.in_flight,
                "backlog": p.backlog,
                "offered_rate": config.schedule.rate_at(p.second.t) if config.schedule is not None else None,
            }
            if config.schedule is not None:  # the closed model has no schedule to be late for
                totals["send_lag_p99_ms"] = p.send_lag_p99_ms
            live.update(p.second, totals)

        return pool.run_parts(config, workers, progress, stop)


def _check_thresholds(result: Result, max_p99: float | None, max_error_rate: str | None) -> None:
    """--max-p99 / --max-error-rate: exit 1 naming what broke (for CI); and exit 1 when nothing answered,
    thresholds or not: a target that answers nothing is down, not fast."""
    if max_p99 is not None or max_error_rate is not None:
        from sengu.load.step import Slo, slo_breaches

        share = _share(max_error_rate, "--max-error-rate")
        slo = Slo(max_p99_ms=max_p99, max_error_rate=share, min_achieved_ratio=None)
        if breaches := slo_breaches(result, slo):
            raise Failure("thresholds broken: " + "; ".join(breaches))
    if not result.latency_ms.measured:
        classes = ", ".join(f"{k}: {v:,}" for k, v in sorted(result.error_classes.items()))
        what = f"all {result.requests:,} requests failed ({classes})" if result.requests else "no request completed"
        raise Failure(f"no answers from {result.target}: {what}")


def _print_summary(result: Result) -> None:
    from sengu.load.numbers import fmt_ms, fmt_pct, fmt_rate
    from sengu.load.result import CLOSED_LABEL, OPEN_LABEL

    mode = OPEN_LABEL if result.mode == "open" else CLOSED_LABEL
    lat, lag, svc = result.latency_ms, result.send_lag_ms, result.service_ms
    offered = f"offered {fmt_rate(result.offered_rate)}, " if result.offered_rate is not None else ""
    lines = (
        [
            f"INTERRUPTED (Ctrl-C) after {result.duration_s:.1f} s of the {result.planned_s or 0:g} s planned: "
            "a partial result"
        ]
        if result.interrupted
        else []
    )
    lines += [
        f"{result.target}: {mode}, {result.duration_s:g} s, {result.workers} worker(s), "
        f"{result.connections} connections",
        f"  {offered}achieved {fmt_rate(result.achieved_rate)}; {result.requests:,} requests, "
        f"{result.errors:,} errors ({fmt_pct(result.error_rate)}), overflow {result.overflow:,}",
        f"  latency   p50 {fmt_ms(lat.ms('p50'))}  p90 {fmt_ms(lat.ms('p90'))}  p99 {fmt_ms(lat.ms('p99'))}  "
        f"p99.9 {fmt_ms(lat.ms('p999'))}  max {fmt_ms(lat.ms('max'))}" + ("" if lat.measured else "  (no answers)"),
        f"  service   p50 {fmt_ms(svc.ms('p50'))}  p99 {fmt_ms(svc.ms('p99'))};  "
        f"send lag p50 {fmt_ms(lag.ms('p50'))}  p99 {fmt_ms(lag.ms('p99'))}",
    ]
    if result.statuses:
        lines.append("  statuses  " + ", ".join(f"{k}: {v:,}" for k, v in sorted(result.statuses.items())))
    if result.error_classes:
        lines.append("  errors    " + ", ".join(f"{k}: {v:,}" for k, v in sorted(result.error_classes.items())))
    lines.extend(f"  warning: {w}" for w in result.warnings)
    typer.echo("\n".join(lines), err=True)


def _write_outputs(result: Result, json_out: Path | None, report: Path | None, *, title: str) -> list[str]:
    """Write the outputs asked for; return their names."""
    written = []
    if json_out is not None:
        _write_json(result.to_json(), json_out)
        written.append("stdout" if str(json_out) == "-" else str(json_out))
    if report is not None:
        from sengu.load.report import render_html

        report.write_text(render_html([result], title=title), encoding="utf-8")
        typer.echo(f"wrote {report}", err=True)
        written.append(str(report))
    return written


def _stopped(when: str, written: list[str]) -> None:
    """A run or search stopped by Ctrl-C: say so and what holds the partial result, then exit 130."""
    from sengu.load.interrupt import EXIT_CODE

    where = f"the partial result is in {', '.join(written)}" if written else "no output was asked for"
    typer.echo(f"interrupted {when}: {where} (marked interrupted); exit code {EXIT_CODE}", err=True)
    raise typer.Exit(EXIT_CODE)


def _write_json(doc: dict[str, Any], where: Path) -> None:
    _write_text(json.dumps(doc, indent=2) + "\n", where)


def _write_text(text: str, where: Path) -> None:
    if str(where) == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        where.write_text(text, encoding="utf-8")


def _env_secret(name: str | None, option: str) -> str | None:
    if name is None:
        return None
    value = os.environ.get(name)
    if value is None:
        raise UserError(f"{option}: the environment variable {name} is not set")
    return value


def _influx(
    result: Result, url: str, *, bucket: str | None, org: str | None, token: str | None, db: str | None
) -> None:
    import asyncio

    from sengu.load import influx

    written = asyncio.run(influx.write(url, influx.lines(result), token=token, org=org, bucket=bucket, db=db))
    typer.echo(f"wrote {written} points to InfluxDB", err=True)


def _seconds(text: str, option: str, *, zero: bool = False) -> float:
    from sengu.core.duration import parse_seconds

    return parse_seconds(text, what=option, zero=zero)


def _rate(text: str, option: str) -> float:
    try:
        value = float(text.strip().replace(",", "").replace("_", ""))
    except ValueError:
        raise UserError(f"{option} {text!r} is not a rate: give requests per second, e.g. 500") from None
    if not math.isfinite(value) or value <= 0:
        raise UserError(f"{option} {text!r}: a rate must be a positive number of requests per second")
    return value


def _share(text: str | None, option: str, *, most: float | None = 1.0) -> float | None:
    """'1%' or '0.01' → 0.01; None stays None. `most`: the largest share that makes sense (None: no limit)."""
    if text is None:
        return None
    raw = text.strip()
    try:
        value = float(raw[:-1]) / 100 if raw.endswith("%") else float(raw)
    except ValueError:
        raise UserError(f"{option} {text!r} is not a share: write e.g. 1% or 0.01") from None
    if not math.isfinite(value) or value < 0 or (most is not None and value > most):
        upper = f" and {most:.0%}" if most is not None else ""
        raise UserError(f"{option} {text!r}: give a share between 0%{upper}")
    return value


def _writable(path: Path | None, option: str) -> None:
    """Refuse, before a run, an output the run could not write after it."""
    if path is None or str(path) == "-":
        return
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise UserError(f"{option} {path}: the folder {folder} does not exist")
    if path.is_dir():
        raise UserError(f"{option} {path}: is a folder; give a file name")
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise UserError(f"{option} {path}: not writable")


def _shard(text: str) -> tuple[int, int]:
    index, sep, count = text.partition("/")
    try:
        i, n = int(index), int(count)
    except ValueError:
        raise UserError(f"--shard {text!r}: write I/N, e.g. 0/4") from None
    if not sep or n < 1 or not 0 <= i < n:
        raise UserError(f"--shard {text!r}: I must be from 0 to N-1")
    return i, n
