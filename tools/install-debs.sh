#!/usr/bin/env bash
# Installs the Debian packages the load benchmarks run against: nginx (the server) and wrk (the anchor).
# Idempotent: does nothing when both are there. Needs root or sudo (CI and these machines run as root).
set -euo pipefail
missing=()
command -v nginx >/dev/null 2>&1 || [[ -x /usr/sbin/nginx ]] || missing+=(nginx-light)
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
if (( ${#missing[@]} == 0 )); then
  exit 0
fi
sudo=()
if [[ "$(id -u)" != 0 ]]; then sudo=(sudo); fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null \
  || { "${sudo[@]}" apt-get update -qq && "${sudo[@]}" apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null; }
# nginx-light starts a system nginx on port 80 where an init system runs; the benchmarks start their own.
