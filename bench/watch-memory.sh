#!/usr/bin/env bash
# Long-run memory check for --watch: 5,000 samples while a churn process makes
# groups, processes and sockets appear and vanish continuously. Prints sockleak's
# RSS every 500 samples; it must stay flat (history is kept only for what exists,
# and only for the --window).
#   bench/watch-memory.sh [SAMPLES] [INTERVAL]
set -euo pipefail
cd "$(dirname "$0")/.."
samples=${1:-5000}
interval=${2:-0.05}
cargo build --release -q
bin=./target/release/sockleak

# The churn generator exits when its stdin closes: hold it open with a fifo.
fifo=$(mktemp -u); mkfifo "$fifo"
python3 tests/support/peer.py churn 127.0.0.1 < "$fifo" > /dev/null &
churn=$!
exec 3> "$fifo"
out=$(mktemp)
cleanup() { exec 3>&-; kill "$churn" 2>/dev/null || true; rm -f "$fifo" "$out"; }
trap cleanup EXIT

"$bin" --watch "$interval" --count "$samples" --window 10 --all --json > "$out" 2>/dev/null &
pid=$!
echo "| samples | RSS (KiB) | groups in last sample |"
echo "|---:|---:|---:|"
last=0
while kill -0 "$pid" 2>/dev/null; do
  n=$(wc -l < "$out")
  if [ "$n" -ge $((last + 500)) ] || [ "$last" -eq 0 -a "$n" -ge 50 ]; then
    rss=$(awk '/VmRSS/ {print $2}' /proc/$pid/status 2>/dev/null || echo -)
    groups=$(tail -n 1 "$out" | jq '.groups | length' 2>/dev/null || echo -)
    echo "| $n | $rss | $groups |"
    last=$n
  fi
  sleep 0.5
done
wait "$pid"
echo "completed $(wc -l < "$out") samples"
