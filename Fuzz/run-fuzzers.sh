#!/usr/bin/env bash
# run-fuzzers.sh FUZZER CORPUS WORKDIR SECONDS
# Runs the libFuzzer harness FUZZER (sanitize-clone-fuzz) on every parser it knows, SECONDS each,
# each on a fresh copy of CORPUS/<parser> in WORKDIR/corpus/<parser>. Prints, per parser, the runs
# executed and the rate; stops at the first crash, hang (an input taking over 30 s) or sanitizer
# report, printing its log, the input (WORKDIR/findings/) and how to run it again. `make fuzz`
# runs it; see docs/testing.md, "Fuzzing".
set -euo pipefail
fuzzer=${1:?usage: run-fuzzers.sh FUZZER CORPUS WORKDIR SECONDS}
corpus=${2:?}
work=${3:?}
seconds=${4:?}

rm -rf "$work"
mkdir -p "$work/corpus" "$work/findings" "$work/logs" "$work/tmp"
# The Swift runtime's own backtracer would hold a crashed fuzzer up (it waits for its symbolicator);
# libFuzzer and AddressSanitizer print the stack themselves.
export SWIFT_BACKTRACE=enable=no
# The harness's scratch roots go here, and go with the rest.
export TMPDIR=$work/tmp

parsers=$(SANITIZE_CLONE_FUZZ_PARSER=list "$fuzzer")
printf '%-20s %12s %8s %10s\n' parser runs seconds runs/s | tee "$work/summary.txt"
for parser in $parsers; do
  if [[ ! -d $corpus/$parser ]]; then
    echo "no seed corpus for $parser: add a few of its files to $corpus/$parser/" >&2
    exit 1
  fi
  cp -r "$corpus/$parser" "$work/corpus/$parser"
  log=$work/logs/$parser.log
  if ! SANITIZE_CLONE_FUZZ_PARSER=$parser "$fuzzer" "$work/corpus/$parser" -max_total_time="$seconds" -timeout=30 \
       -artifact_prefix="$work/findings/$parser-" >"$log" 2>&1; then
    grep -v -E '^#[0-9]+|NEW_FUNC|NEW_PC' "$log" | tail -n 40 >&2
    finding=$(ls "$work/findings/$parser-"* 2>/dev/null | head -n 1 || true)
    echo >&2
    echo "fuzz: $parser failed; input: ${finding:-(none written)}" >&2
    echo "run it again: SANITIZE_CLONE_FUZZ_PARSER=$parser SWIFT_BACKTRACE=enable=no $fuzzer ${finding:-INPUT}" >&2
    exit 1
  fi
  # libFuzzer's last line: "Done 123456 runs in 31 second(s)".
  read -r runs took < <(sed -n 's/^Done \([0-9]*\) runs in \([0-9]*\) second.*/\1 \2/p' "$log")
  printf '%-20s %12s %8s %10s\n' "$parser" "$runs" "$took" $((runs / (took > 0 ? took : 1))) | tee -a "$work/summary.txt"
done
rm -rf "$work/tmp"
echo "every parser ran ${seconds} s without a crash, hang or sanitizer report (corpora in $work/corpus)"
