"""The patch formats and server-side apply on plain objects (the emulator's building blocks)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.kube.applying import ApplyConflict, fields_v1, server_side_apply
from tests.kube.patching import PatchConflict, json_patch, merge_patch, strategic_merge_patch

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=3),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=8,
)
documents = st.dictionaries(st.text(max_size=3), json_values, max_size=4)


def test_merge_patch_follows_rfc_7386() -> None:
    target = {"title": "Goodbye!", "author": {"givenName": "John", "familyName": "Doe"}, "tags": ["example", "sample"]}
    patch = {"title": "Hello!", "phoneNumber": "+01-123-456-7890", "author": {"familyName": None}, "tags": ["example"]}
    assert merge_patch(target, patch) == {
        "title": "Hello!",
        "author": {"givenName": "John"},
        "tags": ["example"],
        "phoneNumber": "+01-123-456-7890",
    }
    assert target["author"] == {"givenName": "John", "familyName": "Doe"}, "the input is not changed"


@given(documents, documents)
def test_a_merge_patch_applied_twice_changes_nothing_more(doc: dict[str, Any], patch: dict[str, Any]) -> None:
    once = merge_patch(doc, patch)
    assert merge_patch(once, patch) == once


def test_json_patch_operations_and_failed_tests() -> None:
    doc = {"metadata": {"resourceVersion": "7", "finalizers": ["a"]}, "spec": {"x": 1}}
    patched = json_patch(
        doc,
        [
            {"op": "test", "path": "/metadata/resourceVersion", "value": "7"},
            {"op": "add", "path": "/metadata/finalizers/-", "value": "b"},
            {"op": "replace", "path": "/spec/x", "value": 2},
            {"op": "copy", "from": "/spec/x", "path": "/spec/y"},
            {"op": "move", "from": "/spec/y", "path": "/spec/z"},
            {"op": "remove", "path": "/metadata/finalizers/0"},
            {"op": "add", "path": "/metadata/annotations", "value": {"a~b/c": "1"}},
            {"op": "remove", "path": "/metadata/annotations/a~0b~1c"},
        ],
    )
    assert patched == {
        "metadata": {"resourceVersion": "7", "finalizers": ["b"], "annotations": {}},
        "spec": {"x": 2, "z": 2},
    }
    with pytest.raises(PatchConflict):
        json_patch(doc, [{"op": "test", "path": "/metadata/resourceVersion", "value": "6"}])
    with pytest.raises(PatchConflict):
        json_patch(doc, [{"op": "replace", "path": "/spec/missing", "value": 1}])


def test_strategic_merge_patch_merges_keyed_lists_and_honours_directives() -> None:
    live = {
        "metadata": {"finalizers": ["a"], "ownerReferences": [{"uid": "1", "name": "x"}]},
        "spec": {"containers": [{"name": "main", "image": "a:1"}, {"name": "side", "image": "s:1"}], "args": ["1"]},
        "status": {"conditions": [{"type": "Ready", "status": "False"}, {"type": "Complete", "status": "False"}]},
    }
    patched = strategic_merge_patch(
        live,
        {
            "metadata": {"finalizers": ["b"], "$deleteFromPrimitiveList/finalizers": ["a"]},
            "spec": {
                "containers": [{"name": "main", "image": "a:2"}, {"name": "side", "$patch": "delete"}],
                "args": ["2"],
            },
            "status": {"conditions": [{"type": "Ready", "status": "True"}], "$setElementOrder/conditions": []},
        },
    )
    assert patched["metadata"]["finalizers"] == ["b"]
    assert patched["spec"] == {"containers": [{"name": "main", "image": "a:2"}], "args": ["2"]}
    assert patched["status"]["conditions"] == [
        {"type": "Ready", "status": "True"},
        {"type": "Complete", "status": "False"},
    ]
    assert strategic_merge_patch(live, {"spec": {"$patch": "replace", "args": []}})["spec"] == {"args": []}


def test_server_side_apply_sets_removes_shares_and_conflicts() -> None:
    live: dict[str, Any] = {"metadata": {"name": "c"}, "data": {"kept": "by-other"}}
    first = {"metadata": {"name": "c", "labels": {"a": "1"}}, "data": {"x": "1", "y": "2"}}
    obj, owners = server_side_apply(
        live, first, manager="sengu", owners={"other": frozenset({("data", "kept")})}, force=False
    )
    assert obj == {"metadata": {"name": "c", "labels": {"a": "1"}}, "data": {"kept": "by-other", "x": "1", "y": "2"}}

    second = {"metadata": {"name": "c"}, "data": {"x": "1"}}
    obj, owners = server_side_apply(obj, second, manager="sengu", owners=owners, force=False)
    assert obj == {"metadata": {"name": "c"}, "data": {"kept": "by-other", "x": "1"}}, "labels and y were dropped"

    with pytest.raises(ApplyConflict) as conflict:
        server_side_apply(obj, {"data": {"kept": "mine"}}, manager="sengu", owners=owners, force=False)
    assert [(c.manager, c.field) for c in conflict.value.conflicts] == [("other", ".data.kept")]
    obj, owners = server_side_apply(
        obj, {"data": {"kept": "mine", "x": "1"}}, manager="sengu", owners=owners, force=True
    )
    assert obj["data"]["kept"] == "mine" and "other" not in owners
    assert fields_v1(owners["sengu"]) == {"f:data": {".": {}, "f:kept": {}, "f:x": {}}}
