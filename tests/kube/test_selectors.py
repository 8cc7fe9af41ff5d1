"""Label and field selectors as the API server parses them."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.kube.selectors import SelectorError, match_fields, match_labels, parse_field_selector, parse_label_selector

values = st.sampled_from(["a", "b", "c", "x-1", "v.2"])


def labelled(**labels: str) -> dict[str, dict[str, dict[str, str]]]:
    return {"metadata": {"labels": labels}}


@pytest.mark.parametrize(
    ("selector", "matching"),
    [
        ("app=web", {"web", "web-canary"}),
        ("app==web", {"web", "web-canary"}),
        ("app!=web", {"db", "none"}),
        ("canary", {"web-canary"}),
        ("!canary", {"web", "db", "none"}),
        ("app in (web, db)", {"web", "web-canary", "db"}),
        ("app notin (web)", {"db", "none"}),
        ("app in (web),canary", {"web-canary"}),
        ("sengu.dev/priority>5", {"db"}),
        ("sengu.dev/priority<5", {"web"}),
        ("", {"web", "web-canary", "db", "none"}),
    ],
)
def test_label_selectors(selector: str, matching: set[str]) -> None:
    objects: dict[str, dict[str, Any]] = {
        "web": labelled(app="web", **{"sengu.dev/priority": "1"}),
        "web-canary": labelled(app="web", canary="true"),
        "db": labelled(app="db", **{"sengu.dev/priority": "9"}),
        "none": {"metadata": {}},
    }
    requirements = parse_label_selector(selector)
    assert {name for name, obj in objects.items() if match_labels(requirements, obj)} == matching


@pytest.mark.parametrize("selector", ["app in (a", "app=(a)", "app in ()", "a b", "x>y", "=v"])
def test_malformed_label_selectors_are_refused(selector: str) -> None:
    with pytest.raises(SelectorError):
        parse_label_selector(selector)


@given(values, st.lists(values, min_size=1, max_size=4))
def test_set_requirements_are_membership(value: str, choices: list[str]) -> None:
    selector = f"k in ({', '.join(choices)})"
    assert match_labels(parse_label_selector(selector), labelled(k=value)) == (value in choices)
    assert match_labels(parse_label_selector(f"k notin ({', '.join(choices)})"), labelled(k=value)) == (
        value not in choices
    )


def test_field_selectors_accept_only_indexed_fields() -> None:
    pod = {"metadata": {"name": "p", "namespace": "n"}, "status": {"phase": "Running"}}
    assert match_fields(parse_field_selector("metadata.name=p,status.phase!=Failed", group="", kind="Pod"), pod)
    assert not match_fields(parse_field_selector("status.phase==Pending", group="", kind="Pod"), pod)
    with pytest.raises(SelectorError):
        parse_field_selector("status.phase=Running", group="", kind="ConfigMap")
