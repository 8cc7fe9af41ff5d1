"""Request targets → templates: which parts are values, what the placeholders are called, and that the
values fill the template back into the very target they came from."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sengu.load.templates import PLACEHOLDER, param_name, placeholders, segment_kind, template

UUID = "3f2a9c1b-7e4d-4c2a-9b1e-5d6f7a8b9c0d"
MD5 = "9e107d9d372bb6826bd81d3542a419d6"
SHA1 = "2fd4e1c67a2d28fced849ee1bb76e7391b93eb12"


def fill(tpl: str, values: tuple[str, ...]) -> str:
    it = iter(values)
    return PLACEHOLDER.sub(lambda _m: next(it), tpl)


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/n/42", ("/n/{id}", ("42",))),
        ("/n/0042/", ("/n/{id}/", ("0042",))),
        (f"/files/{UUID}", ("/files/{uuid}", (UUID,))),
        (f"/files/{UUID.upper()}", ("/files/{uuid}", (UUID.upper(),))),
        (f"/blob/{MD5}", ("/blob/{hash}", (MD5,))),
        (f"/commit/{SHA1}/diff", ("/commit/{hash}/diff", (SHA1,))),
        ("/c/5f3e2a1b9c7d", ("/c/{hash}", ("5f3e2a1b9c7d",))),  # 12 hex, a short id
        ("/r/cus_9s6XKzkNRiz8i3", ("/r/{token}", ("cus_9s6XKzkNRiz8i3",))),
        ("/s/V1StGXR8_Z5jdHi6B-myT", ("/s/{token}", ("V1StGXR8_Z5jdHi6B-myT",))),
        ("/img/123.jpg", ("/img/{id}.jpg", ("123",))),
        (f"/dl/{MD5}.tar.gz", (f"/dl/{MD5}.tar.gz", ())),  # two dots: not "a value and an extension"
    ],
)
def test_values_in_the_path_become_placeholders_named_for_their_kind(
    target: str, expected: tuple[str, tuple[str, ...]]
) -> None:
    assert template(target) == expected


@pytest.mark.parametrize(
    "segment",
    [
        "posts",
        "v1",
        "v2024",
        "how-to-cook-2024",  # a slug with a year
        "ThisIsCamelCaseName",  # long, mixed case, no digit
        "deadbeefcafe",  # hex letters only: a word, not a hash
        "cafe12",  # too short for a hash
        "app.css",
        "2024-01-05",  # a date is a route here, not an id
        "-5",
        "١٢٣",  # Arabic-Indic digits: str.isdigit() says yes, a URL id never is
    ],
)
def test_words_slugs_and_versions_stay_literal(segment: str) -> None:
    assert segment_kind(segment) is None
    assert template(f"/a/{segment}") == (f"/a/{segment}", ())


def test_mixed_kinds_get_unique_names_in_order() -> None:
    tpl, values = template(f"/u/12/posts/34/files/{UUID}/rev/{SHA1}/att/56") or ("", ())
    assert tpl == "/u/{id}/posts/{id2}/files/{uuid}/rev/{hash}/att/{id3}"
    assert values == ("12", "34", UUID, SHA1, "56")
    assert placeholders(tpl) == ["id", "id2", "uuid", "hash", "id3"]


def test_query_parameters_keep_their_names_and_template_their_values() -> None:
    assert template("/search?q=red%20hat&page=2") == ("/search?q={q}&page={page}", ("red%20hat", "2"))
    # Same names whatever the values: one endpoint for every search.
    assert template("/search?q=x&page=9")[0] == template("/search?q=shoes&page=1")[0]  # type: ignore[index]


def test_query_names_do_not_clash_with_path_names_or_each_other() -> None:
    tpl, values = template("/u/1/2?id=3&tag=a&tag=b") or ("", ())
    assert tpl == "/u/{id}/{id2}?id={id3}&tag={tag}&tag={tag2}"
    assert values == ("1", "2", "3", "a", "b")
    assert len(set(placeholders(tpl))) == len(placeholders(tpl))


def test_query_flags_and_empty_values_stay_literal() -> None:
    assert template("/list?debug&sort=&page=3") == ("/list?debug&sort=&page={page}", ("3",))
    assert template("/list?") == ("/list", ())


@pytest.mark.parametrize(
    ("key", "name"),
    [("page", "page"), ("Page[Size]", "page_size"), ("1x", "p_1x"), ("%20", "p_20"), ("---", "param"), ("a.b", "a_b")],
)
def test_query_parameter_names_become_placeholder_names(key: str, name: str) -> None:
    assert param_name(key) == name


def test_absolute_targets_count_by_their_path() -> None:
    assert template("http://www.example.com:80/n/7?x=1") == ("/n/{id}?x={x}", ("7", "1"))
    assert template("https://example.com") == ("/", ())


@pytest.mark.parametrize("target", ["*", "", "example.com/x", "-", "ftp.example/x"])
def test_a_target_that_is_no_path_has_no_template(target: str) -> None:
    assert template(target) is None


def test_literal_braces_are_encoded_so_they_do_not_read_as_placeholders() -> None:
    assert template("/a/{b}/c?x{=1") == ("/a/%7Bb%7D/c?x%7B={x}", ("1",))


def test_a_fragment_is_not_part_of_the_request() -> None:
    assert template("/n/1#top") == ("/n/{id}", ("1",))


_path_chars = st.text(alphabet=st.sampled_from("abcdefXYZ0123456789-_.%~=&?/+:@!$'()*,;"), min_size=0, max_size=40)


@given(st.text(max_size=80))
def test_template_never_raises_and_its_names_are_unique(target: str) -> None:
    found = template(target)
    if found is not None:
        tpl, values = found
        names = placeholders(tpl)
        assert len(names) == len(values) == len(set(names))


@given(_path_chars)
def test_filling_a_template_with_its_values_gives_back_the_target(rest: str) -> None:
    target = "/" + rest
    tpl, values = template(target) or ("", ())
    expected = target[:-1] if target.endswith("?") and target.count("?") == 1 else target
    assert fill(tpl, values) == expected
