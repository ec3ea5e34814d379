#!/usr/bin/env bash
# A state to try `funnel report` on: the shipped quote follow-up funnel run
# once a day for three simulated weeks (2026-05-04 to 05-22) over 48 leads
# with known outcomes, the same story as tests/report.rs told four times:
# of every 12 leads, 8 get a quote, 1 unsubscribes, 3 are given up; of the
# 8 quoted, 2 book a meeting, 1 refuses, 1 replies, 4 stay silent and get a
# call (1 reached, 3 unreachable); and so on.
#
#   examples/report-demo.sh [DIR]      # default: a new temporary directory
#   funnel report --state DIR/state.db
#
# Run from the repository root; FUNNEL overrides the binary (default: the
# debug build, built if needed).
set -euo pipefail
dir=${1:-$(mktemp -d)}
mkdir -p "$dir"
if [ -z "${FUNNEL:-}" ]; then
  cargo build --quiet
  FUNNEL="${CARGO_TARGET_DIR:-target}/debug/funnel"
fi

# role 1-12 of lead n, as in tests/report.rs
role() { echo $(( ($1 - 1) % 12 + 1 )); }

events() { # the events that have happened by $1
  for n in $(seq 1 48); do
    id=$(printf 'l%03d' "$n"); r=$(role "$n")
    {
      [ "$r" -le 4 ] && echo "$id task.done 2026-05-04T15:00:00Z {\"step\":\"prepare-quote\"}"
      [ "$r" -eq 5 ] && echo "$id task.done 2026-05-06T09:00:00Z {\"step\":\"prepare-quote\"}"
      [ "$r" -le 2 ] && echo "$id meeting.booked 2026-05-06T12:00:00Z {}"
      [ "$r" -eq 3 ] && echo "$id quote.refused 2026-05-06T12:00:00Z {}"
      [ "$r" -eq 1 ] && echo "$id order.placed 2026-05-08T12:00:00Z {}"
      [ "$r" -eq 6 ] && echo "$id sms.replied 2026-05-12T12:00:00Z {}"
      [ "$r" -eq 7 ] && echo "$id meeting.booked 2026-05-12T12:00:00Z {}"
      true
    } | while read -r c e at data; do
      [[ "$at" < "$1" || "$at" == "$1" ]] &&
        echo "{\"contact\":\"$c\",\"event\":\"$e\",\"at\":\"$at\",\"data\":$data}"
      true
    done
  done
}

for d in $(seq 4 22); do
  day=$(printf '2026-05-%02d' "$d"); now="${day}T10:00:00Z"
  {
    echo "id,email,phone,first_name,owner,quote_requested_at,quote_sent_at,replied,reached,unsubscribed"
    for n in $(seq 1 48); do
      id=$(printf 'l%03d' "$n"); r=$(role "$n")
      sent=""; [ "$d" -ge 5 ] && [ "$r" -le 8 ] && sent="2026-05-05 09:00"
      replied=no; [ "$d" -ge 6 ] && [ "$r" -eq 4 ] && replied=yes
      reached=no; [ "$d" -ge 9 ] && [ "$r" -eq 5 ] && reached=yes
      unsub=no; [ "$d" -ge 5 ] && [ "$r" -eq 9 ] && unsub=yes
      echo "$id,$id@example.com,+36 1 234 5678,Lead $id,assistant,2026-05-04 08:00,$sent,$replied,$reached,$unsub"
    done
  } > "$dir/contacts.csv"
  events "$now" > "$dir/events.jsonl"
  "$FUNNEL" run funnels/quote-follow-up.yaml --contacts "$dir/contacts.csv" --events "$dir/events.jsonl" \
    --state "$dir/state.db" --outbox "$dir/outbox.jsonl" --now "$now" 2>/dev/null
done
echo "state: $dir/state.db" >&2
