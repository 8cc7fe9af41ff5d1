"""Where runners run: the backend contract and the AWS backends (ECS/Fargate, CodeBuild).

The local and Kubernetes backends keep the same contract (`Backend`); boto3 is imported only when an
AWS backend first calls AWS.
"""

from sengu.runners.backends.base import (
    BACKEND_TAG,
    JIT_CONFIG_ENV,
    POOL_TAG,
    RUNNER_TAG,
    SPOT_INTERRUPTION,
    Backend,
    BackendError,
    Handle,
    Observation,
    ObservedState,
    StopOnce,
)
from sengu.runners.backends.codebuild import CodeBuildBackend
from sengu.runners.backends.ecs import EcsBackend

__all__ = [
    "BACKEND_TAG",
    "JIT_CONFIG_ENV",
    "POOL_TAG",
    "RUNNER_TAG",
    "SPOT_INTERRUPTION",
    "Backend",
    "BackendError",
    "CodeBuildBackend",
    "EcsBackend",
    "Handle",
    "Observation",
    "ObservedState",
    "StopOnce",
]
