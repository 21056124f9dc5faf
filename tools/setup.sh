#!/usr/bin/env bash
# Set up a fresh machine: Fashion-MNIST (Debian's package where apt may be used), .venv, requirements.
# Usage: bash tools/setup.sh [--dev]   (--dev adds the test tools and Debian's chromium for browser tests)
set -euo pipefail
cd "$(dirname "$0")/.."
dev=0; [ "${1:-}" = "--dev" ] && dev=1
pkgs=()
[ -d /usr/share/datasets/fashion-mnist ] || pkgs+=(dataset-fashion-mnist)
[ "$dev" = 1 ] && ! command -v chromium >/dev/null && pkgs+=(chromium)
if [ ${#pkgs[@]} -gt 0 ]; then
  if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq "${pkgs[@]}" >/dev/null
  elif command -v apt-get >/dev/null && command -v sudo >/dev/null; then
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${pkgs[@]}" >/dev/null || true
  else
    echo "note: could not install ${pkgs[*]} with apt; the data will be downloaded by torchvision when training" >&2
  fi
fi
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
if [ "$dev" = 1 ]; then .venv/bin/pip install -q -r requirements-dev.txt; else .venv/bin/pip install -q -r requirements.txt; fi
.venv/bin/pip install -q --no-deps -e .  # the fmnist package, importable from anywhere (tools/, bench/, tests/)
# where no Debian package could be had, fetch the data now (the demo starts without it either way)
.venv/bin/python -m fmnist download >/dev/null 2>&1 || echo "note: Fashion-MNIST not available yet; predicting works, training will say how to get it" >&2
