#!/usr/bin/env bash
# Installs the real test peers: Prometheus + promtool (Debian package `prometheus`), headless
# Chromium for the status page (Debian `chromium`), PostgreSQL's server binaries for the
# PostgreSQL store (Debian `postgresql`, when no initdb is found; tests/peers/postgres.sh
# runs throwaway servers with them), kubectl for `kubectl kustomize` in
# scripts/check-manifests.sh (Debian `kubernetes-client`, kubectl 1.20, when no kubectl is on
# PATH; deploy/k8s-replicas is written so that it renders too), and moto (a local AWS
# endpoint, PyPI `moto[server]`). Idempotent and quiet: what is already
# installed is skipped. Needs root (or sudo) for apt on Debian-based machines.
# Env: PYTHON (default python3), MOTO_VERSION (default 5.2.5, the version the tests were checked with).
set -euo pipefail
py="${PYTHON:-python3}"
moto_version="${MOTO_VERSION:-5.2.5}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"

missing=()
for pkg in prometheus chromium; do
  [ "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null)" = "install ok installed" ] || missing+=("$pkg")
done
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null; then
  missing+=(postgresql)
fi
# Any kubectl will do (a newer one, e.g. from Kubernetes' own repository, is kept).
command -v kubectl >/dev/null || missing+=(kubernetes-client)
if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing ${missing[*]} (Debian packages)..." >&2
  out="$(mktemp)"
  # The Debian package would start a service on 0.0.0.0:9090 where services may start;
  # tests always run their own instances on loopback ports.
  if ! { $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
         $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >"$out" 2>&1; then
    cat "$out" >&2; rm -f "$out"; exit 1
  fi
  rm -f "$out"
fi

if ! "$py" -c "import sys, moto, boto3; sys.exit(0 if moto.__version__ == '$moto_version' else 1)" 2>/dev/null; then
  echo "installing moto[server]==$moto_version (PyPI)..." >&2
  # PIP_BREAK_SYSTEM_PACKAGES lets pip install into a Debian-managed python (PEP 668).
  PIP_BREAK_SYSTEM_PACKAGES=1 PIP_ROOT_USER_ACTION=ignore PIP_DISABLE_PIP_VERSION_CHECK=1 \
    "$py" -m pip install -q "moto[server]==$moto_version" boto3
fi

pg="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | tail -n1)"
echo "peers: $(promtool --version 2>&1 | head -n1 | awk '{print $1, $3}'), $(chromium --version 2>/dev/null | head -n1), $("${pg:-/usr/bin}/postgres" --version 2>/dev/null || echo 'postgres: MISSING'), kubectl $(kubectl version --client 2>/dev/null | grep -oE 'v[0-9]+\.[0-9]+\.[0-9]+' | head -n1 || echo MISSING), moto $("$py" -c 'import moto; print(moto.__version__)')"
