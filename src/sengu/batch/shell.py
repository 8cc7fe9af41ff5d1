"""Shell commands read as words and operators: enough to find programs, redirections and simple commands.

Pure, and deliberately not a shell parser: quotes, escapes, $(…), ${…} and `…` stay inside their word, an
unterminated quote runs to the end, and keywords (if, then, fi…) are plain words here; callers decide what
they mean.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

_DIGITS = re.compile(r"[0-9]+")


@dataclass(frozen=True)
class Token:
    kind: Literal["word", "op"]
    text: str  # words without their quotes; operators with their file-descriptor number


# Longest first, so that '>>' is not read as two '>'.
_OPERATORS = ("&>>", ">>", "&&", "||", ";;", "|&", "&>", ">&", "<&", ">|", "<<", "<>",
              ">", "<", "|", "&", ";", "(", ")")  # fmt: skip
_SEPARATORS = frozenset({"&&", "||", ";;", "|&", "|", "&", ";", "(", ")", "\n"})


def _closing(text: str, start: int, open_: str, close: str) -> int:
    """Index just past the `close` that balances the `open_` at `start` (or the end of the text)."""
    depth = 0
    for i in range(start, len(text)):
        if text[i] == open_:
            depth += 1
        elif text[i] == close:
            depth -= 1
            if depth == 0:
                return i + 1
    return len(text)


def lex(command: str) -> list[Token]:
    """Split a shell command into words and operators, well enough to find programs and redirections.

    Quotes, escapes, $(…), ${…} and `…` stay inside their word; an unterminated quote runs to the end.
    """
    tokens: list[Token] = []
    word: list[str] = []
    in_word = quoted = False
    i, n = 0, len(command)

    def flush() -> None:
        nonlocal in_word, quoted
        if in_word:
            tokens.append(Token("word", "".join(word)))
        word.clear()
        in_word = quoted = False

    while i < n:
        c = command[i]
        if c in " \t":
            flush()
            i += 1
        elif c == "\n":
            flush()
            tokens.append(Token("op", "\n"))
            i += 1
        elif c == "#" and not in_word:
            break
        elif c == "\\":
            word.append(command[i + 1 : i + 2] or "\\")
            in_word = quoted = True
            i += 2
        elif c == "'":
            end = command.find("'", i + 1)
            end = n if end < 0 else end
            word.append(command[i + 1 : end])
            in_word = quoted = True
            i = end + 1
        elif c == '"':
            i += 1
            while i < n and command[i] != '"':
                if command[i] == "\\" and i + 1 < n and command[i + 1] in '"\\$`':
                    i += 1
                word.append(command[i])
                i += 1
            in_word = quoted = True
            i += 1
        elif c == "$" and command[i + 1 : i + 2] in ("(", "{"):
            open_ = command[i + 1]
            end = _closing(command, i + 1, open_, ")" if open_ == "(" else "}")
            word.append(command[i:end])
            in_word = True
            i = end
        elif c == "`":
            end = command.find("`", i + 1)
            end = n if end < 0 else end + 1
            word.append(command[i:end])
            in_word = True
            i = end
        elif c in "|&;<>()":
            fd = ""
            if c in "<>" and in_word and not quoted and _DIGITS.fullmatch("".join(word)):
                fd = "".join(word)
                word.clear()
                in_word = False
            flush()
            op = next(o for o in _OPERATORS if command.startswith(o, i))
            tokens.append(Token("op", fd + op))
            i += len(op)
        else:
            word.append(c)
            in_word = True
            i += 1
    flush()
    return tokens


def is_redirect(op: str) -> bool:
    return op.lstrip("0123456789")[:1] in ("<", ">") or op in ("&>", "&>>")


def simple_commands(tokens: list[Token]) -> list[list[str]]:
    commands: list[list[str]] = [[]]
    skip_next = False
    for tok in tokens:
        if skip_next:
            skip_next = False
            if tok.kind == "word":
                continue
        if tok.kind == "op":
            if tok.text in _SEPARATORS:
                commands.append([])
            elif is_redirect(tok.text):
                skip_next = True
        else:
            commands[-1].append(tok.text)
    return [c for c in commands if c]
