#!/usr/bin/env bash
# Build the documentation site with `mkdocs build --strict`: a broken link, a missing page or
# anchor, or an API reference entry that does not resolve fails the build. The site goes to
# site/ (or the directory given as $1). The code in the pages is run by tests/docs/ (pytest).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=".venv/bin"
[ -x "$bin/python" ] || bin="$(dirname "$(command -v python3)")"
site="${1:-site}"
NO_MKDOCS_2_WARNING=1 "$bin/python" -m mkdocs build --strict --clean --site-dir "$site"
echo "docs OK: $site/index.html"
