#!/bin/sh
# No-op stand-in for Bazel's remote coverage tools (offline build).
exit 0
