"""A small content site to aim `sengu load` at: articles, authors, tags, a search, a JSON API, static files.

    python examples/load/app.py --port 8000 [--workers 2] [--access-log /tmp/access.log]

Starlette on uvicorn (both sengu dependencies) with SQLite, seeded at start from content.py: 3,000
articles by 400 authors, the same content make_sample_log.py draws the sample log's URLs from. Some
pages are cheap (an article by id, a page of the JSON API, a static file); some are heavier on purpose,
the way real ones are: /search scans every article body twice (a LIKE '%…%' for the count, then for the
page), /archive renders all 3,000 titles, an article page runs four queries and renders its comments.

Handlers are plain functions, so Starlette runs them in its thread pool, each thread with its own SQLite
connection, as a typical synchronous web app would. `--access-log FILE` appends one nginx-style line per
request (the format in README.md), so a scenario can be built from this app's own traffic too.
"""

from __future__ import annotations

import argparse
import hashlib
import html
import json
import os
import re
import signal
import sqlite3
import sys
import tempfile
import threading
import time
from collections.abc import Iterable
from itertools import groupby
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import content  # noqa: E402  (beside this file, not a package)

DB_ENV = "SENGU_EXAMPLE_DB"
ACCESS_LOG_ENV = "SENGU_EXAMPLE_ACCESS_LOG"
SITE = "Sengu Times"


# --- the database ----------------------------------------------------------------------------------------
SCHEMA = """
CREATE TABLE users (name TEXT PRIMARY KEY, display TEXT NOT NULL, joined TEXT NOT NULL, bio TEXT NOT NULL);
CREATE TABLE articles (
    id INTEGER PRIMARY KEY, title TEXT NOT NULL, author TEXT NOT NULL REFERENCES users(name),
    published TEXT NOT NULL, body TEXT NOT NULL
);
CREATE INDEX articles_author ON articles (author, id);
CREATE TABLE article_tags (tag TEXT NOT NULL, article_id INTEGER NOT NULL REFERENCES articles(id),
                           PRIMARY KEY (tag, article_id)) WITHOUT ROWID;
CREATE TABLE comments (
    id INTEGER PRIMARY KEY, article_id INTEGER NOT NULL REFERENCES articles(id), author TEXT NOT NULL,
    body TEXT NOT NULL, created TEXT NOT NULL
);
CREATE INDEX comments_article ON comments (article_id, id);
"""


def seed(path: Path) -> None:
    """A fresh database at `path` holding content.py's users and articles (the old file is replaced)."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.executescript(SCHEMA)
        with conn:
            conn.executemany(
                "INSERT INTO users VALUES (?, ?, ?, ?)",
                [(u.name, u.display, u.joined.isoformat(), u.bio) for u in content.users()],
            )
            conn.executemany(
                "INSERT INTO articles VALUES (?, ?, ?, ?, ?)",
                [(a.id, a.title, a.author, a.published.isoformat(), a.body) for a in content.articles()],
            )
            conn.executemany(
                "INSERT INTO article_tags VALUES (?, ?)",
                [(tag, a.id) for a in content.articles() for tag in a.tags],
            )
    finally:
        conn.close()


_local = threading.local()


def db() -> sqlite3.Connection:
    """This thread's connection (sqlite3 connections are not shared between threads)."""
    conn: sqlite3.Connection | None = getattr(_local, "conn", None)
    if conn is None:
        path = os.environ.get(DB_ENV)
        if not path:
            raise RuntimeError(f"{DB_ENV} is not set: start the app with `python {Path(__file__).name}`")
        conn = sqlite3.connect(path, timeout=10)
        conn.row_factory = sqlite3.Row
        _local.conn = conn
    return conn


def page_number(request: Request) -> int:
    raw = request.query_params.get("page", "1")
    if not raw.isdigit() or int(raw) < 1:
        raise HTTPException(400, "page must be a positive integer")
    return int(raw)


# --- HTML ------------------------------------------------------------------------------------------------
def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def layout(title: str, body: str, *, status: int = 200) -> HTMLResponse:
    doc = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{esc(title)} · {SITE}</title>
<link rel="stylesheet" href="/static/app.css?v=3">
<link rel="icon" href="/favicon.ico">
<script src="/static/app.js?v=3" defer></script>
</head>
<body>
<header class="site"><a href="/"><img src="/static/logo.svg" alt="" width="32" height="32"> {SITE}</a>
<nav><a href="/articles">Articles</a> <a href="/archive">Archive</a> <a href="/tags/kubernetes">Kubernetes</a>
<a href="/tags/cooking">Cooking</a> <a href="/tags/travel">Travel</a></nav>
<form action="/search" method="get" role="search"><input type="search" name="q" placeholder="Search"></form>
</header>
<main>
{body}
</main>
<footer class="site"><p>{SITE} — an example site for <code>sengu load</code>. Content generated; any
resemblance to real writing is a coincidence.</p></footer>
</body>
</html>
"""
    return HTMLResponse(doc, status_code=status)


def article_items(rows: Iterable[sqlite3.Row]) -> str:
    items = "\n".join(
        f'<li><a href="/articles/{r["id"]}">{esc(r["title"])}</a> '
        f'<span class="meta">by <a href="/users/{esc(r["author"])}">{esc(r["author"])}</a>, '
        f"{esc(r['published'][:10])}</span></li>"
        for r in rows
    )
    return f'<ul class="articles">\n{items}\n</ul>'


def pager(base: str, page: int, total: int) -> str:
    last = content.pages(total)
    sep = "&" if "?" in base else "?"
    links = []
    if page > 1:
        links.append(f'<a rel="prev" href="{esc(base)}{sep}page={page - 1}">newer</a>')
    links.append(f"<span>page {page} of {last}</span>")
    if page < last:
        links.append(f'<a rel="next" href="{esc(base)}{sep}page={page + 1}">older</a>')
    return f'<nav class="pager">{" ".join(links)}</nav>'


# --- pages -----------------------------------------------------------------------------------------------
LIST_COLUMNS = "a.id, a.title, a.author, a.published"


def home(request: Request) -> Response:
    rows = db().execute(f"SELECT {LIST_COLUMNS} FROM articles a ORDER BY id DESC LIMIT ?", (content.PER_PAGE,))
    tags = db().execute("SELECT tag, COUNT(*) AS n FROM article_tags GROUP BY tag ORDER BY n DESC LIMIT 12")
    cloud = " ".join(f'<a href="/tags/{esc(t["tag"])}">{esc(t["tag"])} ({t["n"]})</a>' for t in tags)
    return layout("Latest", f"<h1>Latest</h1>\n{article_items(rows)}\n<aside><h2>Tags</h2>{cloud}</aside>")


def article_list(request: Request) -> Response:
    page = page_number(request)
    total = content.ARTICLES
    rows = db().execute(
        f"SELECT {LIST_COLUMNS} FROM articles a ORDER BY id DESC LIMIT ? OFFSET ?",
        (content.PER_PAGE, (page - 1) * content.PER_PAGE),
    )
    return layout(
        f"Articles, page {page}", f"<h1>Articles</h1>\n{article_items(rows)}\n{pager('/articles', page, total)}"
    )


def article(request: Request) -> Response:
    article_id = request.path_params["id"]
    conn = db()
    row = conn.execute(
        "SELECT a.*, u.display FROM articles a JOIN users u ON u.name = a.author WHERE a.id = ?", (article_id,)
    ).fetchone()
    if row is None:
        raise HTTPException(404, f"no article {article_id}")
    tags = [t["tag"] for t in conn.execute("SELECT tag FROM article_tags WHERE article_id = ?", (article_id,))]
    related = conn.execute(
        f"SELECT {LIST_COLUMNS} FROM article_tags t JOIN articles a ON a.id = t.article_id "
        "WHERE t.tag = ? AND a.id != ? ORDER BY a.id DESC LIMIT 8",
        (tags[0] if tags else "", article_id),
    )
    comments = conn.execute(
        "SELECT author, body, created FROM comments WHERE article_id = ? ORDER BY id", (article_id,)
    ).fetchall()
    body = "\n".join(f"<p>{esc(p)}</p>" for p in row["body"].split("\n\n"))
    tag_links = " ".join(f'<a class="tag" href="/tags/{esc(t)}">{esc(t)}</a>' for t in tags)
    comment_items = "\n".join(
        f"<li><strong>{esc(c['author'])}</strong> <time>{esc(c['created'])}</time><p>{esc(c['body'])}</p></li>"
        for c in comments
    )
    doc = f"""<article>
<h1>{esc(row["title"])}</h1>
<p class="meta">by <a href="/users/{esc(row["author"])}">{esc(row["display"])}</a>,
<time datetime="{esc(row["published"])}">{esc(row["published"][:10])}</time> {tag_links}</p>
{body}
</article>
<section class="comments"><h2>Comments ({len(comments)})</h2><ul>{comment_items}</ul></section>
<aside><h2>Related</h2>{article_items(related)}</aside>"""
    return layout(row["title"], doc)


def user(request: Request) -> Response:
    name = request.path_params["name"]
    page = page_number(request)
    conn = db()
    row = conn.execute("SELECT * FROM users WHERE name = ?", (name,)).fetchone()
    if row is None:
        raise HTTPException(404, f"no user {name}")
    total = conn.execute("SELECT COUNT(*) FROM articles WHERE author = ?", (name,)).fetchone()[0]
    rows = conn.execute(
        f"SELECT {LIST_COLUMNS} FROM articles a WHERE author = ? ORDER BY id DESC LIMIT ? OFFSET ?",
        (name, content.PER_PAGE, (page - 1) * content.PER_PAGE),
    )
    doc = (
        f"<h1>{esc(row['display'])}</h1>\n<p>{esc(row['bio'])}</p>\n"
        f"<p class='meta'>Joined {esc(row['joined'][:10])} · {total} articles</p>\n"
        f"{article_items(rows)}\n{pager(f'/users/{name}', page, total)}"
    )
    return layout(row["display"], doc)


def tag(request: Request) -> Response:
    name = request.path_params["tag"]
    page = page_number(request)
    conn = db()
    total = conn.execute("SELECT COUNT(*) FROM article_tags WHERE tag = ?", (name,)).fetchone()[0]
    if total == 0:
        raise HTTPException(404, f"no tag {name}")
    rows = conn.execute(
        f"SELECT {LIST_COLUMNS} FROM article_tags t JOIN articles a ON a.id = t.article_id "
        "WHERE t.tag = ? ORDER BY a.id DESC LIMIT ? OFFSET ?",
        (name, content.PER_PAGE, (page - 1) * content.PER_PAGE),
    )
    return layout(f"#{name}", f"<h1>#{esc(name)}</h1>\n{article_items(rows)}\n{pager(f'/tags/{name}', page, total)}")


def search_terms(q: str) -> list[str]:
    return [t for t in re.split(r"\W+", q.lower()) if t][:5]


def relevance(title: str, body: str, terms: list[str]) -> int:
    title, body = title.lower(), body.lower()
    return sum(5 * title.count(t) + body.count(t) for t in terms)


def snippet(body: str, term: str, width: int = 80) -> str:
    at = body.lower().find(term)
    if at < 0:
        return esc(body[:width])
    start = max(0, at - width // 2)
    text = body[start : at + len(term) + width // 2]
    return esc(text).replace(esc(term), f"<mark>{esc(term)}</mark>")


def search(request: Request) -> Response:
    q = request.query_params.get("q", "")
    terms = search_terms(q)
    page = page_number(request)
    if not terms:
        return layout("Search", "<h1>Search</h1><p>Type a word or two.</p>")
    # Deliberately the slow, common way: LIKE '%term%' cannot use an index, so the query scans every body,
    # and the ranking reads every match in Python; a common word costs far more than a rare one.
    where = " AND ".join("(a.title LIKE ? OR a.body LIKE ?)" for _ in terms)
    params = [p for t in terms for p in (f"%{t}%", f"%{t}%")]
    matches = db().execute(f"SELECT {LIST_COLUMNS}, a.body FROM articles a WHERE {where}", params).fetchall()
    ranked = sorted(matches, key=lambda r: (-relevance(r["title"], r["body"], terms), -r["id"]))
    total = len(ranked)
    start = (page - 1) * content.PER_PAGE
    rows = ranked[start : start + content.PER_PAGE]
    items = "\n".join(
        f'<li><a href="/articles/{r["id"]}">{esc(r["title"])}</a><p>{snippet(r["body"], terms[0])}</p></li>'
        for r in rows
    )
    doc = f"<h1>{total} results for “{esc(q)}”</h1>\n<ol>{items}</ol>\n{pager(f'/search?q={esc(q)}', page, total)}"
    return layout(f"Search: {q}", doc)


def archive(request: Request) -> Response:
    rows = db().execute(f"SELECT {LIST_COLUMNS} FROM articles a ORDER BY id DESC").fetchall()
    sections = []
    for month, group in groupby(rows, key=lambda r: r["published"][:7]):
        sections.append(f"<section><h2>{month}</h2>\n{article_items(group)}\n</section>")
    return layout("Archive", "<h1>Archive</h1>\n" + "\n".join(sections))


# --- the JSON API ----------------------------------------------------------------------------------------
def article_json(row: sqlite3.Row, tags: list[str]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "title": row["title"],
        "author": row["author"],
        "published": row["published"],
        "tags": tags,
        "url": f"/articles/{row['id']}",
    }


def api_articles(request: Request) -> Response:
    page = page_number(request)
    conn = db()
    rows = conn.execute(
        f"SELECT {LIST_COLUMNS} FROM articles a ORDER BY id DESC LIMIT ? OFFSET ?",
        (content.PER_PAGE, (page - 1) * content.PER_PAGE),
    ).fetchall()
    tags: dict[int, list[str]] = {}
    if rows:
        marks = ",".join("?" * len(rows))
        for t in conn.execute(
            f"SELECT article_id, tag FROM article_tags WHERE article_id IN ({marks})", [r["id"] for r in rows]
        ):
            tags.setdefault(t["article_id"], []).append(t["tag"])
    return JSONResponse(
        {
            "page": page,
            "per_page": content.PER_PAGE,
            "total": content.ARTICLES,
            "items": [article_json(r, tags.get(r["id"], [])) for r in rows],
        }
    )


def api_article(request: Request) -> Response:
    article_id = request.path_params["id"]
    conn = db()
    row = conn.execute("SELECT * FROM articles WHERE id = ?", (article_id,)).fetchone()
    if row is None:
        return JSONResponse({"error": f"no article {article_id}"}, status_code=404)
    tags = [t["tag"] for t in conn.execute("SELECT tag FROM article_tags WHERE article_id = ?", (article_id,))]
    return JSONResponse(article_json(row, tags) | {"body": row["body"]})


def api_user(request: Request) -> Response:
    name = request.path_params["name"]
    conn = db()
    row = conn.execute("SELECT * FROM users WHERE name = ?", (name,)).fetchone()
    if row is None:
        return JSONResponse({"error": f"no user {name}"}, status_code=404)
    count = conn.execute("SELECT COUNT(*) FROM articles WHERE author = ?", (name,)).fetchone()[0]
    return JSONResponse(
        {"name": row["name"], "display": row["display"], "joined": row["joined"], "bio": row["bio"], "articles": count}
    )


async def api_comment(request: Request) -> Response:
    article_id = request.path_params["id"]
    try:
        data = json.loads(await request.body() or b"{}")
    except ValueError:
        data = None
    if not isinstance(data, dict) or not str(data.get("body", "")).strip():
        return JSONResponse({"error": 'send {"author": "…", "body": "…"}'}, status_code=400)
    author = str(data.get("author") or "anonymous")
    response: Response = await run_in_threadpool(_insert_comment, article_id, author, str(data["body"]))
    return response


def _insert_comment(article_id: int, author: str, body: str) -> Response:
    conn = db()
    if conn.execute("SELECT 1 FROM articles WHERE id = ?", (article_id,)).fetchone() is None:
        return JSONResponse({"error": f"no article {article_id}"}, status_code=404)
    created = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    with conn:
        cursor = conn.execute(
            "INSERT INTO comments (article_id, author, body, created) VALUES (?, ?, ?, ?)",
            (article_id, author[:80], body[:2000], created),
        )
    return JSONResponse({"id": cursor.lastrowid, "article_id": article_id, "created": created}, status_code=201)


# --- static files (in memory: the example stays a handful of files) --------------------------------------
def _static_files() -> dict[str, tuple[bytes, str]]:
    palette = ["#b7282e", "#1e50a2", "#2f5d50", "#c3a369", "#594255", "#e8d3c7"]
    css = "\n".join(
        f".c{i} {{ color: {palette[i % len(palette)]}; margin: {i % 7}px {i % 5}px; padding: {i % 3}px; }}"
        for i in range(160)
    )
    css = (
        "body { font: 16px/1.6 system-ui, sans-serif; max-width: 46rem; margin: 0 auto; padding: 0 1rem; }\n"
        "header.site, footer.site { display: flex; gap: 1rem; align-items: center; }\n"
        "mark { background: #f5e56b; } .meta { color: #666; font-size: .9em; } .tag { margin-right: .4em; }\n" + css
    )
    js = "\n".join(
        f"function widget{i}(el) {{ if (!el) return; el.dataset.w{i} = String({i} * 7 % 13); }}" for i in range(220)
    )
    js += "\ndocument.addEventListener('DOMContentLoaded', () => { document.body.classList.add('ready'); });\n"
    logo = (
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><path d="M2 10h28M5 14h22M9 14v16M23 14v16" '
        'stroke="#b7282e" stroke-width="3" fill="none"/></svg>\n'
    )
    robots = "User-agent: *\nDisallow: /search\nDisallow: /api/\n"
    # A 16x16 32-bit ICO: header, one directory entry, a BMP header, the pixels and the AND mask.
    pixels = bytes([0x2E, 0x28, 0xB7, 0xFF]) * 256
    bmp = (40).to_bytes(4, "little") + (16).to_bytes(4, "little") + (32).to_bytes(4, "little")
    bmp += (1).to_bytes(2, "little") + (32).to_bytes(2, "little") + bytes(24) + pixels + bytes(64)
    ico = bytes([0, 0, 1, 0, 1, 0, 16, 16, 0, 0, 1, 0, 32, 0]) + len(bmp).to_bytes(4, "little")
    ico += (22).to_bytes(4, "little") + bmp
    return {
        "/static/app.css": (css.encode(), "text/css; charset=utf-8"),
        "/static/app.js": (js.encode(), "text/javascript; charset=utf-8"),
        "/static/logo.svg": (logo.encode(), "image/svg+xml"),
        "/favicon.ico": (ico, "image/vnd.microsoft.icon"),
        "/robots.txt": (robots.encode(), "text/plain; charset=utf-8"),
    }


STATIC = _static_files()
STATIC_PATHS = tuple(STATIC)


async def static(request: Request) -> Response:
    found = STATIC.get(request.url.path)
    if found is None:
        raise HTTPException(404, "no such file")
    data, media_type = found
    etag = '"' + hashlib.sha256(data).hexdigest()[:16] + '"'
    headers = {"cache-control": "public, max-age=86400", "etag": etag}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return Response(data, media_type=media_type, headers=headers)


async def healthz(request: Request) -> Response:
    return PlainTextResponse("ok\n")


async def not_found(request: Request, exc: Exception) -> Response:
    detail = exc.detail if isinstance(exc, HTTPException) else "not found"
    status = exc.status_code if isinstance(exc, HTTPException) else 404
    if request.url.path.startswith("/api/"):
        return JSONResponse({"error": detail}, status_code=status)
    return layout("Not found" if status == 404 else "Error", f"<h1>{status}</h1><p>{esc(detail)}</p>", status=status)


ROUTES = [
    Route("/", home),
    Route("/articles", article_list),
    Route("/articles/{id:int}", article),
    Route("/users/{name}", user),
    Route("/tags/{tag}", tag),
    Route("/search", search),
    Route("/archive", archive),
    Route("/api/articles", api_articles),
    Route("/api/articles/{id:int}", api_article),
    Route("/api/articles/{id:int}/comments", api_comment, methods=["POST"]),
    Route("/api/users/{name}", api_user),
    Route("/healthz", healthz),
    *(Route(path, static) for path in STATIC_PATHS),
]


# --- the access log --------------------------------------------------------------------------------------
class AccessLog:
    """One line per request in nginx's `combined` format followed by $request_time (seconds, ms resolution).

    Several worker processes append to one file: each line goes out in one write() on an O_APPEND
    descriptor, so lines do not interleave."""

    def __init__(self, app: ASGIApp, path: str) -> None:
        self.app = app
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 0
        sent = 0

        async def counting_send(message: Message) -> None:
            nonlocal status, sent
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body" and scope["method"] != "HEAD":
                sent += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, counting_send)
        finally:
            self.write(scope, status or 500, sent, time.perf_counter() - start)

    def write(self, scope: Scope, status: int, sent: int, elapsed: float) -> None:
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", [])}
        target = scope.get("raw_path") or scope["path"].encode()
        if scope.get("query_string"):
            target += b"?" + scope["query_string"]
        request = f"{scope['method']} {target.decode('latin-1')} HTTP/{scope.get('http_version', '1.1')}"
        client = scope.get("client") or ("-", 0)
        line = (
            f"{client[0]} - - [{time.strftime('%d/%b/%Y:%H:%M:%S %z')}] {_quoted(request)} {status} {sent} "
            f"{_quoted(headers.get('referer', '-'))} {_quoted(headers.get('user-agent', '-'))} {elapsed:.3f}\n"
        )
        os.write(self.fd, line.encode("latin-1", "replace"))


def _quoted(value: str) -> str:
    # nginx escapes '"', '\' and non-printable bytes as \xHH in logged variables.
    return '"' + "".join(c if " " <= c <= "~" and c not in '"\\' else f"\\x{ord(c):02X}" for c in value) + '"'


def create_app() -> ASGIApp:
    app = Starlette(routes=ROUTES, exception_handlers={HTTPException: not_found})
    log_path = os.environ.get(ACCESS_LOG_ENV)
    return AccessLog(app, log_path) if log_path else app


app = create_app()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes (default 1)")
    parser.add_argument("--access-log", metavar="FILE", help="append an nginx-style access log line per request")
    parser.add_argument("--db", metavar="FILE", help="the SQLite file to seed (default: a temporary file)")
    args = parser.parse_args(argv)
    if args.workers < 1:
        parser.error("--workers must be at least 1")

    import uvicorn

    tmp = None
    if args.db:
        db_path = Path(args.db)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="sengu-example-")
        db_path = Path(tmp.name) / "site.db"
    started = time.perf_counter()
    seed(db_path)
    # Worker processes import this module afresh: the settings reach them through the environment.
    os.environ[DB_ENV] = str(db_path)
    if args.access_log:
        os.environ[ACCESS_LOG_ENV] = str(Path(args.access_log).resolve())
    print(
        f"seeded {content.ARTICLES} articles and {content.USERS} users into {db_path} "
        f"in {time.perf_counter() - started:.1f} s; serving http://{args.host}:{args.port}/ "
        f"with {args.workers} worker(s)",
        flush=True,
    )
    # uvicorn shuts down gracefully on SIGTERM, then raises the signal again with the handler it found:
    # this one turns it into SystemExit so the temporary database is removed.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    try:
        uvicorn.run(
            "app:app",
            app_dir=str(HERE),
            host=args.host,
            port=args.port,
            workers=args.workers,
            access_log=False,  # the optional nginx-style log above replaces uvicorn's own
            log_level="warning",
        )
    finally:
        if tmp is not None:
            tmp.cleanup()


if __name__ == "__main__":
    main()
