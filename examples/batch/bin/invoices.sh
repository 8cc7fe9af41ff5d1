#!/bin/sh
echo "invoices: done"
