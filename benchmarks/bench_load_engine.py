"""Bar: `sengu load run --rate max` with one worker reaches at least 8x the requests/s of Locust FastHttpUser in
one process and at least 0.7x wrk with one thread, against the same nginx serving a small file, side by side
in one run; and at 10,000 req/s offered on one core the achieved rate is within 1% of the target.

The server is Debian's nginx, started here from a temporary config (one worker process, no access log, a
61-byte file), pinned to --server-core with taskset. Every client is pinned to --client-core, so the client
has one core of its own and the server the other. Clients, each for --seconds, 8 keep-alive connections:

- wrk (anchor, C): `wrk -t1 -c8 -d{S}s URL`, its "Requests/sec";
- sengu, closed model: `sengu load run --rate max -c 8 --workers 1`, the result's achieved_rate;
- Locust FastHttpUser (anchor, Python) in one process, headless, 8 users spawned at 8/s, no wait time.
  Locust counts from its first user on; --reset-stats restarts its counters once all 8 run, and it is given
  one second more than --seconds for that, so its rate (its own: requests over the time from the reset to
  the last request, from the final stats of --json; the _stats.csv is refreshed only once a second) covers
  about --seconds at full concurrency, as the others do.

Then the open model: `sengu load run --rate 10000 --warmup 1s -c 64 --workers 1` for --open-seconds, and
achieved/offered, send lag p99 and the generator's CPU from the result. achieved_rate counts the answers to
requests due in the window, however late; so the answers that arrived within the window (the result's
per-second timeline) are checked against the same 1% too.

The VM is noisy (the same wrk command has given 15.5k, 37k and 82k req/s in different minutes), so the tools are
interleaved: --rounds rounds of [wrk, sengu, locust, sengu open], each seeing the same noise as its
neighbours; the ratios sengu/locust and sengu/wrk are taken per round, and the bar is judged on the medians
of the per-round ratios (and the median achieved/offered). During each client's run CPU is sampled every
0.5 s (medians reported, so start-up hardly counts): the server core's busy share and nginx's own CPU —
near 100% means the server, not the client, set the pace (which caps sengu/wrk near 1) — and the client's
CPU, also per request: what each tool spends on one request, whatever the server allows.

Usage: python benchmarks/bench_load_engine.py [--rounds 3] [--seconds 5] [--open-seconds 10] [--open-rate 10000]
Needs nginx and wrk (bash tools/install-debs.sh) and Locust (pip install -e '.[bench]'). About 85 s.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import benchkit as kit

BAR_VS_LOCUST = 8.0
BAR_VS_WRK = 0.7
BAR_OPEN_TOLERANCE = 0.01
BAR = (
    f"--rate max, 1 worker >= {BAR_VS_LOCUST:g}x Locust FastHttpUser (1 process) and >= {BAR_VS_WRK:g}x wrk -t1;"
    f" at 10k req/s offered, achieved within {BAR_OPEN_TOLERANCE:.0%}"
)

NGINX = Path("/usr/sbin/nginx")
PAGE = "/index.html"
# 61 bytes, as in the measurements of shared/notes/load-engine.md.
BODY = b"<!doctype html><title>sengu</title><p>hello from nginx</p>\n\n\n"

NGINX_CONF = """worker_processes 1;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/client_body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    server {{
        listen 127.0.0.1:{port};
        location / {{ root {tmp}/www; }}
    }}
}}
"""

LOCUSTFILE = """from locust import FastHttpUser, task


class U(FastHttpUser):
    host = {host!r}

    @task
    def t(self):
        self.client.get({path!r})
"""


# --- processes ------------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def children_of(pid: int) -> list[int]:
    """Direct children of pid, from /proc (nginx's workers are the master's children)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_bytes()
        except OSError:
            continue
        if int(stat[stat.rindex(b")") + 2 :].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def stop_group(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """Stop a process started in its own session, and whatever it started: SIGTERM, then SIGKILL."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout)
            break
        except subprocess.TimeoutExpired:
            continue
    # The group may outlive its leader (e.g. nginx's worker after the master died).
    with suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


@dataclass
class Server:
    port: int
    core: int
    pids: list[int]  # master and worker(s)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cpu(self) -> float:
        total = 0.0
        for pid in self.pids:
            with suppress(OSError):
                total += kit.cpu_seconds(pid)
        return total


@contextmanager
def nginx(tmp: Path, core: int) -> Iterator[Server]:
    """Debian's nginx on a free port of 127.0.0.1, pinned to one core; stopped on the way out, even on error."""
    www = tmp / "www"
    www.mkdir(parents=True)
    (www / PAGE.lstrip("/")).write_bytes(BODY)
    # nginx's worker runs as nobody when started by root: it must be able to reach and read the file, and
    # the bench's workdir is private (mkdtemp) by default.
    for path in (tmp.parent, tmp, www):
        path.chmod(0o755)
    (www / PAGE.lstrip("/")).chmod(0o644)
    port = free_port()
    conf = tmp / "nginx.conf"
    conf.write_text(NGINX_CONF.format(tmp=tmp, port=port))
    argv = ["taskset", "-c", str(core), str(NGINX), "-p", str(tmp), "-e", str(tmp / "error.log"), "-c", str(conf)]
    with open(tmp / "nginx.out", "wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 10
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"nginx exited with {proc.returncode}:\n{read_tail(tmp / 'error.log')}")
            if fetch(port) == BODY:
                break
            if time.monotonic() > deadline:
                raise SystemExit(f"nginx did not answer within 10 s:\n{read_tail(tmp / 'error.log')}")
            time.sleep(0.05)
        yield Server(port, core, [proc.pid, *children_of(proc.pid)])
    finally:
        stop_group(proc)


def fetch(port: int) -> bytes | None:
    """The body of GET PAGE, or None when nothing answers yet."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(f"GET {PAGE} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n".encode())
            data = b""
            while chunk := s.recv(65536):
                data += chunk
    except OSError:
        return None
    head, _, body = data.partition(b"\r\n\r\n")
    return body if head.startswith(b"HTTP/1.1 200") else None


def read_tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return f"({path} not written)"


def core_jiffies(core: int) -> tuple[int, int]:
    """(busy, total) clock ticks of one core since boot, from /proc/stat; busy includes irq, softirq and steal."""
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith(f"cpu{core} "):
            ticks = [int(v) for v in line.split()[1:]]
            idle = ticks[3] + ticks[4]  # idle + iowait
            return sum(ticks) - idle, sum(ticks)
    raise SystemExit(f"no cpu{core} in /proc/stat")


@dataclass
class Ran:
    """One client run. The shares are medians of 0.5 s samples, so the steady state, not start-up, counts:
    the client process's CPU (all its threads), nginx's CPU, and how busy the server's core was."""

    wall_s: float
    client_cpu: float | None
    server_cpu: float | None
    server_core_busy: float | None
    log: Path


class Sampler:
    """Samples CPU counters every 0.5 s in a thread while a client runs."""

    def __init__(self, pid: int, server: Server) -> None:
        self.pid, self.server = pid, server
        self.rows: list[tuple[float, float | None, float, int, int]] = []
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.done.is_set():
            try:
                client: float | None = kit.cpu_seconds(self.pid)
            except (OSError, ValueError, IndexError):  # gone, or in the middle of exec
                client = None
            busy, total = core_jiffies(self.server.core)
            self.rows.append((time.monotonic(), client, self.server.cpu(), busy, total))
            self.done.wait(0.5)

    def stop(self) -> tuple[float | None, float | None, float | None]:
        """Median shares over the samples: client CPU, server CPU, server core busy."""
        self.done.set()
        self.thread.join()
        client, server, core = [], [], []
        for (t0, c0, s0, b0, n0), (t1, c1, s1, b1, n1) in zip(self.rows, self.rows[1:], strict=False):
            if c0 is not None and c1 is not None:
                client.append((c1 - c0) / (t1 - t0))
            server.append((s1 - s0) / (t1 - t0))
            if n1 > n0:
                core.append((b1 - b0) / (n1 - n0))
        return median(client), median(server), median(core)


def run_client(
    argv: Sequence[str], core: int, log: Path, server: Server, timeout: float, *, stdout: Path | None = None
) -> Ran:
    """Run one client to its end pinned to a core; its output (or only stderr, when stdout is given) to log.
    Its own session, so nothing it starts outlives it."""
    t0 = time.monotonic()
    with open(log, "wb") as err, open(stdout or os.devnull, "wb") as out:
        proc = subprocess.Popen(
            ["taskset", "-c", str(core), *argv],
            stdout=out if stdout else err,
            stderr=err,
            stdin=subprocess.DEVNULL,
            env=ENV,
            cwd=kit.ROOT,
            start_new_session=True,
        )
    sampler = Sampler(proc.pid, server)
    try:
        rc = proc.wait(timeout)
    except subprocess.TimeoutExpired:
        raise SystemExit(f"{argv[0]} still running after {timeout:.0f}s:\n{read_tail(log)}") from None
    finally:
        client_cpu, server_cpu, busy = sampler.stop()
        stop_group(proc)
    if rc != 0:
        raise SystemExit(f"{' '.join(argv)} exited with {rc}:\n{read_tail(log)}")
    return Ran(time.monotonic() - t0, client_cpu, server_cpu, busy, log)


def shares(ran: Ran, rps: float) -> dict[str, Any]:
    return {
        "client_cpu_share": ran.client_cpu,
        # Client CPU per request in the steady state: how much of a core each tool spends on one request.
        "client_cpu_us_per_request": ran.client_cpu / rps * 1e6 if ran.client_cpu is not None and rps else None,
        "server_cpu_share": ran.server_cpu,
        "server_core_busy": ran.server_core_busy,
        "wall_s": ran.wall_s,
    }


ENV: dict[str, str] = dict(os.environ)


# --- the clients ----------------------------------------------------------------------------------------
def run_wrk(server: Server, seconds: float, core: int, wd: Path, tag: str) -> dict[str, Any]:
    secs = max(1, round(seconds))
    ran = run_client(
        ["wrk", "-t1", "-c8", f"-d{secs}s", server.url + PAGE], core, wd / f"wrk-{tag}.log", server, secs + 30
    )
    text = ran.log.read_text(errors="replace")
    match = re.search(r"Requests/sec:\s*([\d.]+)", text)
    if not match:
        raise SystemExit(f"no Requests/sec in wrk's output:\n{text}")
    total = re.search(r"(\d+) requests in", text)
    bad = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", text)
    sock = re.search(r"Socket errors: (.*)", text)
    return {
        "rps": float(match.group(1)),
        "requests": int(total.group(1)) if total else None,
        "errors": (int(bad.group(1)) if bad else 0),
        "socket_errors": sock.group(1).strip() if sock else None,
    } | shares(ran, float(match.group(1)))


def run_sengu(
    server: Server,
    core: int,
    wd: Path,
    tag: str,
    *,
    rate: str,
    seconds: float,
    connections: int,
    warmup: float = 0.0,
) -> dict[str, Any]:
    out = wd / f"sengu-{tag}.json"
    argv = [
        kit.PYTHON,
        "-m",
        "sengu",
        "load",
        "run",
        "-t",
        server.url,
        "--path",
        PAGE,
        "--rate",
        rate,
        "--duration",
        f"{seconds:g}s",
        "--warmup",
        f"{warmup:g}s",
        "-c",
        str(connections),
        "--workers",
        "1",
        "-q",
        "--json",
        str(out),
    ]
    ran = run_client(argv, core, wd / f"sengu-{tag}.log", server, seconds + warmup + 60)
    result: dict[str, Any] = json.loads(out.read_text())
    # achieved_rate counts answers to the requests *due* in the window, however late they came; the answers
    # that *arrived* in the window, per second, are a check that does not lean on that definition.
    inside = [s["completed"] for s in result["timeline"] if s["t"] < result["duration_s"]]
    return {
        "rps": result["achieved_rate"],
        "mode": result["mode"],
        "offered_rate": result["offered_rate"],
        "requests": result["requests"],
        "errors": result["errors"],
        "overflow": result["overflow"],
        "statuses": result["statuses"],
        "latency_p99_ms": result["latency_ms"]["p99"],
        "service_p99_ms": result["service_ms"]["p99"],
        "send_lag_p99_ms": result["send_lag_ms"]["p99"],
        "generator_cpu": result["generator_cpu"],
        "warnings": result["warnings"],
        "answered_in_window_rps": sum(inside) / result["duration_s"] if inside else None,
        "worst_second": min(inside) if inside else None,
    } | shares(ran, result["achieved_rate"])


def run_locust(server: Server, seconds: float, core: int, wd: Path, tag: str) -> dict[str, Any]:
    locustfile = wd / "locustfile.py"
    if not locustfile.exists():
        locustfile.write_text(LOCUSTFILE.format(host=server.url, path=PAGE))
    secs = max(1, round(seconds)) + 1  # one more for the spawn, which --reset-stats leaves out
    argv = [
        kit.PYTHON,
        "-m",
        "locust",
        "-f",
        str(locustfile),
        "--headless",
        "-u",
        "8",
        "-r",
        "8",
        "-t",
        f"{secs}s",
        "--reset-stats",
        "--only-summary",
        "--json",
        "--loglevel",
        "WARNING",
    ]
    stats = wd / f"locust-{tag}.json"
    ran = run_client(argv, core, wd / f"locust-{tag}.log", server, secs + 60, stdout=stats)
    entries = json.loads(stats.read_text())
    if len(entries) != 1:
        raise SystemExit(f"expected one Locust stats entry, got {entries}")
    entry = entries[0]
    # Locust's own Requests/s: count over the time from its (reset) start to the last request.
    rps = entry["num_requests"] / (entry["last_request_timestamp"] - entry["start_time"])
    text = ran.log.read_text(errors="replace")
    return {
        "rps": rps,
        "requests": entry["num_requests"],
        "errors": entry["num_failures"],
        "measured_s": entry["last_request_timestamp"] - entry["start_time"],
        "cpu_warning": "CPU usage above" in text,
    } | shares(ran, rps)


# --- results --------------------------------------------------------------------------------------------
def versions() -> dict[str, str]:
    def first_line(argv: list[str]) -> str:
        done = subprocess.run(argv, capture_output=True, text=True)
        return (done.stdout + done.stderr).strip().splitlines()[0] if (done.stdout + done.stderr).strip() else "?"

    from importlib.metadata import version

    return {
        "nginx": first_line([str(NGINX), "-v"]).split(": ", 1)[-1],
        "wrk": first_line(["wrk", "--version"]).split(" Copyright")[0].strip(),
        "locust": version("locust"),
        "sengu": version("sengu"),
        "uvloop": version("uvloop") if importlib.util.find_spec("uvloop") else "not installed",
    }


def ratio(a: float, b: float) -> float | None:
    return a / b if b else None


def median(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def k(rps: float | None) -> str:
    return "n/a" if rps is None else f"{rps:,.0f}/s"


def x(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}x"


def pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0%}"


def check_tools(client_core: int, server_core: int) -> None:
    missing = [name for name in ("wrk", "taskset") if shutil.which(name) is None]
    if not NGINX.exists():
        missing.append(str(NGINX))
    if missing:
        raise SystemExit(f"missing: {', '.join(missing)} (bash tools/install-debs.sh)")
    if importlib.util.find_spec("locust") is None:
        raise SystemExit("Locust is not installed: pip install -e '.[bench]'")
    cores = os.sched_getaffinity(0)
    if client_core == server_core or not {client_core, server_core} <= cores:
        raise SystemExit(f"need two distinct usable cores, got client {client_core}, server {server_core}: {cores}")


def on_signal(signum: int, _frame: object) -> None:
    raise SystemExit(f"stopped by {signal.Signals(signum).name}")


def us(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3, help="rounds of [wrk, sengu, locust, sengu open]")
    parser.add_argument("--seconds", type=float, default=5.0, help="seconds of each closed-loop client")
    parser.add_argument("--open-seconds", type=float, default=10.0, help="measured seconds of the open-model run")
    parser.add_argument("--open-rate", type=float, default=10000.0, help="offered req/s of the open-model run")
    parser.add_argument("--client-core", type=int, default=0)
    parser.add_argument("--server-core", type=int, default=1)
    args = parser.parse_args()
    check_tools(args.client_core, args.server_core)
    # nginx would otherwise outlive a terminated bench (run_all's timeout, a CI cancel): turn the signals into
    # SystemExit so every `finally` below stops the client and nginx. Ctrl-C does so as KeyboardInterrupt.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)

    rounds: list[dict[str, Any]] = []
    c = args.client_core
    with kit.workdir("load-engine") as wd:
        ENV.update(kit.bench_env(wd / "home"))
        with nginx(wd / "nginx", args.server_core) as server:
            for i in range(1, args.rounds + 1):
                tag = str(i)
                wrk = run_wrk(server, args.seconds, c, wd, tag)
                ours = run_sengu(server, c, wd, tag, rate="max", seconds=args.seconds, connections=8)
                loc = run_locust(server, args.seconds, c, wd, tag)
                opened = run_sengu(
                    server,
                    c,
                    wd,
                    f"open-{tag}",
                    rate=f"{args.open_rate:g}",
                    seconds=args.open_seconds,
                    connections=64,
                    warmup=1.0,
                )
                if ours["mode"] != "closed" or opened["mode"] != "open":
                    raise SystemExit(f"unexpected modes: --rate max gave {ours['mode']}, a rate gave {opened['mode']}")
                row: dict[str, Any] = {
                    "round": i,
                    "wrk": wrk,
                    "sengu": ours,
                    "locust": loc,
                    "open": opened,
                    "sengu_vs_locust": ratio(ours["rps"], loc["rps"]),
                    "sengu_vs_wrk": ratio(ours["rps"], wrk["rps"]),
                    "open_achieved_vs_offered": ratio(opened["rps"], args.open_rate),
                    "open_answered_vs_offered": ratio(opened["answered_in_window_rps"] or 0, args.open_rate),
                }
                rounds.append(row)
                print(
                    f"round {i}: wrk {k(wrk['rps'])}, sengu --rate max {k(ours['rps'])}, Locust {k(loc['rps'])};"
                    f" sengu/Locust {x(row['sengu_vs_locust'], 1)}, sengu/wrk {x(row['sengu_vs_wrk'])}",
                    flush=True,
                )
                print(
                    f"  client CPU: wrk {pct(wrk['client_cpu_share'])} = {us(wrk['client_cpu_us_per_request'])} us/req,"
                    f" sengu {pct(ours['client_cpu_share'])} = {us(ours['client_cpu_us_per_request'])} us/req,"
                    f" Locust {pct(loc['client_cpu_share'])} = {us(loc['client_cpu_us_per_request'])} us/req"
                    f"{' (Locust warned: CPU)' if loc['cpu_warning'] else ''}; server core busy (nginx process):"
                    f" wrk {pct(wrk['server_core_busy'])} ({pct(wrk['server_cpu_share'])}),"
                    f" sengu {pct(ours['server_core_busy'])} ({pct(ours['server_cpu_share'])}),"
                    f" Locust {pct(loc['server_core_busy'])} ({pct(loc['server_cpu_share'])})",
                    flush=True,
                )
                print(
                    f"  open {args.open_rate:,.0f}/s: achieved {k(opened['rps'])}"
                    f" ({x(row['open_achieved_vs_offered'], 4)}); answers arriving in the window"
                    f" {k(opened['answered_in_window_rps'])} ({x(row['open_answered_vs_offered'], 4)}, worst second"
                    f" {opened['worst_second']}); send lag p99 {opened['send_lag_p99_ms']:.1f} ms,"
                    f" latency p99 {opened['latency_p99_ms']:.1f} ms, generator CPU {pct(opened['generator_cpu'])},"
                    f" overflow {opened['overflow']}, errors {opened['errors']}"
                    f"{'; warnings: ' + '; '.join(opened['warnings']) if opened['warnings'] else ''}",
                    flush=True,
                )
            server_log = read_tail(wd / "nginx" / "error.log", 5)

    def med_of(tool: str, key: str) -> float | None:
        return median([r[tool][key] for r in rounds])

    med: dict[str, float | None] = {
        "wrk_rps": med_of("wrk", "rps"),
        "sengu_rps": med_of("sengu", "rps"),
        "locust_rps": med_of("locust", "rps"),
        "sengu_vs_locust": median([r["sengu_vs_locust"] for r in rounds]),
        "sengu_vs_wrk": median([r["sengu_vs_wrk"] for r in rounds]),
        "wrk_cpu_us_per_request": med_of("wrk", "client_cpu_us_per_request"),
        "sengu_cpu_us_per_request": med_of("sengu", "client_cpu_us_per_request"),
        "locust_cpu_us_per_request": med_of("locust", "client_cpu_us_per_request"),
        "wrk_server_core_busy": med_of("wrk", "server_core_busy"),
        "sengu_server_core_busy": med_of("sengu", "server_core_busy"),
        "open_achieved_rps": med_of("open", "rps"),
        "open_achieved_vs_offered": median([r["open_achieved_vs_offered"] for r in rounds]),
        "open_answered_vs_offered": median([r["open_answered_vs_offered"] for r in rounds]),
        "open_send_lag_p99_ms": med_of("open", "send_lag_p99_ms"),
        "open_latency_p99_ms": med_of("open", "latency_p99_ms"),
        "open_generator_cpu": med_of("open", "generator_cpu"),
    }
    vs_locust, vs_wrk, held = med["sengu_vs_locust"], med["sengu_vs_wrk"], med["open_achieved_vs_offered"]
    errors = sum(r[t]["errors"] for r in rounds for t in ("wrk", "sengu", "locust", "open"))
    met_locust = vs_locust is not None and vs_locust >= BAR_VS_LOCUST
    met_wrk = vs_wrk is not None and vs_wrk >= BAR_VS_WRK
    arrived = med["open_answered_vs_offered"]
    # Both counts must hold: due-and-answered (the result's achieved_rate) and answered-in-the-window.
    met_open = all(v is not None and abs(v - 1) <= BAR_OPEN_TOLERANCE for v in (held, arrived))
    met = met_locust and met_wrk and met_open and errors == 0
    per_cpu = ratio(med["locust_cpu_us_per_request"] or 0, med["sengu_cpu_us_per_request"] or 0)
    print(
        f"median of {len(rounds)} rounds: wrk {k(med['wrk_rps'])}, sengu {k(med['sengu_rps'])},"
        f" Locust {k(med['locust_rps'])}; sengu/Locust {x(vs_locust, 1)} (bar >= {BAR_VS_LOCUST:g}x:"
        f" {'met' if met_locust else 'NOT met'}), sengu/wrk {x(vs_wrk)} (bar >= {BAR_VS_WRK:g}x:"
        f" {'met' if met_wrk else 'NOT met'})"
    )
    print(
        f"  client CPU per request: wrk {us(med['wrk_cpu_us_per_request'])} us, sengu"
        f" {us(med['sengu_cpu_us_per_request'])} us, Locust {us(med['locust_cpu_us_per_request'])} us"
        f" (Locust/sengu {x(per_cpu, 1)}); server core busy: wrk {pct(med['wrk_server_core_busy'])},"
        f" sengu {pct(med['sengu_server_core_busy'])}"
    )
    print(
        f"  open {args.open_rate:,.0f}/s: achieved {k(med['open_achieved_rps'])} = {x(held, 4)} of offered,"
        f" answers arriving in the window {x(arrived, 4)} (bar within {BAR_OPEN_TOLERANCE:.0%}:"
        f" {'met' if met_open else 'NOT met'}), send lag p99"
        f" {med['open_send_lag_p99_ms']:.1f} ms, generator CPU {pct(med['open_generator_cpu'])};"
        f" errors in all runs: {errors}  => {'MET' if met else 'NOT MET'}"
    )
    print(
        f"  worst round: sengu/Locust {x(min(r['sengu_vs_locust'] or 0 for r in rounds), 1)},"
        f" sengu/wrk {x(min(r['sengu_vs_wrk'] or 0 for r in rounds))},"
        f" open {x(min(r['open_achieved_vs_offered'] or 0 for r in rounds), 4)}"
        f" (arriving {x(min(r['open_answered_vs_offered'] or 0 for r in rounds), 4)})"
    )
    tools = versions()
    print(f"  {', '.join(f'{name} {v}' for name, v in tools.items())}; nginx error log tail: {server_log or '(empty)'}")
    kit.emit(
        {
            "bench": "load_engine",
            "bar": BAR,
            "met": met,
            "met_parts": {"vs_locust": met_locust, "vs_wrk": met_wrk, "open_rate": met_open, "no_errors": errors == 0},
            "value": vs_locust,
            "unit": "x Locust",
            "medians": med,
            "locust_vs_sengu_cpu_per_request": per_cpu,
            "rounds": rounds,
            "settings": {
                "rounds": args.rounds,
                "seconds": args.seconds,
                "open_seconds": args.open_seconds,
                "open_rate": args.open_rate,
                "client_core": c,
                "server_core": args.server_core,
                "body_bytes": len(BODY),
            },
            "versions": tools,
            "summary": f"sengu {k(med['sengu_rps'])} = {x(vs_locust, 1)} Locust ({k(med['locust_rps'])}),"
            f" {x(vs_wrk)} wrk ({k(med['wrk_rps'])}); open {args.open_rate:,.0f}/s held at {x(held, 4)}",
        }
    )


if __name__ == "__main__":
    main()
