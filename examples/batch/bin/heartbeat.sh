#!/bin/sh
echo "heartbeat from $(hostname) at $(date -u +%H:%M:%S)"
