#!/usr/bin/env bash
# Create .venv from the lock (requirements.txt: every package pinned, generated from pyproject.toml by
# scripts/lock.sh) and install the project; idempotent: reruns only when the lock or pyproject.toml changed.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
# WordNet 3.0 database for DataComp's text-based baseline (Debian's wordnet-base -> /usr/share/wordnet);
# installed where we are root on Debian/Ubuntu, otherwise its tests skip and the method asks for it
if [ ! -f /usr/share/wordnet/data.noun ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wordnet-base; } \
    || echo "could not install wordnet-base; the text-based baseline's tests will skip"
fi
stamp=.venv/.requirements.sha256
want=$(cat requirements.txt pyproject.toml | sha256sum | cut -d' ' -f1)
if [ -x .venv/bin/python ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/pip install --disable-pip-version-check -q -r requirements.txt
.venv/bin/pip install --disable-pip-version-check -q --no-deps -e .
echo "$want" > "$stamp"
