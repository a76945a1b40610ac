#!/usr/bin/env bash
# What the flight recorder costs (issue 30): loopback round trips of small messages
# and a bulk transfer, with the recorder armed and not, in alternating rounds (the
# median of each), and the kernel memory of its map. Root; not a test.
#
#   bench/trace-cost.sh [ROUNDS] [ROUND_TRIPS] [BULK_MIB]     defaults: 5 20000 2048
#
# Targets (issue 30): round trips at most 5 % slower, bulk at most 1 % slower.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-5} n=${2:-20000} mib=${3:-2048}
[ "$(id -u)" = 0 ] || { echo "root needed (the recorder is BPF)" >&2; exit 1; }
command -v bpftool >/dev/null || { echo "bpftool needed" >&2; exit 1; }
cargo build -q
bin=target/debug/sockleak
tmp=$(mktemp -d)
export SOCKLEAK_TRACE_DIR=/sys/fs/bpf/sockleak-bench-$$
stats_was=$(cat /proc/sys/kernel/bpf_stats_enabled)
trap '$bin trace stop >/dev/null 2>&1 || true; echo "$stats_was" >/proc/sys/kernel/bpf_stats_enabled; rm -rf "$tmp"' EXIT
# Wall clock with the kernel's program statistics off (they cost two clock reads
# per run); one more armed round with them on gives the recorder's own time per
# run (run_time_ns / run_cnt), immune to the noise of a shared machine.
echo 0 >/proc/sys/kernel/bpf_stats_enabled
cc -O2 -o "$tmp/trace_cost" bench/trace_cost.c

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
for r in $(seq "$rounds"); do
  "$tmp/trace_cost" rr "$n" 64 >>"$tmp/rr.off"
  "$tmp/trace_cost" bulk "$mib" >>"$tmp/bulk.off"
  $bin trace start >/dev/null
  "$tmp/trace_cost" rr "$n" 64 >>"$tmp/rr.on"
  "$tmp/trace_cost" bulk "$mib" >>"$tmp/bulk.on"
  [ "$r" = 1 ] && memlock=$(bpftool map show name SOCKLEAK_RECORD | grep -o 'memlock [0-9]*B' | head -1)
  [ "$r" = 1 ] && entries=$(bpftool map show name SOCKLEAK_RECORD | grep -o 'max_entries [0-9]*' | head -1)
  $bin trace stop >/dev/null
done
$bin trace start >/dev/null
echo 1 >/proc/sys/kernel/bpf_stats_enabled
"$tmp/trace_cost" rr "$n" 64 >/dev/null
bpftool prog show --json | jq -r '.[] | select(.name | startswith("sockleak_")) | "\(.run_time_ns // 0) \(.run_cnt // 0)"' >"$tmp/rr.stats"
bulk_t=$("$tmp/trace_cost" bulk "$mib")
bpftool prog show --json | jq -r '.[] | select(.name | startswith("sockleak_")) | "\(.run_time_ns // 0) \(.run_cnt // 0)"' >"$tmp/all.stats"
echo 0 >/proc/sys/kernel/bpf_stats_enabled
$bin trace stop >/dev/null
rr_off=$(median <"$tmp/rr.off") rr_on=$(median <"$tmp/rr.on")
bulk_off=$(median <"$tmp/bulk.off") bulk_on=$(median <"$tmp/bulk.on")
echo "rounds $rounds; round trips of 64 B each way: $n per round; bulk: $mib MiB per round"
echo "round trip  off ${rr_off} us  armed ${rr_on} us  ($(awk -v a="$rr_off" -v b="$rr_on" 'BEGIN{printf "%+.1f", (b/a-1)*100}') %; target <= +5 %)"
echo "bulk        off ${bulk_off} MiB/s  armed ${bulk_on} MiB/s  ($(awk -v a="$bulk_off" -v b="$bulk_on" 'BEGIN{printf "%+.1f", (b/a-1)*100}') % throughput; target >= -1 %)"
per_run=$(awk '{t+=$1; c+=$2} END {if (c) printf "%.0f", t/c; else print "?"}' "$tmp/rr.stats")
runs=$(awk -v n="$n" '{c+=$2} END {printf "%.1f", c/n}' "$tmp/rr.stats")
echo "recorder: ${per_run} ns per program run (kernel bpf_stats, during the armed round trips), ${runs} runs per round trip: $(awk -v a="$per_run" -v b="$runs" 'BEGIN{printf "%.2f", a*b/1000}') us of each round trip"
bulk_ns=$(paste "$tmp/all.stats" "$tmp/rr.stats" | awk '{t+=$1-$3; c+=$2-$4} END {printf "%.0f %.0f", t, c}')
set -- $bulk_ns
echo "bulk: the recorder ran $2 times for $mib MiB ($(awk -v t="$1" -v c="$2" 'BEGIN{printf "%.0f", c ? t/c : 0}') ns each): $(awk -v t="$1" -v m="$mib" -v r="$bulk_t" 'BEGIN{printf "%.3f", t/1e9 / (m/r) * 100}') % of the transfer's time at ${bulk_t} MiB/s"
echo "map: $entries, $memlock (bpftool's memlock: what the kernel charged for it)"
echo "raw: rr off $(tr '\n' ' ' <"$tmp/rr.off")| on $(tr '\n' ' ' <"$tmp/rr.on")| bulk off $(tr '\n' ' ' <"$tmp/bulk.off")| on $(tr '\n' ' ' <"$tmp/bulk.on")"
