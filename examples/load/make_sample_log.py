"""Write examples/load/access.log.gz: ten minutes of the example site's traffic as nginx would log it.

    python examples/load/make_sample_log.py [-o examples/load/access.log.gz]

Deterministic: the same content.py gives the same bytes (the gzip header carries no time or name), and a
test checks that the committed file is what this script makes. Every URL comes from content.py, the data
the app seeds itself with, so replaying the log against the app gives the statuses logged here, 200 for
pages that exist and 404 for the ones that do not.

The format is nginx's `combined` followed by $request_time (README.md has the log_format line):

    203.0.113.7 - - [14/Mar/2025:09:00:00 +0900] "GET /articles/2981 HTTP/2.0" 200 5011 "https://…" "Mozilla/…" 0.012

What is in it, the way a real front end sees it: browser sessions that land on an article from a search
engine or a social site and click on through related articles, authors and tags, fetching the static files
on their first page and revalidating them (304) now and then; the mobile app scrolling the JSON API and
posting the odd comment (POST, dropped by `sengu load scenario` unless asked for); crawlers walking the
long tail of old articles, removed ones (404) included; the load balancer's health checks; a vulnerability
scanner probing for files that are not there; a push notification at 09:06 that brings a surge to the
newest article; and a few lines no parser should accept (a TLS handshake sent to the HTTP port, a
connection closed before a request, lines cut short, an error-log line in the wrong file).
"""

from __future__ import annotations

import argparse
import gzip
import math
import random
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import quote_plus

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import content  # noqa: E402  (beside this file, not a package)

LOG_FORMAT = (
    '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent '
    '"$http_referer" "$http_user_agent" $request_time'
)
START = datetime(2025, 3, 14, 9, 0, 0, tzinfo=content.JST)
SECONDS = 600
SITE = "https://sengu-times.example"
PUSH_AT, PUSH_FOR = 360.0, 90.0  # the push notification's surge, seconds from START

STATIC_FIRST = (  # fetched on a browser's first page: (target, bytes sent, gzip on)
    ("/static/app.css?v=3", 2107),
    ("/static/app.js?v=3", 3318),
    ("/static/logo.svg", 175),
    ("/favicon.ico", 1150),
)
_WEBKIT = "AppleWebKit/537.36 (KHTML, like Gecko)"
_SAFARI = "AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.3"
BROWSERS = (
    f"Mozilla/5.0 (Windows NT 10.0; Win64; x64) {_WEBKIT} Chrome/122.0.0.0 Safari/537.36",
    f"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) {_SAFARI} Safari/605.1.15",
    f"Mozilla/5.0 (iPhone; CPU iPhone OS 17_3_1 like Mac OS X) {_SAFARI} Mobile/15E148 Safari/604.1",
    f"Mozilla/5.0 (Linux; Android 14; Pixel 8) {_WEBKIT} Chrome/122.0.6261.105 Mobile Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64; rv:123.0) Gecko/20100101 Firefox/123.0",
    f"Mozilla/5.0 (Windows NT 10.0; Win64; x64) {_WEBKIT} Chrome/122.0.0.0 Safari/537.36 Edg/122.0.2365.80",
)
APPS = (
    "SenguTimes/4.2.1 (iPhone; iOS 17.3.1; Scale/3.00)",
    "SenguTimes/4.2.0 (iPad; iOS 16.7.5; Scale/2.00)",
    "okhttp/4.12.0 SenguTimes/4.2.1 (Android 14)",
)
CRAWLERS = (
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
)
LANDING_REFERERS = (
    "https://www.google.com/",
    "https://www.google.co.jp/",
    "https://t.co/",
    "https://www.bing.com/",
    "https://news.ycombinator.com/",
    "-",
    "-",
)
MISSING_USERS = ("taro-yamada", "hanako-sato", "admin", "yuki-tanaka2")  # none of them is in content.USERS
MISSING_TAGS = ("golang", "rust", "Kubernetes", "recipes")
SCANNER_PATHS = (
    "/wp-login.php",
    "/.env",
    "/.git/config",
    "/admin/config.php",
    "/phpmyadmin/index.php",
    "/server-status",
    "/api/v1/users?limit=1000",
    "/actuator/health",
    "/backup.sql.gz",
    "/xmlrpc.php",
)


@dataclass
class Hit:
    end: float  # when nginx finished the request (it logs then), seconds from START
    line: str


class Traffic:
    """Everything logged in the window, built by the sources below from one seeded random generator."""

    def __init__(self, seed: str) -> None:
        self.rng = random.Random(seed)
        self.hits: list[Hit] = []
        self.articles = content.articles()
        self.users = [u.name for u in content.users()]
        self.user_names = set(self.users)
        by_author: dict[str, int] = {}
        for a in self.articles:
            by_author[a.author] = by_author.get(a.author, 0) + 1
        self.prolific = sorted(self.users, key=lambda n: (-by_author.get(n, 0), n))
        self.tag_counts = {t: sum(t in a.tags for a in self.articles) for t in content.TAGS}
        # A few old articles keep being read (linked from everywhere); the rest fade with age.
        self.evergreen = [self.rng.randint(1, content.ARTICLES - 400) for _ in range(25)]
        self.addresses = self._addresses()

    # --- what a page costs (status, bytes, seconds) -----------------------------------------------------
    def _addresses(self) -> list[str]:
        out = [f"{net}.{host}" for net in ("192.0.2", "198.51.100", "203.0.113") for host in range(1, 255)]
        out += [f"2001:db8:{block:x}::{host:x}" for block in range(0x10, 0x40) for host in (0x1, 0x2A, 0x1F3)]
        return out

    def latency(self, median: float, load: float, sigma: float = 0.55) -> float:
        return max(0.0005, median * load * math.exp(self.rng.gauss(0.0, sigma)))

    def load_at(self, t: float) -> float:
        """How much slower the site answers at t: the push surge costs it up to 2.2x."""
        if PUSH_AT <= t < PUSH_AT + PUSH_FOR:
            return 1.0 + 1.2 * math.exp(-(t - PUSH_AT) / 30.0)
        return 1.0

    def page(self, target: str) -> tuple[int, int, float]:
        """What the app answers for a GET of `target`: status, bytes nginx would send (gzip), median seconds."""
        path, _, query = target.partition("?")
        parts = path.strip("/").split("/")
        if path == "/":
            return 200, 1790, 0.018
        if path == "/archive":
            return 200, 61_400, 0.160
        if path == "/articles":
            return 200, 1620, 0.010
        if path == "/search":
            q = dict(p.split("=", 1) for p in query.split("&") if "=" in p).get("q", "")
            common = any(w in q.split("+") for w in content.WORDS[:30])
            return 200, 1450 if q else 980, 0.090 if common else 0.030
        if path == "/api/articles":
            return 200, 1210, 0.007
        if len(parts) == 2 and parts[0] == "articles":
            if parts[1].isdigit() and 1 <= int(parts[1]) <= content.ARTICLES:
                return 200, 1550 + len(self.articles[int(parts[1]) - 1].body) // 3, 0.011
            return 404, 980, 0.003
        if len(parts) == 3 and parts[:2] == ["api", "articles"]:
            if parts[2].isdigit() and 1 <= int(parts[2]) <= content.ARTICLES:
                return 200, 420 + len(self.articles[int(parts[2]) - 1].body) // 3, 0.006
            return 404, 38, 0.002
        if len(parts) == 2 and parts[0] == "users":
            return (200, 1700, 0.014) if parts[1] in self.user_names else (404, 975, 0.003)
        if len(parts) == 3 and parts[:2] == ["api", "users"]:
            return (200, 190, 0.004) if parts[2] in self.user_names else (404, 40, 0.002)
        if len(parts) == 2 and parts[0] == "tags":
            return (200, 1680, 0.016) if parts[1] in self.tag_counts else (404, 970, 0.003)
        if path == "/robots.txt":
            return 200, 48, 0.001
        if path == "/healthz":
            return 200, 3, 0.001
        return 404, 980, 0.002

    # --- writing lines ----------------------------------------------------------------------------------
    def log(
        self,
        t: float,
        ip: str,
        target: str,
        agent: str,
        *,
        method: str = "GET",
        referer: str = "-",
        protocol: str = "HTTP/1.1",
        status: int | None = None,
        size: int | None = None,
        seconds: float | None = None,
    ) -> None:
        s, b, median = self.page(target)
        status = s if status is None else status
        seconds = self.latency(median, self.load_at(t)) if seconds is None else seconds
        end = t + seconds
        if not 0 <= end < SECONDS:
            return
        size = b if size is None else size
        if method == "HEAD":
            size = 0
        stamp = (START + timedelta(seconds=end)).strftime("%d/%b/%Y:%H:%M:%S %z")
        line = (
            f'{ip} - - [{stamp}] "{method} {target} {protocol}" {status} {max(0, size)} '
            f'"{referer}" "{agent}" {seconds:.3f}'
        )
        self.hits.append(Hit(end, line))

    def raw(self, t: float, line: str) -> None:
        self.hits.append(Hit(t, line))

    # --- choosing what people read ----------------------------------------------------------------------
    def popular_article(self, t: float) -> int:
        if PUSH_AT <= t < PUSH_AT + PUSH_FOR and self.rng.random() < 0.5:
            return content.ARTICLES  # the one the notification was about
        if self.rng.random() < 0.15:
            return self.rng.choice(self.evergreen)
        # Most reads go to the last few weeks' articles.
        return max(1, content.ARTICLES - int(content.ARTICLES * self.rng.random() ** 4))

    def author(self) -> str:
        return self.prolific[min(len(self.prolific) - 1, int(len(self.prolific) * self.rng.random() ** 3))]

    def tag(self) -> str:
        return self.rng.choices(content.TAGS, weights=[self.tag_counts[t] for t in content.TAGS])[0]

    def query(self) -> str:
        r = self.rng.random()
        if r < 0.05:
            return "%E6%A1%9C"  # 桜, in UTF-8: no article has it
        if r < 0.10:
            return "kubernets"  # a typo: no results
        words = [self.rng.choice(content.WORDS[30:]) for _ in range(1 if r < 0.75 else 2)]
        if r > 0.97:
            words.insert(0, "the")
        return quote_plus(" ".join(words))

    def next_page(self, current: str, t: float) -> str:
        """Where a reader on `current` clicks next."""
        r = self.rng.random()
        if current.startswith("/articles/") and current[10:].isdigit():
            here = int(current[10:])
            if 1 <= here <= content.ARTICLES:
                a = self.articles[here - 1]
                if r < 0.45:  # a related article: same tag, newer ones first
                    return f"/articles/{max(1, here - int(self.rng.expovariate(1 / 40)) - 1)}"
                if r < 0.60:
                    return f"/users/{a.author}"
                if r < 0.72:
                    return f"/tags/{self.rng.choice(a.tags)}"
        if r < 0.80:
            return f"/articles/{self.popular_article(t)}"
        if r < 0.88:
            return f"/search?q={self.query()}"
        if r < 0.93:
            return f"/articles?page={self.rng.randint(2, 6)}"
        if r < 0.96:
            return "/"
        if r < 0.975:
            return "/archive"
        if r < 0.985:
            return f"/tags/{self.tag()}?page={self.rng.randint(2, 4)}"
        return self.broken_link()

    def broken_link(self) -> str:
        r = self.rng.random()
        if r < 0.5:
            return f"/articles/{self.rng.randint(content.ARTICLES + 1, content.ARTICLES + 400)}"  # removed
        if r < 0.7:
            return f"/users/{self.rng.choice(MISSING_USERS)}"
        if r < 0.85:
            return f"/tags/{self.rng.choice(MISSING_TAGS)}"
        return f"/artcles/{self.popular_article(0)}"  # a typo in someone's link

    def landing(self, t: float) -> str:
        r = self.rng.random()
        if r < 0.62:
            return f"/articles/{self.popular_article(t)}"
        if r < 0.78:
            return "/"
        if r < 0.85:
            return f"/users/{self.author()}"
        if r < 0.91:
            return f"/tags/{self.tag()}"
        if r < 0.97:
            return f"/search?q={self.query()}"
        return self.broken_link()

    # --- the sources ------------------------------------------------------------------------------------
    def arrivals(self, rate: Callable[[float], float], start: float, stop: float) -> list[float]:
        """A Poisson process with a rate that changes over time (thinning: draw at the peak, keep some)."""
        peak = max(rate(start + (stop - start) * i / 200) for i in range(201))
        out: list[float] = []
        t = start
        while True:
            t += self.rng.expovariate(peak)
            if t >= stop:
                return out
            if self.rng.random() < rate(t) / peak:
                out.append(t)

    def browser_session(self, t: float) -> None:
        ip, agent = self.rng.choice(self.addresses), self.rng.choice(BROWSERS)
        protocol = "HTTP/2.0" if self.rng.random() < 0.8 else "HTTP/1.1"
        target, referer = self.landing(t), self.rng.choice(LANDING_REFERERS)
        for view in range(1 + min(12, int(self.rng.expovariate(1 / 2.2)))):
            self.log(t, ip, target, agent, referer=referer, protocol=protocol)
            page_url = SITE + target
            if view == 0 and self.rng.random() < 0.4:  # most first visitors have them cached already
                for i, (asset, size) in enumerate(STATIC_FIRST):
                    seconds = self.rng.uniform(0.0, 0.002)
                    status = 200 if self.rng.random() < 0.88 else 304  # a returning reader revalidates
                    size = size if status == 200 else 0
                    self.log(t + 0.05 + 0.01 * i, ip, asset, agent, referer=page_url, protocol=protocol,
                             status=status, size=size, seconds=seconds)  # fmt: skip
            elif self.rng.random() < 0.04:
                self.log(t + 0.05, ip, STATIC_FIRST[0][0], agent, referer=page_url, protocol=protocol,
                         status=304, size=0, seconds=0.0)  # fmt: skip
            t += 2.0 + self.rng.expovariate(1 / 25)
            referer, target = page_url, self.next_page(target, t)

    def app_session(self, t: float, surge: bool = False) -> None:
        ip, agent = self.rng.choice(self.addresses), self.rng.choice(APPS)
        if surge:  # opened from the notification: straight to the article, then maybe the list
            self.log(t, ip, f"/api/articles/{content.ARTICLES}", agent)
            t += 5.0 + self.rng.expovariate(1 / 20)
        for page in range(1, 2 + min(8, int(self.rng.expovariate(1 / 1.5)))):
            self.log(t, ip, f"/api/articles?page={page}", agent)
            t += 1.0 + self.rng.expovariate(1 / 8)
            if self.rng.random() < 0.6:
                article = self.popular_article(t)
                self.log(t, ip, f"/api/articles/{article}", agent)
                t += 3.0 + self.rng.expovariate(1 / 30)
                if self.rng.random() < 0.15:
                    self.log(t, ip, f"/api/users/{self.articles[article - 1].author}", agent)
                if self.rng.random() < 0.02:
                    self.log(t, ip, f"/api/articles/{article}/comments", agent, method="POST", status=201, size=64,
                             seconds=self.latency(0.015, self.load_at(t)))  # fmt: skip

    def crawler(self, agent: str, ip: str, rate: float) -> None:
        self.log(self.rng.uniform(0, 5), ip, "/robots.txt", agent)
        for t in self.arrivals(lambda _: rate, 0.0, SECONDS):
            r = self.rng.random()
            if r < 0.80:  # the long tail: any article ever published, and some that were removed
                target = f"/articles/{self.rng.randint(1, content.ARTICLES + 60)}"
            elif r < 0.90:
                target = f"/users/{self.rng.choice(self.users)}"
            elif r < 0.97:
                target = f"/tags/{self.rng.choice(content.TAGS)}?page={self.rng.randint(1, 12)}"
            else:
                target = f"/articles?page={self.rng.randint(1, content.pages(content.ARTICLES))}"
            self.log(t, ip, target, agent)

    def health_checks(self) -> None:
        for ip, offset in (("10.0.1.17", 1.3), ("10.0.2.41", 6.1)):
            t = offset
            while t < SECONDS:
                self.log(t, ip, "/healthz", "ELB-HealthChecker/2.0", seconds=0.001)
                t += 10.0

    def scanner(self, t: float) -> None:
        ip, agent = "198.51.100.250", "Mozilla/5.0 (compatible; Nmap Scripting Engine; https://nmap.org/book/nse.html)"
        for path in SCANNER_PATHS:
            method = "HEAD" if path == "/server-status" else "GET"
            self.log(t, ip, path, agent, method=method, seconds=0.001)
            t += self.rng.uniform(0.05, 0.3)

    def garbage(self) -> None:
        """Lines a parser must count and skip, not choke on."""
        for t in sorted(self.rng.uniform(0, SECONDS) for _ in range(3)):
            stamp = (START + timedelta(seconds=t)).strftime("%d/%b/%Y:%H:%M:%S %z")
            hello = r"\x16\x03\x01\x02\x00\x01\x00\x01\xFC\x03\x03\xA1\x9E"
            self.raw(t, f'{self.rng.choice(self.addresses)} - - [{stamp}] "{hello}" 400 157 "-" "-" 0.038')
        for t in sorted(self.rng.uniform(0, SECONDS) for _ in range(3)):
            stamp = (START + timedelta(seconds=t)).strftime("%d/%b/%Y:%H:%M:%S %z")
            self.raw(t, f'{self.rng.choice(self.addresses)} - - [{stamp}] "-" 400 0 "-" "-" 0.000')
        t = self.rng.uniform(100, 500)
        stamp = (START + timedelta(seconds=t)).strftime("%Y/%m/%d %H:%M:%S")
        self.raw(
            t,
            f"{stamp} [error] 31#31: *48213 upstream timed out (110: Connection timed out) while reading "
            f'response header from upstream, client: 203.0.113.54, server: _, request: "GET /archive HTTP/1.1"',
        )
        self.raw(self.rng.uniform(0, SECONDS), "")

    def cut_lines(self, count: int) -> None:
        """Lines cut short, as a log shipper restarted mid-write leaves them."""
        for i in self.rng.sample(range(len(self.hits)), count):
            line = self.hits[i].line
            self.hits[i].line = line[: self.rng.randint(20, len(line) // 2)]


def browser_rate(t: float) -> float:
    """Browser sessions starting per second: a weekday morning climbing, then the push surge."""
    base = 4.1 + 2.3 * min(1.0, max(0.0, t) / SECONDS)
    if PUSH_AT <= t < PUSH_AT + PUSH_FOR:
        base += 7.0 * math.exp(-(t - PUSH_AT) / 30.0)
    return base


def app_rate(t: float) -> float:
    return 1.3 + 0.3 * math.sin(t / 95.0)


def generate() -> list[str]:
    traffic = Traffic(f"sengu-example-log-{content.SEED}")
    # Sessions already under way at 09:00 started before it.
    for t in traffic.arrivals(browser_rate, -300.0, SECONDS):
        traffic.browser_session(t)
    for t in traffic.arrivals(app_rate, -120.0, SECONDS):
        traffic.app_session(t)
    for t in traffic.arrivals(lambda t: 10.0 * math.exp(-(t - PUSH_AT) / 25.0), PUSH_AT, PUSH_AT + PUSH_FOR):
        traffic.app_session(t, surge=True)
    traffic.crawler(CRAWLERS[0], "192.0.2.66", 1.6)
    traffic.crawler(CRAWLERS[1], "192.0.2.77", 0.5)
    traffic.health_checks()
    traffic.scanner(traffic.rng.uniform(200, 260))
    traffic.cut_lines(4)
    traffic.garbage()
    # nginx writes a line when the response is done; lines finishing in the same second keep their order.
    traffic.hits.sort(key=lambda h: h.end)
    return [h.line for h in traffic.hits]


def write(lines: list[str], path: Path) -> None:
    data = "".join(line + "\n" for line in lines).encode("ascii")
    if path.suffix == ".gz":
        with path.open("wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz:
            gz.write(data)
    else:
        path.write_bytes(data)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-o", "--output", type=Path, default=HERE / "access.log.gz", help="a .gz name compresses")
    args = parser.parse_args(argv)
    lines = generate()
    write(lines, args.output)
    print(f"wrote {len(lines)} lines to {args.output} ({args.output.stat().st_size:,} bytes)")


if __name__ == "__main__":
    main()
