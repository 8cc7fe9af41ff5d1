#!/bin/sh
echo "weekly-report: done"
