#!/usr/bin/env bash
# Install what this project needs and is missing, on a fresh Debian 12 machine; idempotent.
#
#   bash scripts/setup.sh                # node packages (npm ci) + Debian Jupyter packages for the notebook runner
#   bash scripts/setup.sh --bench        # + python3-torch and OpenBLAS, the PyTorch reference in npm run bench
#   bash scripts/setup.sh --charts       # + chromium, to render charts to PNG (savePlotPng, render-notebook-charts)
#   bash scripts/setup.sh --interactive  # + jupyter-notebook, to open the notebooks in a browser
#   bash scripts/setup.sh --all          # all of the above
#   bash scripts/setup.sh --check        # install nothing; list what is missing (exit 1 if anything is)
#
# Only packages that `dpkg -s` reports missing are installed (apt-get update first); npm ci runs
# only when node_modules is missing or older than package-lock.json. Uses sudo only when not root.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

required=(python3-nbclient jupyter-nbconvert jupyter-nbformat python3-ipykernel jupyter-client)
optional=()
check=0
for arg in "$@"; do
  case "$arg" in
    --bench) optional+=(python3-torch libopenblas0-pthread) ;;
    --charts) optional+=(chromium) ;;
    --interactive) optional+=(jupyter-notebook) ;;
    --all) optional+=(python3-torch libopenblas0-pthread chromium jupyter-notebook) ;;
    --check) check=1 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "setup.sh: unknown option '$arg' (see --help)" >&2; exit 2 ;;
  esac
done

# Node >= 20.19: tslab loads ESM-only packages (arquero, hyparquet) through require().
if ! command -v node >/dev/null 2>&1; then
  echo "setup.sh: node not found; install Node.js >= 20.19 (Debian 12's nodejs 18 is too old)" >&2
  exit 1
fi
if ! node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)'; then
  echo "setup.sh: node $(node --version) is too old; this project needs Node.js >= 20.19" >&2
  exit 1
fi

missing=()
for p in "${required[@]}" "${optional[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
need_npm=0
if [ ! -d node_modules ] || [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  need_npm=1
fi

if [ "$check" = 1 ]; then
  [ "${#missing[@]}" -gt 0 ] && echo "missing Debian packages: ${missing[*]}"
  [ "$need_npm" = 1 ] && echo "node_modules missing or stale: npm ci needed"
  if [ "${#missing[@]}" -eq 0 ] && [ "$need_npm" = 0 ]; then echo "nothing missing"; exit 0; fi
  exit 1
fi

if [ "${#missing[@]}" -gt 0 ]; then
  sudo=""
  if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
  echo "setup.sh: installing Debian packages: ${missing[*]}"
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

if [ "$need_npm" = 1 ]; then
  echo "setup.sh: npm ci"
  # onnxruntime-node (optional) ships its CPU binaries in the package; its postinstall would only
  # fetch CUDA libraries from outside the registry (npm 10 runs it; npm 11 runs no install scripts).
  ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund
fi

echo "setup.sh: ready (node $(node --version); Debian Jupyter: $(/usr/bin/jupyter nbconvert --version 2>/dev/null || echo missing))"
