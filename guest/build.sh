#!/bin/sh
# Placeholder until the guest recipe lands: nothing to build yet.
[ "${1:-}" = --print-dir ] && exit 1
exit 0
