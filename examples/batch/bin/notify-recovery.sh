#!/bin/sh
echo "recovery for failed run ${SENGU_RUN_ID:-?} of ${SENGU_JOB:-?}: marking import as pending for manual review"
