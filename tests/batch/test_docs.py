"""docs/batch.md's spec reference lists exactly the fields of the models."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel

from sengu.batch import spec

DOC = Path(__file__).resolve().parents[2] / "docs" / "batch.md"


def model_fields(model: type[BaseModel], seen: set[type[BaseModel]] | None = None) -> set[str]:
    seen = seen if seen is not None else set()
    if model in seen:
        return set()
    seen.add(model)
    names = set()
    for name, info in model.model_fields.items():
        names.add(info.alias or name)
        for arg in _models_in(info.annotation):
            names |= model_fields(arg, seen)
    return names


def _models_in(annotation: object) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    out = []
    for arg in getattr(annotation, "__args__", ()) or ():
        out.extend(_models_in(arg))
    return out


def documented_fields() -> set[str]:
    text = DOC.read_text()
    reference = text.split("## Spec reference", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `([A-Za-z]+)` \|", reference, flags=re.M))


def test_reference_matches_models() -> None:
    fields = model_fields(spec.CronjobManager)
    documented = documented_fields()
    assert fields - documented == set(), "fields missing from docs/batch.md"
    assert documented - fields == set(), "docs/batch.md lists fields the models do not have"
