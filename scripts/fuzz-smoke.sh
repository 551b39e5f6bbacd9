#!/usr/bin/env bash
# CI's short fuzz pass (FUZZING.md): installs cargo-fuzz if missing, builds every target,
# replays each target's committed seeds (and its snapshot of a long run's minimised corpus,
# fuzz/snapshot/<target>.tar.gz, when there is one) and then fuzzes it for FUZZ_SMOKE_SECONDS (default
# 20). Fails on any crash, panic, failed invariant or hang. New inputs go to a temporary
# directory, so the work tree stays clean.
#
# The targets are built unoptimised (--dev, debug assertions on as in the long runs): from
# scratch that is a third of the CPU time of the optimised build scripts/fuzz uses, which is
# what counts on a fresh CI machine; 20 seconds of slower fuzzing is still a smoke test.
#
# Most of the replay's time is config_parse building the regexes of `principal_regex` rules
# (the literal prefilters of aho-corasick). So in this build the regex crates are optimised
# (fuzz/Cargo.toml, still instrumented), and AddressSanitizer does not move stack frames to the
# heap to catch a use after return (its fake stacks were a third of that time; the long runs
# keep it). A hang is an input that runs 60 s (the long runs, optimised, say 10 s): such a
# config takes up to a few seconds here (0.03 s in the release daemon), more on a busy machine.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../fuzz"
export RUSTC_BOOTSTRAP=1 # cargo fuzz needs nightly flags (sanitizers); stable accepts them so
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_stack_use_after_return=0}"
secs=${FUZZ_SMOKE_SECONDS:-20}

if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi
cargo fuzz build --dev


scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
passed=0
failed=0
for t in $(cargo fuzz list); do
  mkdir -p "$scratch/$t"
  # The long runs' minimised corpus, when committed: replayed too, as regression inputs.
  [ ! -f "snapshot/$t.tar.gz" ] || tar -xzf "snapshot/$t.tar.gz" -C "$scratch"
  if cargo fuzz run --dev "$t" "$scratch/$t" "corpus/$t" -- \
    -max_total_time="$secs" -timeout=60 -dict="dict/$t.dict" \
    -artifact_prefix="$scratch/" >"$scratch/$t.log" 2>&1; then
    echo "fuzz-smoke: $t ok ($(grep -Eo 'DONE +cov: [0-9]+ ft: [0-9]+' "$scratch/$t.log" | tail -1))"
    passed=$((passed + 1))
  else
    echo "fuzz-smoke: $t FAILED; the fuzzer's output:" >&2
    tail -60 "$scratch/$t.log" >&2
    failed=$((failed + 1))
  fi
done
echo "fuzz-smoke: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
