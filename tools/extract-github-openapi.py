"""Extract, from GitHub's OpenAPI description, the operations sengu's runners call, into a small fixture the
tests check the client against (the whole description is 13 MB).

    cd "$(mktemp -d)" && npm pack @octokit/openapi && tar xzf octokit-openapi-*.tgz
    python tools/extract-github-openapi.py package > tests/runners/github_openapi.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

OPERATIONS = {
    "/app/installations/{installation_id}/access_tokens": ["post"],
    "/installation/repositories": ["get"],
    "/repos/{owner}/{repo}/actions/runs": ["get"],
    "/repos/{owner}/{repo}/actions/runs/{run_id}/jobs": ["get"],
    "/repos/{owner}/{repo}/actions/jobs/{job_id}": ["get"],
    "/repos/{owner}/{repo}/check-runs": ["post"],
    "/orgs/{org}/actions/runners": ["get"],
    "/orgs/{org}/actions/runners/generate-jitconfig": ["post"],
    "/orgs/{org}/actions/runners/{runner_id}": ["delete"],
    "/repos/{owner}/{repo}/actions/runners": ["get"],
    "/repos/{owner}/{repo}/actions/runners/generate-jitconfig": ["post"],
    "/repos/{owner}/{repo}/actions/runners/{runner_id}": ["delete"],
}
DESCRIPTIONS = ("api.github.com", "ghes-3.19")


def _operation(op: dict[str, Any]) -> dict[str, Any]:
    schema = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {})
    if "oneOf" in schema or "anyOf" in schema:  # check-runs: one schema per status; every branch's fields
        branches = schema.get("oneOf") or schema.get("anyOf")
        properties = sorted({k for b in branches for k in b.get("properties", {})} | set(schema.get("properties", {})))
        required = sorted(
            set.intersection(*(set(b.get("required", [])) for b in branches)) | set(schema.get("required", []))
        )
    else:
        properties, required = sorted(schema.get("properties", {})), sorted(schema.get("required", []))
    return {
        "operationId": op["operationId"],
        "parameters": sorted(p["name"] for p in op.get("parameters", []) if "name" in p),
        "body": {"properties": properties, "required": required} if schema else None,
        "responses": sorted(op["responses"]),
    }


def main(package: Path) -> None:
    meta = json.loads((package / "package.json").read_text())
    out: dict[str, Any] = {"origin": f"npm {meta['name']} {meta['version']}, generated/<description>.deref.json"}
    for name in DESCRIPTIONS:
        paths = json.loads((package / "generated" / f"{name}.deref.json").read_text())["paths"]
        out[name] = {
            path: {method: _operation(paths[path][method]) for method in methods if method in paths.get(path, {})}
            for path, methods in OPERATIONS.items()
        }
    json.dump(out, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
