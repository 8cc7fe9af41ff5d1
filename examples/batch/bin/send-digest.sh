#!/bin/sh
echo "send-digest: done"
