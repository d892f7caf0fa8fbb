#!/usr/bin/env bash
# ingest_soak.sh - the issue's full durability run, too long for `make test`: 5,000 signed
# deliveries per round, jido-ingest killed with SIGKILL at a random moment, 5 rounds
# (override with INGEST_KILL_N / INGEST_KILL_ROUNDS). Prints the e2e script's PASS/FAIL.
top=$(cd "$(dirname "$0")/.." && pwd)
export INGEST_KILL_N=${INGEST_KILL_N:-5000} INGEST_KILL_ROUNDS=${INGEST_KILL_ROUNDS:-5}
exec bash "$top/tests/e2e/ingest_durability.sh"
