"""A real InfluxDB 1.x (Debian's `influxdb` package, installed by tools/install-debs.sh) for the tests: its own
config and data in a temporary folder, on free loopback ports, stopped on exit."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

from tests.load.servers import free_port

INFLUXD = shutil.which("influxd") or ("/usr/bin/influxd" if Path("/usr/bin/influxd").exists() else None)
START_S = 60.0

CONFIG = """\
reporting-disabled = true
bind-address = "127.0.0.1:{rpc}"
[meta]
  dir = "{home}/meta"
[data]
  dir = "{home}/data"
  wal-dir = "{home}/wal"
  query-log-enabled = false
[monitor]
  store-enabled = false
[subscriber]
  enabled = false
[continuous_queries]
  enabled = false
[http]
  bind-address = "127.0.0.1:{http}"
  log-enabled = false
  pprof-enabled = false
"""


class InfluxD:
    """``with InfluxD() as influx: influx.url; influx.query("SHOW DATABASES")``."""

    def __init__(self) -> None:
        if INFLUXD is None:
            raise RuntimeError("influxd is not installed (tools/install-debs.sh installs it)")
        self.home = Path(tempfile.mkdtemp(prefix="sengu-influxd-"))
        self.port = free_port()
        config = self.home / "influxdb.conf"
        config.write_text(CONFIG.format(home=self.home, rpc=free_port(), http=self.port))
        self.log = open(self.home / "influxd.log", "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [INFLUXD, "run", "-config", str(config)],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + START_S
        while not self._ping():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"influxd did not start: {(self.home / 'influxd.log').read_text()[-2000:]}")
            time.sleep(0.1)  # polling a process we do not control: there is no clock to inject here

    def _ping(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/ping", timeout=2) as answer:
                return bool(answer.status == 204)
        except OSError:
            return False

    def query(self, q: str, db: str | None = None) -> dict[str, Any]:
        """Run InfluxQL through the HTTP API (POST /query) and return its JSON answer."""
        form = {"q": q} | ({"db": db} if db else {})
        request = urllib.request.Request(f"{self.url}/query", data=urllib.parse.urlencode(form).encode(), method="POST")
        with urllib.request.urlopen(request, timeout=30) as answer:
            doc: dict[str, Any] = json.loads(answer.read())
        return doc

    def rows(self, q: str, db: str) -> list[dict[str, Any]]:
        """The rows of a SELECT, as dicts of column → value (tags included)."""
        out = []
        for result in self.query(q, db).get("results", []):
            for series in result.get("series", []):
                for values in series["values"]:
                    out.append(dict(zip(series["columns"], values, strict=True)) | series.get("tags", {}))
        return out

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)
        self.log.close()
        shutil.rmtree(self.home, ignore_errors=True)

    def __enter__(self) -> InfluxD:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.stop()
