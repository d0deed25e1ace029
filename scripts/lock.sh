#!/usr/bin/env bash
# Regenerate the lock (requirements.txt) from the dependencies declared in pyproject.toml, then the
# conda env files (envs/*.yaml) from the lock. Run it after adding, removing or re-pinning a
# dependency; extra arguments go to pip-compile (e.g. --upgrade-package numpy).
#
# pip-compile keeps every version already in requirements.txt unless asked to change it, so a
# regeneration only moves what the change needs. It resolves with this machine's pip configuration
# (indexes, find-links, constraints) and for this Python (3.11, Linux x86_64).
set -euo pipefail
cd "$(dirname "$0")/.."
tools=${PIP_TOOLS_VENV:-${TMPDIR:-/tmp}/clipcurate-pip-tools}
if [ ! -x "$tools/bin/pip-compile" ]; then
  python3 -m venv "$tools"
  "$tools/bin/python" -m pip install -q pip==23.2.1 pip-tools==7.4.1
fi
export CUSTOM_COMPILE_COMMAND="bash scripts/lock.sh"
"$tools/bin/pip-compile" --quiet pyproject.toml --extra test --strip-extras \
  --allow-unsafe --no-emit-index-url --no-emit-find-links --output-file requirements.txt "$@"
.venv/bin/python scripts/make_envs.py
