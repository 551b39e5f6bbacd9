#!/usr/bin/env bash
# cargo deny with deny.toml: licences, bans (wildcards; duplicates are warnings), sources (only
# crates.io) and RustSec advisories, the last against a local copy of the advisory database so
# that the check itself needs no network (`cargo deny --offline`).
#
# Installs cargo-deny if it is missing or not $CARGO_DENY_VERSION: `cargo install --locked`,
# which took 11 minutes (641 s, one job) on this project's 2-core machine; once installed, the
# check takes seconds. Fetches the locked crates' sources from crates.io first (a no-op when
# they are there), since `cargo metadata` reads every platform's manifests.
#
# The advisory database: the first of $ADVISORY_DB, ../shared/advisory-db (next to the
# repository, where CI has shared/) and deny/advisory-db (in this repository) that holds a
# crates/ directory, as written by scripts/update-advisory-db.sh. Without one, the advisories check is skipped with a
# warning, or fails with CHECK_DENY_REQUIRE_ADVISORIES=1.
# Usage: bash scripts/check-deny.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

version="${CARGO_DENY_VERSION:-0.20.2}"
if [[ "$(cargo-deny --version 2>/dev/null)" != "cargo-deny $version" ]]; then
    echo "installing cargo-deny $version (cargo install --locked; about 11 minutes on 2 cores)..." >&2
    cargo install --locked --quiet --version "$version" cargo-deny
fi
cargo fetch --locked --quiet

src="${ADVISORY_DB:-}"
if [[ -z "$src" ]]; then
    for candidate in ../shared/advisory-db deny/advisory-db; do
        if [[ -d "$candidate/crates" ]]; then
            src="$candidate"
            break
        fi
    done
fi

checks=(licenses bans sources)
if [[ -n "$src" && -d "$src/crates" ]]; then
    # Laid out where deny.toml's db-path says, under the directory name cargo-deny derives from
    # the default database URL, as a git repository: cargo-deny takes the database's age from
    # FETCH_HEAD's modification time, which is set to the snapshot's date.
    date="$(sed -n 's/^date = //p' "$src/SNAPSHOT" 2>/dev/null || true)"
    [[ -n "$date" ]] || { echo "check-deny: $src/SNAPSHOT has no date line; rebuild it with scripts/update-advisory-db.sh" >&2; exit 1; }
    dest=target/advisory-dbs/advisory-db-3157b0e258782691
    rm -rf "$dest"
    mkdir -p "$dest"
    cp -r "$src/crates" "$dest/"
    git -C "$dest" init -q
    git -C "$dest" add -A
    GIT_AUTHOR_DATE="$date" GIT_COMMITTER_DATE="$date" git -C "$dest" \
        -c user.name=check-deny -c user.email=check-deny@localhost -c commit.gpgsign=false \
        commit -q -m "advisory-db snapshot $date"
    touch -d "$date" "$dest/.git/FETCH_HEAD"
    age=$(( ($(date +%s) - $(date -d "$date" +%s)) / 86400 ))
    echo "==> advisory database: $src, snapshot of $date ($age days old), $(find "$src/crates" -name '*.md' | wc -l) advisories"
    checks+=(advisories)
elif [[ "${CHECK_DENY_REQUIRE_ADVISORIES:-0}" == 1 ]]; then
    echo "check-deny: FAILED: no advisory database (set ADVISORY_DB, or write one with scripts/update-advisory-db.sh)" >&2
    exit 1
else
    echo "==> advisory database: none found (ADVISORY_DB, ../shared/advisory-db, deny/advisory-db): advisories NOT checked; see scripts/update-advisory-db.sh" >&2
fi

echo "==> cargo deny --offline check --hide-inclusion-graph ${checks[*]}"
cargo deny --offline check --hide-inclusion-graph "${checks[@]}"
echo "check-deny: OK"
