"""docs/load.md: the scenario reference lists exactly each model's fields; the options table the real options."""

from __future__ import annotations

import re
from pathlib import Path

from sengu.load import spec
from tests.runners.test_docs import models

DOC = Path(__file__).resolve().parents[2] / "docs" / "load.md"


def documented() -> dict[str, set[str]]:
    reference = DOC.read_text().split("## Spec reference", 1)[1].split("\n## ", 1)[0]
    out = {}
    for section in reference.split("\n### ")[1:]:
        title, _, body = section.partition("\n")
        out[title.split()[0]] = set(re.findall(r"^\| `([A-Za-z0-9]+)` \|", body, flags=re.M))
    return out


def test_reference_lists_exactly_the_fields_of_each_model() -> None:
    expected = {
        name: {i.alias or n for n, i in m.model_fields.items()} for name, m in models(spec.LoadScenario).items()
    }
    got = documented()
    assert sorted(got) == sorted(expected), "one ### section per model, named after it"
    for name, fields in expected.items():
        assert got[name] == fields, (
            f"docs/load.md section {name}: missing {fields - got[name]}, extra {got[name] - fields}"
        )


def test_run_options_table_matches_the_command() -> None:
    import typer.main

    from sengu.load.cli import app

    run = typer.main.get_command(app).commands["run"]  # type: ignore[attr-defined]
    real = {opt for p in run.params for opt in p.opts if opt.startswith("--")} - {"--help"}
    text = DOC.read_text().split("### `sengu load run`", 1)[1].split("\n### ", 1)[0]
    mentioned = set(re.findall(r"`(--[a-z0-9-]+)", text))
    assert real - mentioned == set(), f"options not documented: {real - mentioned}"
    assert mentioned - real == set(), f"documented options that do not exist: {mentioned - real}"
