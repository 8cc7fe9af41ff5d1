"""docs/runners.md: the spec reference lists exactly each model's fields, and its examples say what the code does."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel

from sengu.runners import spec
from sengu.runners.labels import Launch, Rejection, resolve_labels

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "runners.md"


def models(root: type[BaseModel]) -> dict[str, type[BaseModel]]:
    """Every model reachable from `root`, by class name."""
    found: dict[str, type[BaseModel]] = {}

    def visit(model: type[BaseModel]) -> None:
        if model.__name__ in found:
            return
        found[model.__name__] = model
        for info in model.model_fields.values():
            for arg in _models_in(info.annotation):
                visit(arg)

    visit(root)
    return found


def _models_in(annotation: object) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in getattr(annotation, "__args__", ()) or () for m in _models_in(arg)]


def documented() -> dict[str, set[str]]:
    """Field names of each `### Model` table in the spec reference."""
    reference = DOC.read_text().split("## Spec reference", 1)[1].split("\n## ", 1)[0]
    out = {}
    for section in reference.split("\n### ")[1:]:
        title, _, body = section.partition("\n")
        out[title.split()[0]] = set(re.findall(r"^\| `([A-Za-z0-9]+)` \|", body, flags=re.M))
    return out


def test_reference_lists_exactly_the_fields_of_each_model() -> None:
    expected = {name: {i.alias or n for n, i in m.model_fields.items()} for name, m in models(spec.RunnerPool).items()}
    got = documented()
    assert sorted(got) == sorted(expected), "one ### section per model, named after it"
    for name, fields in expected.items():
        assert got[name] == fields, (
            f"docs/runners.md section {name}: missing {fields - got[name]}, extra {got[name] - fields}"
        )


def test_the_example_in_the_docs_is_the_example_file() -> None:
    text = DOC.read_text()
    example = (ROOT / "examples" / "runners" / "pool.yaml").read_text()
    body = example[example.index("apiVersion:") :]
    assert body in text


def test_the_docs_examples_resolve_as_written() -> None:
    from sengu.core.spec import read_documents

    pool = spec.load_pool(read_documents(ROOT / "examples" / "runners" / "pool.yaml")[0]).spec
    text = DOC.read_text()
    rows = re.findall(r"^\| `((?:cpu|mem)-[^`]*)` \| ([\d.]+) vCPU, ([\d.]+) GiB \|$", text, flags=re.M)
    assert len(rows) == 5
    for labels, vcpu, memory in rows:
        got = resolve_labels(pool, ["self-hosted", "sengu", *labels.split()], None)
        assert isinstance(got, Launch) and (got.vcpu, got.memory_gib) == (float(vcpu), float(memory)), labels
    rejected = resolve_labels(pool, ["self-hosted", "sengu", "codebuild", "mem-9g"], "my-org/app")
    assert isinstance(rejected, Rejection)
    assert f"*{rejected.reason}*" in " ".join(text.split()), "the rounding example quotes the real reason"
