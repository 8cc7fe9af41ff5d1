"""How every `sengu` command's --help reads, in one place: kubectl's layout, from docstrings kept as written.

A command's help text (its docstring) is read as:

- the first paragraph: the one-line summary (also what the parent's command list shows, never cut short);
- prose paragraphs: rewrapped to the terminal, never breaking a word at a hyphen (`self-hosted`) or a URL;
- lines indented deeper than the paragraph they follow: kept as written (a YAML snippet, a table);
- an `Examples:` line and the indented lines after it (blank lines between groups allowed): kept as
  written, one command per line, under an "Examples:" heading. `Example: CMD` on one line works too.

Options and arguments show a metavar derived from the parameter (FILE, DIR, PORT, DURATION, SECONDS, N,
the option's own name in capitals, as argparse does), or the `metavar=` given — never a Python type.

Every Typer app of sengu is an `App`: its commands and groups use the classes here, with no Rich (see
docs/decisions.md: help stays fast).
"""

from __future__ import annotations

import inspect
import re
import textwrap
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeVar, get_args, get_origin

import typer
from typer.core import TyperCommand, TyperGroup

if TYPE_CHECKING:
    from typer._click import Context, HelpFormatter, Parameter

# Wider than click's 80: the option table needs room for `--baseline-instances N` beside its help. Narrower
# terminals still get their own width.
MAX_WIDTH = 100
CONTEXT_SETTINGS: dict[str, Any] = {"help_option_names": ["-h", "--help"], "max_content_width": MAX_WIDTH}

F = TypeVar("F", bound=Callable[..., Any])

_EXAMPLES = re.compile(r"^Examples?:\s*(.*)$")
_FIRST_COLUMN = 32  # option columns longer than this put their help on the next line


# --- metavars -----------------------------------------------------------------------------------------
def _value_type(param: Parameter) -> tuple[str, tuple[str, ...]]:
    """What the parameter's value is: path, int, float, bool, choice or text (with the choices)."""
    desc = getattr(param, "type_descriptor", None)
    if desc is not None:  # typer >= 0.29: the annotation itself
        if desc.is_choice:
            return "choice", tuple(str(getattr(c, "value", c)) for c in desc.choices or ())
        if desc.is_path:
            return "path", ()
        annotation = desc.annotation
        if get_origin(annotation) is list:
            annotation = get_args(annotation)[0]
        names = {int: "int", float: "float", bool: "bool"}
        return names.get(annotation, "text"), ()
    kind = str(getattr(getattr(param, "type", None), "name", ""))  # older typer: a click ParamType
    choices = tuple(str(c) for c in getattr(getattr(param, "type", None), "choices", ()) or ())
    return {"integer": "int", "boolean": "bool", "choice": "choice"}.get(kind, kind or "text"), choices


def _long_name(param: Parameter) -> str:
    longs = [o for o in param.opts if o.startswith("--")]
    return (longs[0][2:] if longs else str(param.name or "value")).replace("_", "-")


def derive_metavar(param: Parameter) -> str:
    """The metavar shown for a parameter that names none: from its type, else from its name."""
    kind, choices = _value_type(param)
    if param.param_type_name == "argument":
        name = str(param.name or "value").upper().replace("-", "_")
        if param.nargs == -1 and name.endswith("S") and len(name) > 2:
            name = name[:-1]  # FILES... reads as one FILE, then more
        return name
    last = _long_name(param).rsplit("-", 1)[-1]  # --lease-namespace NAMESPACE, --pod-memory MEMORY
    if kind == "choice" and choices:
        return "|".join(choices)
    if kind == "path" or last in ("kubeconfig", "file"):
        return "DIR" if last in ("home", "dir", "directory") else "FILE"
    if last in ("timeout", "duration", "warmup", "ramp", "interval", "age"):
        return "SECONDS" if kind in ("int", "float") else "DURATION"
    if kind == "int":
        return "PORT" if last == "port" else "N"
    if last in ("output", "format"):
        return "FORMAT"
    return last.upper()


def metavar(param: Parameter) -> str:
    """The parameter's metavar as help and usage show it; arguments taking several values end in `...`."""
    shown = param.metavar or derive_metavar(param)
    if param.param_type_name == "argument" and param.nargs != 1 and not shown.endswith("..."):
        shown += "..."
    return shown


def _set_metavars(params: Sequence[Parameter]) -> None:
    # Stored on the parameter so typer's own messages ("Missing argument 'FILE...'") say the same.
    for param in params:
        is_flag = bool(getattr(param, "is_flag", False)) or bool(getattr(param, "count", False))
        if param.metavar is None and not is_flag:
            param.metavar = metavar(param)


# --- the help text ------------------------------------------------------------------------------------
@dataclass
class Block:
    """A piece of help text: prose (rewrapped), literal (kept as written) or examples (kept, under a heading)."""

    kind: Literal["prose", "literal", "examples"]
    lines: list[str] = field(default_factory=list)
    attached: bool = False  # a literal block that goes on the paragraph before it, with no blank line


def _indented(line: str) -> bool:
    return line[:1].isspace()


def source(command: Any) -> str:
    """A command's help as written: its docstring (or help=) and epilog, each with its margin removed."""
    text = inspect.cleandoc(command.help or "").partition("\f")[0]
    if command.epilog:  # dedent, not cleandoc: an epilog's first line sets the margin like the others
        text += "\n\n" + textwrap.dedent(command.epilog).strip("\n")
    return text


def parse(text: str) -> list[Block]:
    """The blocks of a help text (margin removed), in order. The first block, if prose, is the summary."""
    blocks: list[Block] = []
    examples: Block | None = None
    for paragraph in _paragraphs(text):
        if examples is not None and (_indented(paragraph[0]) or paragraph[0].startswith("#")):
            examples.lines += ["", *paragraph]
            continue
        examples = None
        if paragraph[0] == "\b":  # click's mark for "do not rewrap"
            blocks.append(Block("literal", paragraph[1:]))
            continue
        current: Block | None = None
        for line in paragraph:
            if examples is not None:
                examples.lines.append(line)
                continue
            if found := _EXAMPLES.match(line):
                examples = Block("examples", [found.group(1)] if found.group(1) else [])
                blocks.append(examples)
                continue
            kind: Literal["prose", "literal"] = "literal" if _indented(line) else "prose"
            if current is None or current.kind != kind:  # each paragraph starts a block; so does a change of kind
                current = Block(kind, attached=current is not None)
                blocks.append(current)
            current.lines.append(line)
    for block in blocks:
        if block.kind == "examples":
            block.lines = textwrap.dedent("\n".join(block.lines)).split("\n")
    return blocks


def _paragraphs(text: str) -> Iterator[list[str]]:
    lines: list[str] = []
    for line in text.splitlines():
        if line.strip():
            lines.append(line.rstrip())
        elif lines:
            yield lines
            lines = []
    if lines:
        yield lines


def summary(command: Any) -> str:
    """The one-line summary of a command: its short_help, else the first paragraph of its help, whole."""
    if command.short_help:
        return " ".join(str(command.short_help).split())
    blocks = parse(inspect.cleandoc(command.help or ""))
    return " ".join(" ".join(blocks[0].lines).split()) if blocks and blocks[0].kind == "prose" else ""


def wrap(text: str, width: int, indent: str = "", first: str | None = None) -> list[str]:
    """Prose rewrapped: words never broken, at hyphens or otherwise (a long URL overflows instead)."""
    return textwrap.wrap(
        " ".join(text.split()),
        width=max(width, 20),
        initial_indent=indent if first is None else first,
        subsequent_indent=indent,
        break_on_hyphens=False,
        break_long_words=False,
    ) or [(indent if first is None else first).rstrip()]


def render_text(blocks: Sequence[Block], width: int) -> list[str]:
    """Help text lines: prose wrapped at `width`, literal and example lines as written."""
    out: list[str] = []
    for block in blocks:
        if block.kind == "examples":
            out += ["", "Examples:", *(f"  {line}".rstrip() for line in block.lines)]
        elif block.kind == "literal":
            out += [*([] if block.attached else [""]), *(line.rstrip() for line in block.lines)]
        else:
            out += ["", *wrap(" ".join(block.lines), width)]
    return out


def _definitions(rows: Sequence[tuple[str, str]], width: int) -> list[str]:
    """`  NAME  help` rows: the help column wrapped, on the next line when NAME is long."""
    if not rows:
        return []
    column = min(max(len(name) for name, _ in rows), _FIRST_COLUMN) + 4
    out = []
    for name, text in rows:
        if not text:
            out.append(f"  {name}")
        elif len(name) + 4 <= column:
            out += wrap(text, width, " " * column, first=f"  {name}".ljust(column))
        else:
            out.append(f"  {name}")
            out += wrap(text, width, " " * column)
    return out


_RANGE = re.compile(r"(?:(?P<low>[^\s\[;]+?)(?P<lo><=?))?x(?:(?P<hi><=?)(?P<high>[^\s\];]+?))?(?=[;\]])")
_BELOW = re.compile(r"\bx(?P<op>>=?)(?P<low>[^\s\];]+?)(?=[;\]])")


def _human_range(text: str) -> str:
    """click's ranges in words: `1<=x<=10000` → `1 to 10000`, `x>=1` → `at least 1`, `0<x<1` → `more than 0,
    less than 1`."""

    def words(m: re.Match[str]) -> str:
        low, high = m["low"], m["high"]
        if low and high and m["lo"] == m["hi"] == "<=":
            return f"{low} to {high}"
        parts = [f"{'at least' if m['lo'] == '<=' else 'more than'} {low}"] if low else []
        parts += [f"{'at most' if m['hi'] == '<=' else 'less than'} {high}"] if high else []
        return ", ".join(parts) or m[0]

    text = _BELOW.sub(lambda m: f"{'at least' if m['op'] == '>=' else 'more than'} {m['low']}", text)
    return _RANGE.sub(words, text)


def _rows(command: Any, ctx: Context) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    arguments, options = [], []
    for param in command.get_params(ctx):
        record = param.get_help_record(ctx)
        if record is None:
            continue
        text = _human_range(record[1])  # typer's help with its [default: …; env var: …; required] suffix
        if param.param_type_name == "argument":
            arguments.append((metavar(param), text))
            continue
        names = ", ".join(sorted(param.opts, key=lambda o: (o.startswith("--"), o)))
        if param.secondary_opts:
            names += " / " + ", ".join(param.secondary_opts)
        is_flag = bool(getattr(param, "is_flag", False)) or bool(getattr(param, "count", False))
        options.append((names if is_flag else f"{names} {metavar(param)}", text))
    return arguments, options


def usage_pieces(command: Any, ctx: Context) -> list[str]:
    """`[OPTIONS] FILE... [JOB]`: required arguments bare, optional ones in brackets."""
    pieces = [command.options_metavar] if command.options_metavar else []
    for param in command.get_params(ctx):
        if param.param_type_name == "argument":
            shown = metavar(param)
            pieces.append(shown if param.required else f"[{shown}]")
    return pieces


def render(command: Any, ctx: Context, width: int, *, commands: Sequence[tuple[str, str]] = ()) -> str:
    """The whole help page of a command or group."""
    lines = [f"Usage: {' '.join([ctx.command_path, *command.collect_usage_pieces(ctx)])}"]
    lines += render_text(parse(source(command)), width)
    arguments, options = _rows(command, ctx)
    if commands:
        lines += ["", "Commands:", *_definitions(commands, width)]
    if arguments:
        lines += ["", "Arguments:", *_definitions(arguments, width)]
    if options:
        lines += ["", "Options:", *_definitions(options, width)]
    return "\n".join(lines) + "\n"


# --- the classes every sengu app uses -------------------------------------------------------------------
class Command(TyperCommand):
    """A sengu command: help laid out by `render`, metavars derived by `metavar`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _set_metavars(self.params)

    def collect_usage_pieces(self, ctx: Context) -> list[str]:
        return usage_pieces(self, ctx)

    def format_help(self, ctx: Context, formatter: HelpFormatter) -> None:
        formatter.write(render(self, ctx, formatter.width))


class Group(TyperGroup):
    """A sengu command group: as `Command`, plus its commands with their whole one-line summaries."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _set_metavars(self.params)

    def collect_usage_pieces(self, ctx: Context) -> list[str]:
        return [*usage_pieces(self, ctx), self.subcommand_metavar]

    def format_help(self, ctx: Context, formatter: HelpFormatter) -> None:
        listed = [(name, summary(cmd)) for name, cmd in self.commands.items() if not cmd.hidden]
        formatter.write(render(self, ctx, formatter.width, commands=listed))


class App(typer.Typer):
    """A Typer app whose commands and groups read like kubectl's (see the module docstring)."""

    def __init__(self, *, help: str, **kwargs: Any) -> None:
        kwargs.setdefault("no_args_is_help", True)
        kwargs["context_settings"] = {**CONTEXT_SETTINGS, **(kwargs.get("context_settings") or {})}
        kwargs["rich_markup_mode"] = None  # Rich rendering costs `sengu --help` its speed (docs/decisions.md)
        super().__init__(cls=Group, help=help, **kwargs)

    def command(
        self, name: str | None = None, *, cls: type[TyperCommand] | None = None, **kwargs: Any
    ) -> Callable[[F], F]:
        decorator: Callable[[F], F] = super().command(name, cls=cls or Command, **kwargs)
        return decorator
