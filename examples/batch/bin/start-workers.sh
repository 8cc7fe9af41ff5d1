#!/bin/sh
echo "start-workers: done"
