#!/usr/bin/env bash
# `funnel run` at scale: the first run of COUNT synthetic contacts (default a
# million) entering the ten-stage benchmark funnel, then a tick in which 1%
# of them changed, each against `sqlite3 .import` of the same CSV and
# against the floor: bulk-loading the rows the first run keeps.
#
#   bash benches/run.sh [COUNT]
#   FUNNEL=/path/to/an/older/funnel bash benches/run.sh [COUNT]
#
# FUNNEL names the binary measured (this tree's release build by default),
# to compare two builds side by side on the same machine.
#
# Needs the sqlite3 command line shell (Debian: apt-get install sqlite3).
# Prints seconds and peak RSS; figures go to the README's performance
# section by hand, with the machine they came from.
set -euo pipefail
cd "$(dirname "$0")/.."
count=${1:-1000000}
command -v sqlite3 >/dev/null || { echo "benches/run.sh needs sqlite3 (apt-get install sqlite3)" >&2; exit 1; }

cargo build --release --quiet --bin funnel --example gen-contacts --example scan-floor --example insert-floor
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
target/release/examples/gen-contacts "$count" > "$work/contacts.csv"
target/release/examples/gen-contacts "$count" --changed 1 > "$work/tick.csv"
# The same rows in random order, as an export keyed by UUIDs or emails
# comes: the run walks it by id (run/tick/order.rs).
{ head -n 1 "$work/contacts.csv"; tail -n +2 "$work/contacts.csv" | shuf --random-source=<(yes); } > "$work/shuffled.csv"

# Wall seconds and peak RSS of a command, from the kernel's own accounting.
# Each starts with the disk caught up (`sync`, not timed): run while the
# kernel still wrote back the first runs' gigabytes, the "all it stores"
# floor took a fifth longer (10.3 s against 8.4 s).
measure() {
    python3 - "$@" <<'PY'
import os, resource, subprocess, sys, time
os.sync()
start = time.monotonic()
done = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
seconds = time.monotonic() - start
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
peak = usage.ru_maxrss / 1024
cpu = usage.ru_utime + usage.ru_stime
if done.returncode != 0:
    sys.exit(f"failed ({done.returncode}): {done.stderr}")
summary = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else ""
print(f"{seconds:8.2f} s {cpu:7.2f} s CPU {peak:6.0f} MB   {summary[:110]}")
PY
}

funnel=${FUNNEL:-target/release/funnel}
run() {
    "$funnel" run benches/funnels --contacts "$1" --now "$2" \
        --state "${3:-$work/state.db}" --outbox "${4:-$work/outbox.jsonl}"
}

echo "contacts: $count ($(du -h "$work/contacts.csv" | cut -f1) of CSV), $(nproc) cores"
printf 'sqlite3 .import      '; measure sqlite3 "$work/import.db" ".import --csv $work/contacts.csv c"
printf 'funnel run, first    '; measure bash -c "$(declare -f run); funnel=$funnel; work=$work; run $work/contacts.csv 2026-06-01T09:00:00Z"
printf 'first, random order  '; measure bash -c "$(declare -f run); funnel=$funnel; work=$work; run $work/shuffled.csv 2026-06-01T09:00:00Z $work/shuffled.db $work/shuffled.jsonl"
rm -f "$work"/shuffled.*
# The floor under any first run: storing what it keeps. The rows the first
# run left (journeys, history, outbox; already computed, rendered and
# delivered) are bulk-loaded by the sqlite3 shell into an empty state in one
# transaction: with the state's indexes, and with only the keys exactly-once
# needs (the journey's and the idempotency key). The last floor loads every
# table the run wrote (the sightings that keep journeys time-correct and the
# report's counters too) and copies the delivered outbox file: what a first
# run must store, computed for free. Each floor's files go before the
# next: left in place, they made the later floors half as long again
# ("all it stores" 8.4 s against 5.5 s) on this machine's disk.
floor() {
    sqlite3 "$work/state.db" .schema | grep -v '^CREATE TABLE sqlite_' | sqlite3 "$1"
    if [ "$2" = keys ]; then
        sqlite3 "$1" "DROP INDEX journeys_stage; DROP INDEX history_contact; DROP INDEX outbox_contact; DROP INDEX outbox_pending;"
    fi
    tables="journeys history outbox"
    if [ "$2" = everything ]; then
        tables=$(sqlite3 "$work/state.db" "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
        cp "$work/outbox.jsonl" "$1.outbox"
    fi
    {
        echo "PRAGMA journal_mode = WAL; ATTACH '$work/state.db' AS first; BEGIN;"
        for table in $tables; do echo "INSERT INTO main.$table SELECT * FROM first.$table ${3:-};"; done
        echo "COMMIT;"
    } | sqlite3 "$1" >/dev/null
}
printf 'floor, state indexes '; measure bash -c "$(declare -f floor); work=$work; floor $work/floor.db all"
rm -f "$work"/floor*
printf 'floor, keys only     '; measure bash -c "$(declare -f floor); work=$work; floor $work/floor-keys.db keys"
rm -f "$work"/floor*
printf 'floor, all it stores '; measure bash -c "$(declare -f floor); work=$work; floor $work/floor-all.db everything"
rm -f "$work"/floor*
# Those loads copy records SQLite had already encoded, in key order (its
# transfer optimization for INSERT INTO t SELECT * FROM u). A run makes new
# rows: the same loads with the copy turned off (any WHERE clause does)
# show what encoding and inserting them costs, and insert-floor what it
# costs through one statement per row, as a run's writer issues them.
printf 'floor, keys, inserted'; measure bash -c "$(declare -f floor); work=$work; floor $work/floor-keys-in.db keys 'WHERE true'"
rm -f "$work"/floor*
printf 'floor, all, inserted '; measure bash -c "$(declare -f floor); work=$work; floor $work/floor-all-in.db everything 'WHERE true'"
rm -f "$work"/floor*
printf 'floor, row by row    '; measure target/release/examples/insert-floor "$work/state.db" "$work/floor-rows.db"
rm -f "$work"/floor*
# The floor under a tick: reading the feed with borrowed records and looking
# up every journey by its key; the tick's own work is compared against it.
printf 'floor, scan          '; measure target/release/examples/scan-floor "$work/tick.csv" "$work/state.db" onboarding
printf 'funnel run, 1%% tick '; measure bash -c "$(declare -f run); funnel=$funnel; work=$work; run $work/tick.csv 2026-06-01T09:05:00Z"
printf 'funnel run, no change'; measure bash -c "$(declare -f run); funnel=$funnel; work=$work; run $work/tick.csv 2026-06-01T09:06:00Z"
printf 'floor, read the feed '; measure target/release/examples/scan-floor "$work/tick.csv" - onboarding
printf 'funnel status        '; measure "$funnel" status --state "$work/state.db"
bytes=$(stat -c %s "$work/state.db")
echo "state: $(du -h "$work/state.db" | cut -f1), $((bytes / count)) bytes per contact; outbox: $(wc -l < "$work/outbox.jsonl") lines"
