#!/bin/sh
# Generates configure and Makefile.in (not kept in git).
set -e
cd "$(dirname "$0")"
mkdir -p m4 build-aux
autoreconf --install --force
