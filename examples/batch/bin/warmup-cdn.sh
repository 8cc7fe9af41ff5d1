#!/bin/sh
echo "warmup-cdn: done"
