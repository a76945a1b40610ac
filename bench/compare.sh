#!/usr/bin/env bash
# Time `sockleak --json` beside ss, netstat, lsof and the C floor on the same
# loopback load, check that sockleak's counts are exact, and print a markdown table.
#
#   bench/compare.sh [--sizes "1000 10000 50000 100000"] [--rounds 5]
#                    [--idle "0 1"] [--no-watch] [--out FILE]
#
# For each table size N and each idle variant (0: none, 1: 200 processes x 200 plain
# fds) it starts bench/loadgen (N sockets in the kernel table), verifies with
# `ss -tan` that the table holds what was planned, checks sockleak's counts against
# `ss -tan` and that every planned socket is attributed to its process, then runs
# hyperfine ROUNDS times over all commands (one run each per round, so the commands
# are interleaved) and takes the median per command. Peak RSS is measured once per
# command with /usr/bin/time -v. Finally --watch CPU is measured at 10k sockets.
#
# Run as root (ss -p, netstat -p and lsof only see every process as root).
# Changes nothing on the host but RLIMIT_NOFILE of its own processes; every load
# process is stopped by pid on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

SIZES="1000 10000 50000 100000"
ROUNDS=5
IDLE="0 1"
WATCH=1
OUT=""
while [ $# -gt 0 ]; do
  case "$1" in
    --sizes) SIZES=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --idle) IDLE=$2; shift 2 ;;
    --no-watch) WATCH=0; shift ;;
    --out) OUT=$2; shift 2 ;;
    *) echo "usage: $0 [--sizes \"N ...\"] [--rounds R] [--idle \"0 1\"] [--no-watch] [--out FILE]" >&2; exit 2 ;;
  esac
done

log() { echo "[$(date -u +%H:%M:%S)] $*" >&2; }
die() { echo "compare.sh: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root: ss -p, netstat -p and lsof only see other processes' fds as root"
need=()
command -v hyperfine >/dev/null || need+=(hyperfine)
command -v lsof >/dev/null || need+=(lsof)
command -v netstat >/dev/null || need+=(net-tools)
command -v ss >/dev/null || need+=(iproute2)
command -v jq >/dev/null || need+=(jq)
command -v gcc >/dev/null || need+=(gcc)
[ -x /usr/bin/time ] || need+=(time)
if [ ${#need[@]} -gt 0 ]; then
  log "installing ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

ulimit -n "$(ulimit -Hn)"
WORK=$(mktemp -d /tmp/sockleak-bench.XXXXXX)
LOADGEN_PID=""
stop_load() {
  if [ -n "$LOADGEN_PID" ]; then
    kill -TERM "$LOADGEN_PID" 2>/dev/null || true
    wait "$LOADGEN_PID" 2>/dev/null || true
    LOADGEN_PID=""
  fi
}
cleanup() { stop_load; rm -rf "$WORK"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

log "building (release) and compiling bench/loadgen.c, bench/floor.c with gcc -O2"
cargo build --release --quiet
gcc -O2 -Wall -o "$WORK/loadgen" bench/loadgen.c
gcc -O2 -Wall -o "$WORK/floor" bench/floor.c
SOCKLEAK=$ROOT/target/release/sockleak

# State counts of the whole table, from ss, as "STATE N" lines (ss spelling).
ss_states() { ss -tanH "$@" | awk '{c[$1]++} END {for (k in c) print k, c[k]}' | sort; }

# sockleak's totals.states in the same spelling as ss.
sockleak_states() {
  jq -r '.totals.states | to_entries[] | select(.value > 0) | "\(.key) \(.value)"' "$1" |
    sed -e 's/^established /ESTAB /' -e 's/^close_wait /CLOSE-WAIT /' -e 's/^fin_wait2 /FIN-WAIT-2 /' \
        -e 's/^fin_wait1 /FIN-WAIT-1 /' -e 's/^time_wait /TIME-WAIT /' -e 's/^syn_sent /SYN-SENT /' \
        -e 's/^syn_recv /SYN-RECV /' -e 's/^last_ack /LAST-ACK /' -e 's/^listen /LISTEN /' \
        -e 's/^closing /CLOSING /' -e 's/^close /UNCONN /' | sort
}

start_load() { # sockets idle_variant
  local n=$1 idle=$2 args=(--sockets "$1" --ready "$WORK/ready")
  [ "$idle" = 1 ] && args+=(--idle-procs 200 --idle-fds 200)
  rm -f "$WORK/ready"
  local t0=$EPOCHREALTIME
  "$WORK/loadgen" "${args[@]}" &
  LOADGEN_PID=$!
  for _ in $(seq 1 1200); do
    [ -f "$WORK/ready" ] && break
    kill -0 "$LOADGEN_PID" 2>/dev/null || die "loadgen failed"
    sleep 0.1
  done
  [ -f "$WORK/ready" ] || die "loadgen not ready after 120 s"
  log "load of $n sockets (idle=$idle) built in $(echo "$EPOCHREALTIME - $t0" | bc) s"
  local kv
  for kv in $(sed 's/ pids=.*//' "$WORK/ready"); do declare -g "$kv"; done
  PIDS=$(sed -n 's/.* pids=//p' "$WORK/ready")
  # shellcheck disable=SC2154
  local filt="( sport >= :$port_lo and sport <= :$port_hi ) or ( dport >= :$port_lo and dport <= :$port_hi )"
  local want got
  want=$(printf 'CLOSE-WAIT %s\nESTAB %s\nFIN-WAIT-2 %s\nLISTEN %s\n' "$close_wait" "$established" "$fin_wait2" "$listen" | sort)
  got=$(ss_states "$filt")
  [ "$got" = "$want" ] || die "the table does not hold the planned load: want
$want
got
$got"
}

# Counts must be exact. (1) The load's own sockets (ports port_lo..port_hi at one
# end), which nothing else touches: sockleak's per-state counts must equal ss -tan's
# on every try. (2) The whole table: sockleak's totals.states must equal ss -tan's;
# other processes on the host may open and close sockets meanwhile, so this is
# retried until ss reads the same table before and after sockleak. If the table never
# holds still, the whole-table check is reported as not done (never as passed).
# (3) Every load socket is attributed to its own process.
WHOLE_TABLE_CHECKS=0
WHOLE_TABLE_SKIPPED=0
check_counts() {
  local filt="( sport >= :$port_lo and sport <= :$port_hi ) or ( dport >= :$port_lo and dport <= :$port_hi )"
  "$SOCKLEAK" --json --state all --by state,local-port,remote-port > "$WORK/ports.json"
  local mine_load ss_load
  mine_load=$(jq -r --argjson lo "$port_lo" --argjson hi "$port_hi" '
      [.groups[] | select((.local_port >= $lo and .local_port <= $hi) or (.remote_port >= $lo and .remote_port <= $hi))
       | .states | to_entries[]] | group_by(.key) | map("\(.[0].key) \(map(.value) | add)")[]' "$WORK/ports.json" |
    sed -e 's/^established /ESTAB /' -e 's/^close_wait /CLOSE-WAIT /' -e 's/^fin_wait2 /FIN-WAIT-2 /' -e 's/^listen /LISTEN /' | sort)
  ss_load=$(ss_states "$filt")
  [ "$mine_load" = "$ss_load" ] || die "sockleak's counts of the load's sockets differ from ss -tan:
sockleak:
$mine_load
ss -tan:
$ss_load"

  local tries=0 before after mine
  while :; do
    before=$(ss_states)
    "$SOCKLEAK" --json --state all > "$WORK/s.json"
    after=$(ss_states)
    mine=$(sockleak_states "$WORK/s.json")
    if [ "$before" = "$after" ]; then
      [ "$mine" = "$before" ] || die "sockleak's state counts differ from ss -tan on a quiet table:
sockleak:
$mine
ss -tan:
$before"
      WHOLE_TABLE_CHECKS=$((WHOLE_TABLE_CHECKS + 1))
      break
    fi
    tries=$((tries + 1))
    if [ $tries -ge 50 ]; then
      log "warning: the whole table changed under each of 50 checks (other processes' churn); whole-table check not done at this size"
      WHOLE_TABLE_SKIPPED=$((WHOLE_TABLE_SKIPPED + 1))
      break
    fi
    sleep 0.2
  done
  local attributed
  attributed=$(jq --arg pids "$PIDS" '($pids | split(" ") | map(tonumber)) as $p
      | [.groups[] | select(.pid as $x | $p | index($x)) | .total] | add // 0' "$WORK/s.json")
  [ "$attributed" = "$planned" ] || die "sockleak attributed $attributed of the $planned load sockets to their processes"
  TABLE=$(jq '.totals.sockets' "$WORK/s.json")
}

CMDS=(floor sockleak "ss -tan" "ss -tanp" "netstat -antp" "lsof -nP -iTCP")
cmdline() {
  case "$1" in
    floor) echo "$WORK/floor" ;;
    sockleak) echo "$SOCKLEAK --json" ;;
    *) echo "$1" ;;
  esac
}

# Median of the numbers on stdin.
median() { sort -g | awk '{a[NR]=$1} END {if (NR % 2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

measure() { # sockets idle -> appends one row to $WORK/rows
  local n=$1 idle=$2
  start_load "$n" "$idle"
  check_counts
  local fds
  fds=$("$WORK/floor" | sed 's/.*fds=//')
  local runs=1
  [ "$n" -le 10000 ] && runs=5
  local hargs=(-N --style none --runs "$runs")
  for c in "${CMDS[@]}"; do hargs+=(-n "$c" "$(cmdline "$c")"); done
  log "timing $n sockets (table $TABLE, $fds fds), $ROUNDS rounds x $runs runs"
  for r in $(seq 1 "$ROUNDS"); do
    hyperfine "${hargs[@]}" --export-json "$WORK/h.$r.json" >/dev/null 2>&1
  done
  declare -A med rss
  for c in "${CMDS[@]}"; do
    med[$c]=$(for r in $(seq 1 "$ROUNDS"); do
      jq -r --arg c "$c" '.results[] | select(.command == $c) | .times[]' "$WORK/h.$r.json"
    done | median)
    # shellcheck disable=SC2046
    /usr/bin/time -v -o "$WORK/rss" $(cmdline "$c") >/dev/null 2>&1
    rss[$c]=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$WORK/rss")
  done
  local s=${med[sockleak]}
  printf '| %s | %s | %s | %.3f | %.3f (%.2f×) | %.3f (%.1f×) | %.3f (%.1f×) | %.3f (%.1f×) | %.3f | %.1f | %.1f | %.2f |\n' \
    "$TABLE" "$([ "$idle" = 1 ] && echo "200×200" || echo "-")" "$fds" "$s" \
    "${med[floor]}" "$(echo "$s / ${med[floor]}" | bc -l)" \
    "${med[ss -tanp]}" "$(echo "${med[ss -tanp]} / $s" | bc -l)" \
    "${med[netstat -antp]}" "$(echo "${med[netstat -antp]} / $s" | bc -l)" \
    "${med[lsof -nP -iTCP]}" "$(echo "${med[lsof -nP -iTCP]} / $s" | bc -l)" \
    "${med[ss -tan]}" \
    "$(echo "${rss[sockleak]} / 1024" | bc -l)" "$(echo "${rss[lsof -nP -iTCP]} / 1024" | bc -l)" \
    "$(echo "$s * 1000000 / ($TABLE + $fds)" | bc -l)" >> "$WORK/rows"
  tail -1 "$WORK/rows" >&2
  stop_load
}

: > "$WORK/rows"
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
for n in $SIZES; do
  for idle in $IDLE; do
    measure "$n" "$idle"
  done
done

WATCH_LINE=""
if [ "$WATCH" = 1 ]; then
  # The larger loads' teardown leaves up to 50k TIME_WAIT sockets for 60 s; every
  # dump walks them too, so measuring now would be measuring a 60k table. Wait
  # for them to expire first.
  for _ in $(seq 1 40); do
    [ "$(ss -tanH state time-wait | wc -l)" -le 100 ] && break
    sleep 2
  done
  start_load 10000 0
  WATCH_TABLE=$(ss -tanH | wc -l)
  log "measuring --watch 2 --count 15 CPU at 10k sockets (table $WATCH_TABLE)"
  t0=$EPOCHREALTIME
  /usr/bin/time -f '%U %S' -o "$WORK/wt" "$SOCKLEAK" --watch 2 --count 15 >/dev/null 2>&1 ||
    die "sockleak --watch 2 --count 15 failed"
  wall=$(echo "$EPOCHREALTIME - $t0" | bc -l)
  read -r u sys < "$WORK/wt"
  # The long-run average is the CPU of one sample over one interval. CPU over wall
  # time overstates it: 15 samples fit in 14 intervals (the first is taken at once).
  WATCH_LINE=$(printf -- '`--watch 2 --count 15` at 10k sockets (%s in the table): %.2f s user + %.2f s system for 15 samples = %.1f ms of CPU per sample = **%.2f%% of one core** at a 2 s interval (%.2f%% over the %.1f s wall, which holds 15 samples in 14 intervals).' \
    "$WATCH_TABLE" "$u" "$sys" "$(echo "($u + $sys) * 1000 / 15" | bc -l)" \
    "$(echo "($u + $sys) * 100 / 15 / 2" | bc -l)" \
    "$(echo "($u + $sys) * 100 / $wall" | bc -l)" "$wall")
  stop_load
fi
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

{
  echo "Median wall seconds ($ROUNDS interleaved hyperfine rounds; 5 runs per round up to 10k sockets, 1 above)."
  echo "Ratios: sockleak / floor, and each tool / sockleak. Load average $LOAD_START at start, $LOAD_END at end."
  echo
  echo "| sockets in table | idle procs × fds | fds on host | sockleak --json | C floor | ss -tanp | netstat -antp | lsof -nP -iTCP | ss -tan | sockleak RSS MiB | lsof RSS MiB | sockleak µs per socket+fd |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
  cat "$WORK/rows"
  echo
  [ -n "$WATCH_LINE" ] && echo "$WATCH_LINE"
  echo
  echo "Counts checked at every size: sockleak's per-state counts of the load's sockets == ss -tan's, and every load socket attributed to its own process."
  echo "Whole table (sockleak totals.states == ss -tan, on a table that held still between two ss reads): checked at $WHOLE_TABLE_CHECKS of $((WHOLE_TABLE_CHECKS + WHOLE_TABLE_SKIPPED)) loads, not done at $WHOLE_TABLE_SKIPPED (the table never held still)."
} | tee "${OUT:-/dev/null}"
