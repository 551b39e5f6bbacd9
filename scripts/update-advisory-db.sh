#!/usr/bin/env bash
# Writes a filtered copy of the RustSec advisory database: only the advisories of crates named
# in Cargo.lock (every version), plus its licence (CC0) and a SNAPSHOT file naming the
# upstream commit and its date. scripts/check-deny.sh runs `cargo deny` against such a copy,
# so the check needs no network. Re-run it after a dependency change, and regularly: the check
# prints the snapshot's age and fails past deny.toml's maximum-db-staleness.
#
# Usage: bash scripts/update-advisory-db.sh [SOURCE] [OUT]
#   SOURCE  a clone of https://github.com/rustsec/advisory-db (a work tree or a bare
#           repository); without it, a shallow clone is made (needs access to GitHub)
#   OUT     where the copy goes; default deny/advisory-db (the copy the repository ships,
#           where check-deny.sh looks), or $ADVISORY_DB
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

src="${1:-}"
out="${2:-${ADVISORY_DB:-deny/advisory-db}}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

if [[ -z "$src" ]]; then
    echo "cloning https://github.com/rustsec/advisory-db (shallow)..." >&2
    git clone -q --depth 1 https://github.com/rustsec/advisory-db "$tmp/upstream"
    src="$tmp/upstream"
fi
gitdir="$src"
[[ -d "$src/.git" ]] && gitdir="$src/.git"
git --git-dir="$gitdir" rev-parse --verify -q HEAD >/dev/null \
    || { echo "update-advisory-db: $src is not a git repository with a commit" >&2; exit 1; }

# Crate names in Cargo.lock (`name = "..."` lines of [[package]] entries).
sed -n 's/^name = "\(.*\)"$/\1/p' Cargo.lock | sort -u >"$tmp/locked"
git --git-dir="$gitdir" ls-tree -d --name-only HEAD crates/ | sed 's#^crates/##' | sort -u >"$tmp/advised"
comm -12 "$tmp/locked" "$tmp/advised" >"$tmp/both"

mkdir -p "$tmp/db/crates"
while read -r name; do
    git --git-dir="$gitdir" archive HEAD "crates/$name" | tar -x -C "$tmp/db"
done <"$tmp/both"
git --git-dir="$gitdir" show HEAD:LICENSE.txt >"$tmp/db/LICENSE.txt"
{
    echo "# Filtered copy of https://github.com/rustsec/advisory-db (CC0-1.0, see LICENSE.txt):"
    echo "# the advisories of the crates in bedrock-cost-exporter's Cargo.lock. Made by"
    echo "# scripts/update-advisory-db.sh; read by scripts/check-deny.sh."
    echo "commit = $(git --git-dir="$gitdir" rev-parse HEAD)"
    echo "date = $(git --git-dir="$gitdir" show -s --format=%cI HEAD)"
} >"$tmp/db/SNAPSHOT"

rm -rf "$out"
mkdir -p "$(dirname "$out")"
cp -r "$tmp/db" "$out"
echo "update-advisory-db: $(find "$out/crates" -name '*.md' | wc -l) advisories for $(wc -l <"$tmp/both") of $(wc -l <"$tmp/locked") locked crates -> $out ($(sed -n 's/^date = //p' "$out/SNAPSHOT"))"
