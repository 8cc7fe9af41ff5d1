#!/bin/sh
# Fails on its first attempt, like a partner API that times out now and then: backoffLimit retries it.
echo "syncing partner feed (attempt ${SENGU_ATTEMPT:-1})"
if [ "${SENGU_ATTEMPT:-1}" -lt 2 ]; then echo "partner API timed out" >&2; exit 75; fi
echo "synced 42 items"
