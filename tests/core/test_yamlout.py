"""core/yamlout.py: what it writes reads back as the same data (PyYAML), strings that look like something else
stay strings, and its layout is PyYAML's, byte for byte, on the manifests sengu prints."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sengu.core import yamlout

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "batch" / "golden"

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text()
    | st.text(alphabet="-+.:_#'\" \t\n0123456789eExXoObB~yYnN:,[]{}!&*?|>%@`^=<\\\x85\u2028\ufeff")
    | st.sampled_from(["yes", "No", "ON", "off", "y", "n", "~", "null", "1e3", "0x1", "0o17", ".inf", "-.Inf", ".NaN"])
    | st.sampled_from(["1_000", "12:30", "190:20:30", "2001-12-14", "2001-12-14t21:59:43.10-05:00", "._", "<<", "="])
    | st.sampled_from(["---", "...", "- x", "-x", "a: b", "a #b", "a:", " a", "a ", "", "'", '"', "#", "%x", "@x"])
)
keys = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
plain_data = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(keys, inner, max_size=5),
    max_leaves=40,
)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plain_data)
def test_what_it_writes_reads_back_as_the_same_data(data: Any) -> None:
    text = yamlout.dump(data)
    assert yaml.safe_load(text) == data, text


@settings(max_examples=300, deadline=None)
@given(st.lists(plain_data, min_size=1, max_size=4))
def test_a_stream_reads_back_document_for_document(documents: list[Any]) -> None:
    assert list(yaml.safe_load_all(yamlout.dump_all(documents))) == documents


@settings(max_examples=300, deadline=None)
@given(st.text(min_size=1))
def test_any_string_reads_back_and_a_plain_one_is_no_number(text: str) -> None:
    written = yamlout.scalar(text)
    assert yaml.safe_load(f"k: {written}\n") == {"k": text}
    if written[0] not in "'\"":  # plain: not a number to a YAML 1.2 reader either
        assert not re.fullmatch(r"[0-9]+", written.lower().lstrip("+-.").replace("_", "").replace("e", ""))


@pytest.mark.parametrize(
    "text",
    ["yes", "no", "on", "off", "y", "n", "Y", "N", "true", "False", "null", "~", "", "1e3", "0x1", "0o17", "1_000",
     ".inf", "-.inf", ".nan", "12:30", "2026-12-08", "0755", "+1", "-1", "1.", ".5", "<<", "=", "- x", "a: b",
     "a #b", "a:", " lead", "trail ", "*alias", "&anchor", "!tag", "|", ">", "%x", "@x", "`x", "'q", '"q', "#c",
     "---", "...", "[a]", "{a}", "?x", ",x", "multi\nline", "tab\there", "nel\x85", "ls\u2028", "bom\ufeff",
     "bell\x07", "del\x7f"],
)  # fmt: skip
def test_strings_that_look_like_something_else_are_quoted(text: str) -> None:
    written = yamlout.scalar(text)
    assert written[0] in "'\"", written
    assert yaml.safe_load(f"- {written}\n") == [text]


@pytest.mark.parametrize(
    "text", ["shop", "/bin/sh", "-c", "bin/rails runner Ranking.refresh", "250m", "1Gi", "1-59/10 * * * *",
             "registry.example.com/shop:2026.11.27", "Asia/Tokyo", "café", "a:b", "a#b", "it's", "1.2.3"],
)  # fmt: skip
def test_ordinary_strings_stay_plain(text: str) -> None:
    assert yamlout.scalar(text) == text


def test_scalars_of_other_types() -> None:
    assert [yamlout.scalar(v) for v in (None, True, False, 0, -7, 1.5, 1e16, float("inf"), float("-inf"))] == [
        "null", "true", "false", "0", "-7", "1.5", "1.0e+16", ".inf", "-.inf"
    ]  # fmt: skip
    assert yaml.safe_load(yamlout.scalar(float("nan"))) != yaml.safe_load(yamlout.scalar(float("nan")))  # NaN
    with pytest.raises(TypeError, match="cannot write bytes"):
        yamlout.dump({"a": b"x"})


def test_a_key_too_long_for_an_implicit_key_is_written_explicitly() -> None:
    long = "k" * 2000
    data = {long: {"a": [1, {long: "v"}]}, "short": [long]}
    text = yamlout.dump(data)
    assert f"? {long}\n" in text
    assert yaml.safe_load(text) == data


def test_layout_is_pyyamls_block_style() -> None:
    data = {
        "a": {"b": [1, [2, 3], {"c": None, "d": []}, {}], "e": {}},
        "f": [[{"g": "h"}]],
        "i": "x",
    }
    assert yamlout.dump(data) == yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=10_000)
    assert (
        yamlout.dump_all([data, [1], "s"])
        == yaml.safe_dump_all([data, [1]], sort_keys=False, allow_unicode=True, width=10_000) + "---\ns\n"
    )


def test_the_golden_manifests_are_written_byte_for_byte_as_pyyaml_wrote_them() -> None:
    for name in ("rich.cronjobs.yaml", "names.cronjobs.yaml", "crd.yaml"):
        text = (GOLDEN / name).read_text(encoding="utf-8")
        documents = list(yaml.safe_load_all(text))
        assert yamlout.dump_all(documents) == text, name
