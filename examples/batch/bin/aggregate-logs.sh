#!/bin/sh
echo "aggregate-logs: done"
