"""Every `--help` of the real `sengu` app, as a user reads it, at a narrow and a wide terminal.

The command tree is walked, not listed: a command or option added later is checked the same way. What a
page must be (kubectl's convention): a one-line summary, an "Examples:" block whose lines are the source's
lines as written, metavars in capitals (FILE..., PORT, DURATION) and never a Python type, no word broken
at a hyphen, and one meaning per short flag across all commands (-n is --namespace).
"""

from __future__ import annotations

import inspect
import itertools
import json
import os
import re
import shlex
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import pytest
import typer
import typer.main
from typer.testing import CliRunner

from sengu.cli import app
from sengu.core.help import App

ROOT = Path(__file__).resolve().parents[1]
WIDTHS = (80, 200)
TREE = typer.main.get_command(app)

# A metavar: capitals (FILE, OWNER/NAME, RATE,..., 'NAME: VALUE', -- RUN_OPTION...), or choices (yaml|json).
METAVAR = re.compile(r"(?:[A-Z0-9_/,.:' -]*[A-Z][A-Z0-9_/,.:' -]*|[a-z0-9-]+(?:\|[a-z0-9-]+)+)")
PYTHON_TYPE = re.compile(r"<(?:list|int|float|str|bool|path|text|integer|tuple|dict|datetime|uuid)\b[^>]*>", re.I)
HYPHENATED = re.compile(r"[A-Za-z0-9]+(?:-[A-Za-z0-9]+)+")


def walk(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    yield path, command
    for name, sub in getattr(command, "commands", {}).items():
        yield from walk(sub, (*path, name))


COMMANDS = list(walk(TREE))
IDS = [" ".join(("sengu", *path)) for path, _ in COMMANDS]


# Every page as `sengu … --help` prints it (the entry point, a terminal of $COLUMNS), in one process per
# width; and which libraries that process loaded.
RENDER = """
import contextlib, io, json, sys
import typer.main
from sengu.cli import app, main

def walk(command, path=()):
    yield path
    for name, sub in getattr(command, "commands", {}).items():
        yield from walk(sub, (*path, name))

sys.argv[0] = "sengu"
pages = {}
for path in walk(typer.main.get_command(app)):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        try:
            main([*path, "--help"])
        except SystemExit as exc:
            assert not exc.code, (path, exc.code)
    pages[" ".join(path)] = out.getvalue()
print(json.dumps({"pages": pages, "modules": sorted(sys.modules)}))
"""


def render_all(width: int) -> dict[str, Any]:
    env = {**os.environ, "COLUMNS": str(width)}
    done = subprocess.run([sys.executable, "-c", RENDER], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


@pytest.fixture(scope="module")
def rendered() -> dict[int, dict[str, Any]]:
    return {width: render_all(width) for width in WIDTHS}


@pytest.fixture(scope="module")
def pages(rendered: dict[int, dict[str, Any]]) -> dict[tuple[tuple[str, ...], int], str]:
    return {(path, width): rendered[width]["pages"][" ".join(path)] for path, _ in COMMANDS for width in WIDTHS}


def source_text(command: Any) -> str:
    """The help as written in the source (docstring or help=, and epilog), indentation normalised."""
    parts = [inspect.cleandoc(command.help or "")]
    if command.epilog:
        parts.append(textwrap.dedent(command.epilog).strip("\n"))
    return "\n\n".join(parts)


def source_examples(command: Any) -> list[str]:
    """The example lines of the source: after `Examples:`, every indented or blank line, dedented."""
    lines = source_text(command).splitlines()
    for i, line in enumerate(lines):
        if found := re.match(r"^Examples?:\s*(.*)$", line):
            block = []
            for following in lines[i + 1 :]:
                if following.strip() and not following[:1].isspace():
                    break
                block.append(following)
            first = [found.group(1)] if found.group(1) else []
            return [*first, *(x for x in textwrap.dedent("\n".join(block)).splitlines() if x.strip())]
    return []


def section(page: str, title: str) -> list[str]:
    lines = page.splitlines()
    if f"{title}:" not in lines:
        return []
    out = []
    for line in lines[lines.index(f"{title}:") + 1 :]:
        if not line.strip():
            break
        out.append(line)
    return out


def first_column(row: str) -> str:
    return row[2:].split("  ")[0]


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=IDS)
@pytest.mark.parametrize("width", WIDTHS)
def test_metavars_are_words_never_python_types(
    path: tuple[str, ...], command: Any, width: int, pages: dict[tuple[tuple[str, ...], int], str]
) -> None:
    page = pages[(path, width)]
    assert not PYTHON_TYPE.search(page), PYTHON_TYPE.search(page)
    assert "list[" not in page
    usage = page.splitlines()[0]
    assert usage.startswith(f"Usage: {' '.join(('sengu', *path))} "), usage
    pieces = usage.split(" ", 1 + 1 + len(path))[-1]
    assert "{" not in pieces and "<" not in pieces, usage
    for piece in re.findall(r"\[[^\]]+\](?:\.\.\.)?|\S+", pieces):
        bare = piece.removesuffix("...").strip("[]")
        assert bare in ("OPTIONS", "ARGS") or METAVAR.fullmatch(bare.removesuffix("...")), f"{usage}: {piece}"
    for row in section(page, "Arguments"):
        if not row.startswith("   "):
            assert METAVAR.fullmatch(first_column(row)), f"{' '.join(path)}: argument {row!r}"
    for row in section(page, "Options"):
        if not row.startswith("  -"):
            continue
        words = [w for w in re.split(r",? |, ", first_column(row)) if w and w != "/"]
        metavar = " ".join(w for w in words if not w.startswith("-"))
        assert not metavar or METAVAR.fullmatch(metavar), f"{' '.join(path)}: option {row!r}"
        assert "Path" not in metavar and "list" not in metavar


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=IDS)
@pytest.mark.parametrize("width", WIDTHS)
def test_no_word_is_broken_at_a_hyphen(
    path: tuple[str, ...], command: Any, width: int, pages: dict[tuple[tuple[str, ...], int], str]
) -> None:
    page = pages[(path, width)]
    lines = page.splitlines()
    for line, following in itertools.pairwise(lines):
        assert not (re.search(r"[A-Za-z]-$", line) and re.match(r"\s*[A-Za-z]", following)), (line, following)
    written = source_text(command) + " " + " ".join(p.help or "" for p in command.params if not p.hidden)
    flat = " ".join(page.split())
    for word in set(HYPHENATED.findall(written)):
        assert word in flat, f"{' '.join(path)}: {word!r} is not whole in --help (width {width})"


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=IDS)
def test_every_command_has_a_one_line_summary_shown_whole(
    path: tuple[str, ...], command: Any, pages: dict[tuple[tuple[str, ...], int], str]
) -> None:
    paragraphs = source_text(command).split("\n\n")
    summary = paragraphs[0]
    assert summary.strip(), f"{' '.join(path)} has no summary"
    assert "\n" not in summary, f"{' '.join(path)}: the summary is one line, then a blank line:\n{summary}"
    assert not re.match(r"^Examples?:", summary)
    page = pages[(path, 80)]
    assert " ".join(page.split("\n\n")[1].split()) == summary  # right under the usage line
    if path:  # the parent lists it with its whole summary, never cut short with "..."
        listing = " ".join(" ".join(section(pages[(path[:-1], 200)], "Commands")).split())
        assert f"{path[-1]} {summary}" in listing


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=IDS)
@pytest.mark.parametrize("width", WIDTHS)
def test_examples_are_shown_as_written(
    path: tuple[str, ...], command: Any, width: int, pages: dict[tuple[tuple[str, ...], int], str]
) -> None:
    examples = source_examples(command)
    assert any(line.startswith("sengu ") for line in examples), f"{' '.join(path)}: no example in its help"
    page = pages[(path, width)].splitlines()
    assert "Examples:" in page
    shown = page[page.index("Examples:") + 1 :]
    for line in examples:
        assert f"  {line}" in shown, f"{' '.join(path)} (width {width}): example line not kept as written: {line}"


def example_commands() -> Iterator[tuple[str, list[str]]]:
    """Every `sengu …` command of every example, as words (continuation lines joined)."""
    for _, command in COMMANDS:
        text = "\n".join(source_examples(command)).replace("\\\n", " ")
        for line in text.splitlines():
            for part in re.split(r"\s(?:\||&&|;)\s", line):
                if part.startswith("sengu "):
                    yield line, shlex.split(part.replace("$", ""))[1:]


def test_examples_use_only_commands_and_options_that_exist() -> None:
    checked = 0
    for line, words in example_commands():
        command, rest = TREE, list(words)
        while rest and rest[0] in getattr(command, "commands", {}):
            command = getattr(command, "commands")[rest.pop(0)]  # noqa: B009 (a group; mypy sees a Command)
        known = {o for p in command.params for o in (*p.opts, *p.secondary_opts)} | {"-h", "--help"}
        if "--" in rest:
            rest = rest[: rest.index("--")]
        used = {w.split("=")[0] for w in rest if w.startswith("-") and w != "-"}
        assert used <= known, f"example `{line}`: no such option {sorted(used - known)}"
        assert not hasattr(command, "commands") or "--help" in used, f"example `{line}`: no such command"
        checked += 1
    assert checked > 30


def test_a_short_flag_means_one_option_in_every_command() -> None:
    meaning: dict[str, set[str]] = {}
    for _, command in COMMANDS:
        for param in command.params:
            names = [*param.opts, *param.secondary_opts]
            longs = [o for o in names if o.startswith("--")]
            for short in (o for o in names if not o.startswith("--")):
                meaning.setdefault(short, set()).update(longs[:1])
    assert {k: v for k, v in meaning.items() if len(v) > 1} == {}
    assert meaning["-n"] == {"--namespace"}  # kubectl's: never --name or --limit


def test_the_real_command_prints_the_same_page(pages: dict[tuple[tuple[str, ...], int], str]) -> None:
    env = {**os.environ, "COLUMNS": "80"}
    script = Path(sys.executable).parent / "sengu"  # the installed command, named as users type it
    real = subprocess.run(
        [str(script), "batch", "import", "--help"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        cwd=ROOT,
    )
    assert real.returncode == 0, real.stderr
    assert real.stdout == pages[(("batch", "import"), 80)]
    assert real.stdout.splitlines()[0] == "Usage: sengu batch import [OPTIONS] CRONTAB..."
    missing = subprocess.run([str(script), "batch", "validate"], capture_output=True, text=True, env=env, timeout=60)
    assert missing.returncode == 2 and "Missing argument 'FILE...'" in missing.stderr, missing.stderr


def test_help_imports_nothing_heavy(rendered: dict[int, dict[str, Any]]) -> None:
    """Rendering every page loads none of the libraries the commands import when they run: help stays fast.

    (pydantic is not in the list: typer 0.29 itself imports it to parse any command's options.)
    """
    heavy = {"kopf", "kubernetes", "boto3", "botocore", "uvloop", "yaml", "rich", "httpx", "starlette", "uvicorn"}
    heavy |= {"prometheus_client", "hdrh", "jsonschema", "jwt", "sengu.core.kube", "sengu.batch.resolve"}
    assert heavy & set(rendered[80]["modules"]) == set()


def test_a_new_command_gets_the_layout_without_asking() -> None:
    """What a later branch adds through sengu.core.help.App reads the same, Python types included."""
    extra = App(help="A capability added later.\n\nExamples:\n  sengu extra go a.yaml")

    @extra.command()
    def go(
        files: Annotated[list[Path], typer.Argument(help="Files.")],
        out: Annotated[Path | None, typer.Option("--out", "-o", help="Write here.")] = None,
        tries: Annotated[int, typer.Option(help="Tries.")] = 3,
        wait: Annotated[float, typer.Option("--wait-timeout", help="Seconds.")] = 1.0,
        tags: Annotated[list[str] | None, typer.Option("--tag", help="Tags.")] = None,
    ) -> None:
        """Go somewhere with self-hosted-and-very-long-hyphenated-words-that-must-never-be-split-anywhere.

        Example: sengu extra go a.yaml b.yaml --out x.yaml
                 --tag one
        """

    root = App(help="Root.\n\nExamples:\n  sengu extra --help", name="sengu")
    root.add_typer(extra, name="extra")
    page = CliRunner().invoke(root, ["extra", "go", "--help"], prog_name="sengu").output
    assert page.splitlines()[0] == "Usage: sengu extra go [OPTIONS] FILE..."
    assert "  FILE...  Files." in page
    assert "  -o, --out FILE " in page and "  --tries N " in page and "  --wait-timeout SECONDS " in page
    assert "  --tag TAG " in page
    assert "self-hosted-and-very-long-hyphenated-words-that-must-never-be-split-anywhere." in page
    assert "Examples:\n  sengu extra go a.yaml b.yaml --out x.yaml\n           --tag one\n" in page
    assert not PYTHON_TYPE.search(page) and "list[" not in page
    group = CliRunner().invoke(root, ["extra", "--help"], prog_name="sengu").output
    listing = " ".join(group.split("Commands:")[1].split())
    assert listing.startswith("go Go somewhere with self-hosted-and-very-long-hyphenated-words-that-must-never-be")
