#!/usr/bin/env bash
# run.sh FUZZER SECONDS - seed a corpus from the real GitHub payloads (tests/doubles/github)
# plus hand-made edge cases, then run the libFuzzer target for SECONDS. Exit non-zero on
# any crash, leak or sanitizer report (libFuzzer's own exit code).
set -u
fuzzer=$1
secs=${2:-600}
top=$(cd "$(dirname "$0")/../.." && pwd)
corpus=$(dirname "$fuzzer")/corpus
mkdir -p "$corpus"
if "$top/tests/doubles/github/ensure.sh" >/dev/null 2>&1; then
	node "$top/tests/doubles/github/examples.js" lines | while read -r line; do
		id=$(printf '%s' "$line" | jq -r .id)
		{ printf '%s' "$line" | jq -r .event
		  echo "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
		  printf '%s' "$line" | jq -c .payload; } >"$corpus/$id"
	done
fi
printf 'issues\nsha256=\n{}' >"$corpus/empty"
printf 'star\nsha1=00\n[1,2]' >"$corpus/array"
printf 'push\n\n{"ref":5,"commits":{}}' >"$corpus/types"
exec "$fuzzer" -max_total_time="$secs" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 "$corpus"
