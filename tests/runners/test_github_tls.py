"""GitHub Enterprise Server as companies run it: HTTPS with a certificate from their own CA, reached through an
HTTP proxy. A real TLS server on 127.0.0.1 and a real CONNECT proxy; nothing else is reached."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from sengu.core.errors import UserError
from sengu.core.notify import Secret
from sengu.runners.github import GitHubApp, GitHubError
from tests.fakes.tls import ConnectProxy, HttpsFakeGitHub, Pki, make_pki

LABELS = ["self-hosted", "sengu"]
PROXY_VARS = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")
NO_PROXY_VARS = ("NO_PROXY", "no_proxy")


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No proxy or CA settings from the machine running the tests."""
    for name in (*PROXY_VARS, *NO_PROXY_VARS, "SSL_CERT_FILE", "SSL_CERT_DIR"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return make_pki(tmp_path)


@pytest.fixture
def ghes(pki: Pki) -> Iterator[HttpsFakeGitHub]:
    with HttpsFakeGitHub(pki, prefix="/api/v3") as fake:
        fake.add_repository("my-org/app")
        yield fake


def app(fake: HttpsFakeGitHub, ca_file: Path | None = None) -> GitHubApp:
    return GitHubApp(
        fake.api_url,
        fake.app_id,
        fake.installation_id,
        Secret(fake.private_key_pem),
        max_attempts=2,
        ca_file=None if ca_file is None else str(ca_file),
    )


async def register(client: GitHubApp, name: str = "r-1") -> str:
    async with client:
        config = await client.generate_jitconfig("my-org", name, LABELS)
        return config.runner.name


def test_a_private_ca_is_trusted_only_when_configured(ghes: HttpsFakeGitHub, pki: Pki, clean_env: object) -> None:
    assert ghes.api_url.startswith("https://127.0.0.1:")
    with pytest.raises(GitHubError) as refused:
        asyncio.run(register(app(ghes)))
    message = str(refused.value)
    assert "TLS certificate is not trusted" in message and "CERTIFICATE_VERIFY_FAILED" in message
    assert "give github.caFile" in message
    assert ghes.requests == []  # refused at the handshake: not one request reached the server

    assert asyncio.run(register(app(ghes, pki.ca_file))) == "r-1"
    assert [r.path for r in ghes.requests] == [
        f"/app/installations/{ghes.installation_id}/access_tokens",
        "/orgs/my-org/actions/runners/generate-jitconfig",
    ]


def test_another_ca_is_still_refused(ghes: HttpsFakeGitHub, tmp_path: Path, clean_env: object) -> None:
    (tmp_path / "other").mkdir()
    other = make_pki(tmp_path / "other", name="Some Other CA")
    with pytest.raises(GitHubError) as refused:
        asyncio.run(register(app(ghes, other.ca_file)))
    assert f"{other.ca_file} does not sign it" in str(refused.value)


def test_ssl_cert_file_is_honoured(ghes: HttpsFakeGitHub, pki: Pki, clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("SSL_CERT_FILE", str(pki.ca_file))
    assert asyncio.run(register(app(ghes))) == "r-1"


def test_a_bad_ca_file_is_a_user_error(ghes: HttpsFakeGitHub, tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"github.caFile .*nope.pem: no such file"):
        app(ghes, tmp_path / "nope.pem")
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    with pytest.raises(UserError, match=r"github.caFile .*junk.pem: not a PEM file of CA certificates"):
        app(ghes, junk)


def test_https_proxy_carries_the_traffic(ghes: HttpsFakeGitHub, pki: Pki, clean_env: pytest.MonkeyPatch) -> None:
    async def scenario(name: str, no_proxy: str | None = None) -> list[str]:
        async with ConnectProxy() as proxy:
            clean_env.setenv("HTTPS_PROXY", proxy.url)
            if no_proxy is not None:
                clean_env.setenv("NO_PROXY", no_proxy)
            assert await register(app(ghes, pki.ca_file), name) == name
            return proxy.tunnels

    tunnels = asyncio.run(scenario("r-1"))
    assert tunnels and set(tunnels) == {f"127.0.0.1:{ghes.port}"}
    assert len(ghes.requests) == 2  # both requests went through the tunnel, and TLS held end to end

    assert asyncio.run(scenario("r-2", no_proxy="127.0.0.1")) == []  # NO_PROXY: straight to the server
    assert len(ghes.requests) == 4
