#!/usr/bin/env bash
# Lints the CloudFormation templates in deploy/aws/ with cfn-lint and fails on any error or
# warning. Installs cfn-lint from PyPI first if it is missing or not the pinned version
# (quiet and idempotent: nothing is installed when the pinned version is already there).
# Env: PYTHON (default python3), CFN_LINT_VERSION (default below).
set -euo pipefail

# Pinned so a new cfn-lint release (new rules, newer resource schemas) cannot turn a clean
# tree red by itself. 1.51.0 is the version the templates were checked with, and the one
# the project's machine image already ships; bump it deliberately and re-run this script.
cfn_lint_version="${CFN_LINT_VERSION:-1.51.0}"
py="${PYTHON:-python3}"

cd "$(dirname "${BASH_SOURCE[0]}")/.."

installed="$("$py" -c "import importlib.metadata as m; print(m.version('cfn-lint'))" 2>/dev/null || true)"
if [ "$installed" != "$cfn_lint_version" ]; then
  echo "installing cfn-lint==$cfn_lint_version (PyPI)..." >&2
  # PIP_BREAK_SYSTEM_PACKAGES lets pip install into a Debian-managed python (PEP 668).
  PIP_BREAK_SYSTEM_PACKAGES=1 PIP_ROOT_USER_ACTION=ignore PIP_DISABLE_PIP_VERSION_CHECK=1 \
    "$py" -m pip install -q "cfn-lint==$cfn_lint_version"
fi

shopt -s nullglob
templates=(deploy/aws/*.yaml)
if [ "${#templates[@]}" -eq 0 ]; then
  echo "check-cfn: no templates found in deploy/aws/*.yaml" >&2
  exit 1
fi

# Run through the interpreter that was checked/installed above rather than whatever
# `cfn-lint` is first on PATH. --non-zero-exit-code warning: errors and warnings fail.
if "$py" -c 'import sys; from cfnlint.runner import main; sys.exit(main())' \
     --non-zero-exit-code warning -- "${templates[@]}"; then
  echo "check-cfn: ${#templates[@]} template(s) clean (cfn-lint $cfn_lint_version)"
else
  rc=$?
  echo "check-cfn: cfn-lint reported problems (exit $rc)" >&2
  exit "$rc"
fi
