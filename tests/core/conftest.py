from tests.kube.fixtures import emulator, kube  # noqa: F401
