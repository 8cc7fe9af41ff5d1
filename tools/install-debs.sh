#!/usr/bin/env bash
# Installs the Debian packages the load benchmarks and tests run against: nginx (the server, and the replay
# test of scenarios built from its logs), wrk (the benchmarks' anchor) and influxdb (1.x: the InfluxDB
# export is written to a real one and read back). Idempotent: does nothing when all are there. Needs root or
# sudo (CI and these machines run as root).
set -euo pipefail
missing=()
command -v nginx >/dev/null 2>&1 || [[ -x /usr/sbin/nginx ]] || missing+=(nginx-light)
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
command -v influxd >/dev/null 2>&1 || [[ -x /usr/bin/influxd ]] || missing+=(influxdb)
if (( ${#missing[@]} == 0 )); then
  exit 0
fi
sudo=()
if [[ "$(id -u)" != 0 ]]; then sudo=(sudo); fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null \
  || { "${sudo[@]}" apt-get update -qq && "${sudo[@]}" apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null; }
# nginx-light and influxdb start system services where an init system runs; the tests and benchmarks start
# their own on free loopback ports.
