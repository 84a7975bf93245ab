#!/usr/bin/env bash
# Relocatable kernel: start tslab at the repository root (three folders up) so that
# notebooks can `import ... from "./src/..."`; nothing is installed globally.
set -e
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
cd "$root"
exec ./node_modules/.bin/tslab kernel --config-path "$1"
