"""Loading RunnerPool files: the issue's example as written, every problem at once as file:line:col."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sengu import capabilities
from sengu.core.crd import definition, structural_problems
from sengu.core.errors import UserError
from sengu.core.spec import parse_documents
from sengu.runners.spec import RESOURCE, RunnerPool, load_pool, parse_duration

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "runners" / "pool.yaml"

HEAD = "apiVersion: sengu.dev/v1alpha1\nkind: RunnerPool\nmetadata: {name: ci}\nspec:\n"
GITHUB = """\
  github:
    appId: 1
    installationId: 2
    privateKeyFile: key.pem
    webhookSecretEnv: HOOK_SECRET
    owner: my-org
"""


def load(text: str, path: str = "pool.yaml") -> RunnerPool:
    (doc,) = parse_documents(text, path)
    return load_pool(doc)


def problems(text: str, path: str = "pool.yaml") -> list[str]:
    with pytest.raises(UserError) as info:
        load(text, path)
    return info.value.lines()


def test_the_issue_example_loads_and_means_what_it_says() -> None:
    pool = capabilities.load([EXAMPLE]).of("RunnerPool")[0]
    spec = pool.spec
    assert pool.name == "ci"
    gh = spec.github
    assert gh.api_url == "https://api.github.com" and gh.app_id == 12345 and gh.installation_id == 678
    assert gh.owner == "my-org" and gh.repositories is None and gh.runner_group_id == 1
    assert gh.private_key().file == "/run/secrets/github-app.pem" and gh.private_key().env is None
    assert gh.webhook_secret().file == "/run/secrets/github-webhook"
    assert [(b.name, b.kind) for b in spec.backends] == [
        ("local", "local"),
        ("fargate", "ecs"),
        ("codebuild", "codebuild"),
        ("k8s", "kubernetes"),
    ]
    assert spec.default.name == "fargate"
    ecs = spec.backends[1].ecs
    assert ecs is not None and ecs.cluster == "ci" and ecs.task_definition == "runner"
    assert ecs.subnets == ["subnet-1"] and ecs.security_groups == ["sg-1"]
    assert spec.roles == {"deploy": "arn:aws:iam::123456789012:role/ci-deploy"}
    broad, infra = spec.policy
    assert broad.repositories == ["my-org/*"] and broad.max_cpu == 4 and broad.max_memory_gib == 16
    assert broad.roles == [] and broad.backends is None
    assert infra.repositories == ["my-org/infra"] and infra.roles == ["deploy"] and infra.max_cpu is None
    limits = spec.limits
    assert (limits.max_runners, limits.boot_timeout, limits.idle_timeout, limits.max_job_duration) == (
        200,
        600,
        600,
        6 * 3600,
    )
    assert spec.rejections.check_run and spec.rejections.slack is None
    assert gh.serves("my-org/app") and gh.serves("My-Org/App") and not gh.serves("other/app")


def test_relative_secret_files_are_relative_to_the_spec_file(tmp_path: Path) -> None:
    text = (
        HEAD
        + GITHUB
        + "  backends: [{name: box, local: {command: [run, '{jitconfig}']}}]\n"
        + "  rejections: {slack: {webhookUrl: {file: secrets/slack}}}\n"
    )
    path = tmp_path / "pool.yaml"
    path.write_text(text)
    pool = capabilities.load([path]).of("RunnerPool")[0]
    assert pool.spec.github.private_key_file == str(tmp_path / "key.pem")
    assert pool.spec.github.webhook_secret().env == "HOOK_SECRET"
    slack = pool.spec.rejections.slack
    assert slack is not None and slack.webhook_url.source().file == str(tmp_path / "secrets" / "slack")
    assert pool.spec.default.name == "box"  # one backend: it is the default


def test_field_problems_all_at_once_with_positions() -> None:
    text = HEAD + (
        "  github:\n"  # 5
        "    appId: 0\n"  # 6
        "    installationId: 2\n"  # 7
        "    privateKeyFile: k\n"  # 8
        "    webhookSecretFile: s\n"  # 9
        "    owner: my-org\n"  # 10
        "    colour: blue\n"  # 11
        "  backends:\n"  # 12
        "    - {name: spot, local: {command: [run, '{jitconfig}']}}\n"  # 13
        "    - {name: two, local: {command: [run, '{jitconfig}']}, codebuild: {project: p}}\n"  # 14
        "    - {name: Bad_Name, codebuild: {project: p, computeTypes: [HUGE]}}\n"  # 15
        "    - {name: three, local: {command: [run]}}\n"  # 16
        "  roles: {deploy: 'arn:aws:iam::12:role/x'}\n"  # 17
        "  limits: {bootTimeout: 10x, maxJobDuration: 0}\n"  # 18
    )
    assert problems(text) == [
        "pool.yaml:6:12: appId: input should be greater than or equal to 1",
        "pool.yaml:11:5: unknown field 'colour'",
        # a problem between fields, reported with the field problems (only the valid names are known)
        "pool.yaml:13:5: backends: with several backends, give defaultBackend (one of two, three) for jobs that "
        "name none",
        "pool.yaml:13:14: name: 'spot' is a label with its own meaning; name the backend otherwise (e.g. 'fargate', "
        "'k8s')",
        "pool.yaml:14:7: backends: give exactly one of 'local', 'ecs', 'codebuild' or 'kubernetes' "
        "(got local, codebuild)",
        "pool.yaml:15:14: name: 'Bad_Name' is not a valid name: lowercase letters, digits and '-', at most 63 "
        "characters, starting and ending with a letter or digit",
        "pool.yaml:15:63: computeTypes: input should be 'BUILD_GENERAL1_SMALL', 'BUILD_GENERAL1_MEDIUM', "
        "'BUILD_GENERAL1_LARGE', 'BUILD_GENERAL1_XLARGE' or 'BUILD_GENERAL1_2XLARGE'",
        "pool.yaml:16:38: command: command must pass the runner its JIT config: put {jitconfig} in an argument",
        "pool.yaml:17:19: deploy: 'arn:aws:iam::12:role/x' is not an IAM role ARN "
        "(arn:aws:iam::123456789012:role/NAME)",
        "pool.yaml:18:25: bootTimeout: '10x' is not a duration: use e.g. 90s, 10m, 6h, 1h30m or a number of seconds",
        "pool.yaml:18:46: maxJobDuration: 0: a duration must be longer than zero",
    ]


def test_cross_field_problems_at_the_field_they_are_about() -> None:
    text = (
        HEAD
        + (
            GITHUB  # 5-10
            + "  defaultBackend: fargat\n"  # 11
            "  backends:\n"  # 12
            "    - {name: box, local: {command: [run, '{jitconfig}']}}\n"  # 13
            "    - {name: box, kubernetes: {namespace: ci, image: i, serviceAccounts: {admin: sa}}}\n"  # 14
            "  roles: {deploy: 'arn:aws:iam::123456789012:role/d'}\n"  # 15
            "  policy:\n"  # 16
            "    - repositories: ['other-org/*', 'my-org/*', '*/x']\n"  # 17
            "      roles: [deploy, admin]\n"  # 18
            "      backends: [box, fargate]\n"  # 19
        )
    )
    lines = problems(text)
    assert lines == [
        "pool.yaml:11:19: defaultBackend: 'fargat' is not a backend; backends: box",
        "pool.yaml:14:14: name: duplicate backend name 'box' (first used by backends[0])",
        "pool.yaml:14:82: admin: 'admin' is not a role in spec.roles (deploy)",
        "pool.yaml:17:22: repositories: 'other-org/*' matches no repository this pool serves (owner my-org)",
        "pool.yaml:18:23: roles: 'admin' is not a role in spec.roles (deploy)",
        "pool.yaml:19:23: backends: 'fargate' is not a backend; backends: box",
    ]


def test_field_and_cross_field_problems_in_one_go() -> None:
    """Pydantic runs the checks between fields only once every field is valid; a pool file with both kinds of
    problems still gets them all in one run, each at its place, and nothing twice."""
    text = HEAD + (
        "  github:\n"  # 5
        "    appId: 0\n"  # 6
        "    installationId: 2\n"  # 7
        "    privateKeyFile: k\n"  # 8
        "    privateKeyEnv: K\n"  # 9
        "    webhookSecretFile: s\n"  # 10
        "    owner: my-org\n"  # 11
        "  defaultBackend: fargat\n"  # 12
        "  backends:\n"  # 13
        "    - {name: box, local: {command: [run]}}\n"  # 14
        "    - {name: box, kubernetes: {namespace: ci, image: i, serviceAccounts: {admin: sa}}}\n"  # 15
        "  roles: {deploy: 'arn:aws:iam::12:role/x', Ops: 'arn:aws:iam::123456789012:role/o'}\n"  # 16
        "  policy:\n"  # 17
        "    - repositories: ['other-org/*', 'my-org/*']\n"  # 18
        "      roles: [deploy, admin]\n"  # 19
        "      backends: [box, fargate]\n"  # 20
        "      maxCpu: -1\n"  # 21
        "  limits: {bootTimeout: 10x}\n"  # 22
    )
    assert problems(text) == [
        "pool.yaml:6:5: github: give exactly one of 'privateKeyFile' or 'privateKeyEnv'",
        "pool.yaml:6:12: appId: input should be greater than or equal to 1",
        "pool.yaml:12:19: defaultBackend: 'fargat' is not a backend; backends: box",
        "pool.yaml:14:36: command: command must pass the runner its JIT config: put {jitconfig} in an argument",
        "pool.yaml:15:14: name: duplicate backend name 'box' (first used by backends[0])",
        "pool.yaml:15:82: admin: 'admin' is not a role in spec.roles (deploy, Ops)",
        "pool.yaml:16:19: deploy: 'arn:aws:iam::12:role/x' is not an IAM role ARN "
        "(arn:aws:iam::123456789012:role/NAME)",
        "pool.yaml:16:50: Ops: role name 'Ops' must be lowercase letters, digits and '-' (label role-NAME)",
        "pool.yaml:19:23: roles: 'admin' is not a role in spec.roles (deploy, Ops)",
        "pool.yaml:20:23: backends: 'fargate' is not a backend; backends: box",
        "pool.yaml:21:15: maxCpu: input should be greater than 0",
        "pool.yaml:22:25: bootTimeout: '10x' is not a duration: use e.g. 90s, 10m, 6h, 1h30m or a number of seconds",
    ]


def test_several_backends_need_a_default() -> None:
    text = (
        HEAD
        + GITHUB
        + (
            "  backends:\n"
            "    - {name: a, local: {command: [run, '{jitconfig}']}}\n"
            "    - {name: b, codebuild: {project: p}}\n"
        )
    )
    (line,) = problems(text)
    assert line == (
        "pool.yaml:12:5: backends: with several backends, give defaultBackend (one of a, b) for jobs that name none"
    )


@pytest.mark.parametrize(
    ("github", "message"),
    [
        (
            "appId: 1\n    installationId: 2\n    privateKeyFile: k\n    webhookSecretFile: s\n",
            "give exactly one of 'owner' (every repository of an account) or 'repositories'",
        ),
        (
            "appId: 1\n    installationId: 2\n    privateKeyFile: k\n    privateKeyEnv: K\n"
            "    webhookSecretFile: s\n    owner: o\n",
            "give exactly one of 'privateKeyFile' or 'privateKeyEnv'",
        ),
        (
            "appId: 1\n    installationId: 2\n    privateKeyFile: k\n    owner: o\n",
            "give exactly one of 'webhookSecretFile' or 'webhookSecretEnv'",
        ),
        (
            "appId: 1\n    installationId: 2\n    privateKeyFile: k\n    webhookSecretFile: s\n"
            "    repositories: [a/x, b/y]\n",
            "repositories belong to 2 owners (a, b)",
        ),
        (
            "appId: 1\n    installationId: 2\n    privateKeyFile: k\n    webhookSecretFile: s\n"
            "    repositories: [nope]\n",
            "'nope' is not a repository: write OWNER/NAME",
        ),
        (
            "apiUrl: https://github.com/\n    appId: 1\n    installationId: 2\n    privateKeyFile: k\n"
            "    webhookSecretFile: s\n    owner: o\n",
            "is GitHub's web address; its API is https://api.github.com",
        ),
        (
            "apiUrl: ftp://x\n    appId: 1\n    installationId: 2\n    privateKeyFile: k\n"
            "    webhookSecretFile: s\n    owner: o\n",
            "'ftp://x' is not an http(s) URL",
        ),
        (
            "appId: 1\n    installationId: 2\n    privateKeyFile: k\n    webhookSecretEnv: 1BAD\n    owner: o\n",
            "webhookSecretEnv: '1BAD' is not an environment variable name",
        ),
    ],
)
def test_github_problems(github: str, message: str) -> None:
    text = HEAD + "  github:\n    " + github + "  backends: [{name: b, codebuild: {project: p}}]\n"
    lines = problems(text)
    assert any(message in line for line in lines), lines


def test_github_enterprise_and_repositories() -> None:
    text = HEAD + (
        "  github:\n"
        "    apiUrl: https://ghe.example.com/api/v3/\n"
        "    appId: 1\n    installationId: 2\n    privateKeyEnv: APP_KEY\n    webhookSecretFile: /s\n"
        "    repositories: [acme/app, Acme/infra]\n"
        "    runnerGroupId: 7\n"
        "  backends: [{name: b, codebuild: {project: p}}]\n"
        "  policy: [{repositories: ['acme/in*'], roles: []}]\n"
    )
    gh = load(text).spec.github
    assert gh.api_url == "https://ghe.example.com/api/v3" and gh.runner_group_id == 7
    assert gh.private_key().env == "APP_KEY" and gh.account == "acme"
    assert gh.serves("acme/infra") and gh.serves("ACME/APP") and not gh.serves("acme/other")
    bad = text.replace("acme/in*", "acme/web*")
    assert any("'acme/web*' matches no repository this pool serves" in line for line in problems(bad))


def test_a_user_owner_gets_repository_runners() -> None:
    user = GITHUB.replace("owner: my-org\n", "owner: alice\n    ownerType: user\n")
    backends = "  backends: [{name: b, codebuild: {project: p}}]\n"
    gh = load(HEAD + user + backends).spec.github
    assert gh.owner_type == "user" and not gh.org_runners
    assert gh.runner_scope("alice/app") == "alice/app" and gh.serves("alice/app")
    org = load(HEAD + GITHUB + backends).spec.github
    assert org.owner_type == "organization" and org.runner_scope("my-org/app") == "my-org"
    listed = GITHUB.replace("owner: my-org\n", "repositories: [my-org/app]\n")
    assert load(HEAD + listed + backends).spec.github.runner_scope("my-org/app") == "my-org/app"
    assert problems(HEAD + user.replace("ownerType: user", "ownerType: enterprise") + backends) == [
        "pool.yaml:11:16: ownerType: input should be 'organization' or 'user'"
    ]
    assert problems(HEAD + user + "    runnerGroupId: 3\n" + backends) == [
        "pool.yaml:6:5: github: runnerGroupId 3: runner groups belong to organizations; a user's repositories get "
        "repository runners in the Default group (1): leave runnerGroupId out"
    ]


def test_ca_file_is_relative_to_the_spec_file(tmp_path: Path) -> None:
    text = HEAD + GITHUB + "    caFile: certs/ghes-ca.pem\n  backends: [{name: b, codebuild: {project: p}}]\n"
    path = tmp_path / "pool.yaml"
    path.write_text(text)
    pool = capabilities.load([path]).of("RunnerPool")[0]
    assert pool.spec.github.ca_file == str(tmp_path / "certs" / "ghes-ca.pem")


def test_ecs_needs_a_task_definition_and_secrets_are_never_inline() -> None:
    text = (
        HEAD
        + GITHUB
        + (
            "  backends: [{name: f, ecs: {cluster: c, subnets: [s]}}]\n"
            "  rejections: {slack: {webhookUrl: https://hooks.slack.com/x}}\n"
        )
    )
    lines = problems(text)
    assert any("give 'taskDefinition' (x64), 'arm64TaskDefinition', or both" in line for line in lines)
    assert any("webhookUrl: input should be a valid dictionary" in line for line in lines), lines


@pytest.mark.parametrize(
    ("text", "seconds"),
    [(90, 90), ("90", 90), ("90s", 90), ("10m", 600), ("6h", 21600), ("1h30m", 5400), ("2d", 172800), (" 5m ", 300)],
)
def test_durations(text: object, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "10", "m", "10x", "1m1h", "-5m", "1.5h", True, None, 0, "0s", [1]])
def test_bad_durations(text: object) -> None:
    if text == "10":
        assert parse_duration(text) == 10
        return
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


def test_durations_past_a_year_are_refused_where_they_are_written() -> None:
    backend = "  backends: [{name: l, local: {command: [run, '{jitconfig}']}}]\n"  # 11
    limits = (
        "  limits:\n"  # 12
        "    maxJobDuration: 999999d\n"  # 13
        "    bootTimeout: 99999999999999999999\n"  # 14
        "    idleTimeout: 366d\n"  # 15
        "    deliveryRetention: 10000000000d\n"  # 16
        "    reconcileInterval: 365d\n"  # 17: a year is allowed
    )
    text = HEAD + GITHUB + backend + limits
    too_long = "seconds is too long: at most 365d (31536000 seconds)"
    assert problems(text) == [
        f"pool.yaml:13:21: maxJobDuration: 86399913600 {too_long}",
        f"pool.yaml:14:18: bootTimeout: 99999999999999999999 {too_long}",
        f"pool.yaml:15:18: idleTimeout: 31622400 {too_long}",
        f"pool.yaml:16:24: deliveryRetention: 864000000000000 {too_long}",
    ]
    pool = load(HEAD + GITHUB + backend + "  limits: {maxJobDuration: 365d}\n")
    assert pool.spec.limits.max_job_duration == 365 * 86400


@given(st.integers(0, 9), st.integers(0, 30), st.integers(0, 200), st.integers(0, 5000))
def test_duration_parts_add_up(d: int, h: int, m: int, s: int) -> None:
    parts = [(d, "d"), (h, "h"), (m, "m"), (s, "s")]
    text = "".join(f"{n}{unit}" for n, unit in parts if n)
    total = ((d * 24 + h) * 60 + m) * 60 + s
    if total == 0:
        return
    assert parse_duration(text) == total


def test_sengu_up_refuses_a_pool_whose_secrets_are_missing(tmp_path: Path) -> None:
    from prometheus_client import CollectorRegistry

    from sengu.core.clock import SYSTEM_CLOCK
    from sengu.core.errors import UserError
    from sengu.core.store import Store

    loaded = capabilities.load([EXAMPLE])
    assert [p.name for p in loaded.of("RunnerPool")] == ["ci"]
    with pytest.raises(UserError) as info:
        capabilities.components(loaded, store=Store(tmp_path), clock=SYSTEM_CLOCK, registry=CollectorRegistry())
    assert "/run/secrets/github-app.pem" in str(info.value)


def test_crd_schema_is_structural() -> None:
    crd = definition(RESOURCE)
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    assert structural_problems(schema) == []
    limits = schema["properties"]["spec"]["properties"]["limits"]["properties"]
    assert limits["bootTimeout"].get("x-kubernetes-int-or-string") is True


def test_warm_label_sets_resolve_like_a_jobs_under_the_pools_policy_and_fit_max_runners() -> None:
    backends = "  backends:\n    - {name: local, local: {command: [run, '{jitconfig}']}}\n"
    good = load(HEAD + GITHUB + backends + "  warm:\n    - {labels: [self-hosted, sengu, cpu-2], count: 2}\n")
    assert [(w.labels, w.count) for w in good.spec.warm] == [(["self-hosted", "sengu", "cpu-2"], 2)]
    text = (
        HEAD
        + GITHUB
        + backends
        + "  policy:\n    - {repositories: ['my-org/untrusted-*'], maxCpu: 1}\n"
        + "  limits: {maxRunners: 3}\n"
        + "  warm:\n"
        + "    - {labels: [self-hosted, sengu, cpu-2], count: 2}\n"  # line 17
        + "    - {labels: [self-hosted, sengu, CPU-2, sengu], count: 1}\n"
        + "    - {labels: [sengu, cpu-1], count: 1}\n"
        + "    - {labels: [self-hosted, sengu, gpu], count: 1}\n"
    )
    found = problems(text)
    assert found == [
        "pool.yaml:17:5: warm: 5 warm runners exceed limits.maxRunners (3)",
        "pool.yaml:17:16: labels: a job of my-org/untrusted-* may take a warm runner, but could not ask for these "
        "labels: label 'cpu-2': the policy for my-org/untrusted-x allows at most 1 vCPU (policy entry "
        "'my-org/untrusted-*')",
        "pool.yaml:18:16: labels: the same label set as warm[0]; give one entry a larger count",
        "pool.yaml:19:16: labels: warm labels must include self-hosted and sengu, as a job's runs-on does",
        "pool.yaml:20:16: labels: a job of any repository of my-org may take a warm runner, but could not ask for "
        "these labels: unknown label 'gpu': sengu understands a backend (local), x64/arm64, cpu-N, mem-Ng, "
        "spot/on-demand and role-NAME",
    ], found
    repos = GITHUB.replace("owner: my-org", "repositories: [my-org/app]")
    only = problems(HEAD + repos + backends + "  warm:\n    - {labels: [self-hosted, sengu], count: 1}\n")
    assert only == [
        "pool.yaml:14:5: warm: warm runners are registered for the whole owner: give github.owner, not repositories"
    ], only


def test_warm_entries_beside_a_wrong_default_backend_give_user_errors_not_an_internal_one() -> None:
    text = (
        HEAD
        + GITHUB
        + "  defaultBackend: nosuch\n"  # 11
        + "  limits: {maxRunners: 1}\n"  # 12
        + "  warm:\n"  # 13
        + "    - {labels: [self-hosted, sengu, linux], count: 3}\n"  # 14
        + "    - {labels: [sengu, linux, self-hosted], count: 1}\n"  # 15
        + "  backends:\n"  # 16
        + "    - {name: local, local: {command: [run, '{jitconfig}']}}\n"  # 17
    )
    assert problems(text) == [
        "pool.yaml:11:19: defaultBackend: 'nosuch' is not a backend; backends: local",
        "pool.yaml:14:5: warm: 4 warm runners exceed limits.maxRunners (1)",
        "pool.yaml:15:16: labels: the same label set as warm[0]; give one entry a larger count",
    ]


def test_warm_problems_come_with_the_field_problems() -> None:
    text = (
        HEAD
        + GITHUB
        + "  limits: {maxRunners: 2, bootTimeout: 10x}\n"  # 11
        + "  warm:\n"  # 12
        + "    - {labels: [self-hosted, sengu, linux], count: 3}\n"  # 13
        + "    - {labels: [sengu, linux, self-hosted], count: 1}\n"  # 14
        + "  backends:\n"  # 15
        + "    - {name: Bad_Name, local: {command: [run, '{jitconfig}']}}\n"  # 16
    )
    assert problems(text) == [
        "pool.yaml:11:40: bootTimeout: '10x' is not a duration: use e.g. 90s, 10m, 6h, 1h30m or a number of seconds",
        "pool.yaml:13:5: warm: 4 warm runners exceed limits.maxRunners (2)",
        "pool.yaml:14:16: labels: the same label set as warm[0]; give one entry a larger count",
        "pool.yaml:16:14: name: 'Bad_Name' is not a valid name: lowercase letters, digits and '-', at most 63 "
        "characters, starting and ending with a letter or digit",
    ]


def test_warm_runners_on_a_user_owner_are_refused_at_load() -> None:
    # A personal account has no organization runners, and warm runners are registered for the whole owner.
    text = (
        HEAD
        + GITHUB
        + "    ownerType: user\n"
        + "  warm:\n"
        + "    - {labels: [self-hosted, sengu], count: 1}\n"  # 13
        + "  backends:\n"
        + "    - {name: local, local: {command: [run, '{jitconfig}']}}\n"
    )
    assert problems(text) == [
        "pool.yaml:13:5: warm: warm runners are registered on an organization; a user's runners are per repository"
    ]
