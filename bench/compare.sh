#!/usr/bin/env bash
# Time `sockleak --json` beside ss, netstat, lsof and the C floor on the same
# loopback load, check that sockleak's counts are exact, and print a markdown table.
#
#   bench/compare.sh [--sizes "1000 10000 100000 1000000"] [--rounds 5]
#                    [--big-rounds 3] [--cap 300] [--slow 30]
#                    [--idle "0 1"] [--watch-sizes "10000 100000"] [--no-watch]
#                    [--only watch-leak] [--leak-size 100000] [--leak-samples 30]
#                    [--leak-rounds 3] [--leak-close-every 0] [--leak-cases "a b c"]
#                    [--leak-idle 1] [--port-base 21000] [--out FILE]
#
# For each table size N and each idle variant (0: none, 1: 200 processes x 200 plain
# fds) it starts bench/loadgen (N sockets in the kernel table), verifies with
# `ss -tan` that the table holds what was planned, checks sockleak's counts against
# `ss -tan` and that every planned socket is attributed to its process, and checks
# the focused query `sockleak --json --pid P` (P: the load process holding the most
# fds) against the full snapshot. Then every command is run once under `timeout`
# (its peak RSS, and a warm-up); a command whose run took over --cap seconds is
# stopped, and not run again at that size or a larger one: its cell says so. One
# over --slow seconds is not run again at that load: its cell shows that one run. The rest are timed with hyperfine ROUNDS times (one
# run each per round, so the commands are interleaved; --big-rounds rounds above
# 100k sockets) and the median per command is taken. Finally --watch CPU per sample
# is measured at each --watch-sizes size, beside the CPU of one full snapshot.
#
# Then the live-leak watch (issue 21; `--only watch-leak` runs it alone, --no-watch
# skips it): on one load of --leak-size sockets, `sockleak --watch 2 --count
# LEAK_SAMPLES --json` is run (a) on the quiet load and (b) while bench/leaky_pool.py
# runs beside it (a urllib3 pool against a loopback HTTP server that reuses its
# connections and leaks one every second; --leak-close-every K also has the server
# close one pooled connection every K seconds, a swap at a constant fd count), and
# (c) while tests/support/closing_server.py runs beside it (issue 27: a web host in
# miniature, a server that hangs up idle keep-alive connections after 1 s and each
# 403 connection 1 s after answering, and a urllib3 pool leaking its 403 responses;
# its client's group must grow), --leak-rounds times back to back (a b c, c b a,
# ...; --leak-cases picks which, a always). With --leak-idle 1 (the default) the
# load also holds 200 idle processes of 200 fds (all root, as on a web host: a
# sample that re-reads root's fd tables costs a full scan). CPU per sample is the
# watch's user + system time (/usr/bin/time) over its samples, and over samples 2-N
# with the first one's own `scan.cpu_ms` taken off (the first sample is always a full
# scan); each NDJSON line's `scan` object gives the share of samples of each kind
# (full, incremental, uid-reread; samples 2-N) and their mean `scan.cpu_ms`, and the
# triggers of the samples that were not incremental (`scan.trigger`'s state).
# Targets: (b) and (c) <= 1.2x (a) per sample (samples 2-N), >= 90 % of their
# samples incremental (kind `incremental`: a uid-reread counts against it).
#
# Run as root (ss -p, netstat -p and lsof only see every process as root).
# Changes nothing on the host but RLIMIT_NOFILE of its own processes; every load
# process is stopped by pid on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

SIZES="1000 10000 100000 1000000"
ROUNDS=5
BIG=100000
BIG_ROUNDS=3
CAP=300
SLOW=30
IDLE="0 1"
WATCH=1
WATCH_SIZES="10000 100000"
OUT=""
ONLY=""
LEAK_SIZE=100000
LEAK_SAMPLES=30
LEAK_ROUNDS=3
LEAK_CLOSE_EVERY=0
LEAK_CASES="a b c"
LEAK_IDLE=1
PORT_BASE=21000
usage() {
  echo "usage: $0 [--sizes \"N ...\"] [--rounds R] [--big-rounds R] [--cap SECONDS] [--slow SECONDS]" >&2
  echo "          [--idle \"0 1\"] [--watch-sizes \"N ...\"] [--no-watch] [--out FILE]" >&2
  echo "          [--only watch-leak] [--leak-size N] [--leak-samples N] [--leak-rounds R]" >&2
  echo "          [--leak-close-every K] [--leak-cases \"a b c\"] [--leak-idle 0|1] [--port-base PORT]" >&2
  exit 2
}
while [ $# -gt 0 ]; do
  [ "$1" != --no-watch ] && [ $# -lt 2 ] && usage
  case "$1" in
    --sizes) SIZES=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --big-rounds) BIG_ROUNDS=$2; shift 2 ;;
    --cap) CAP=$2; shift 2 ;;
    --slow) SLOW=$2; shift 2 ;;
    --idle) IDLE=$2; shift 2 ;;
    --watch-sizes) WATCH_SIZES=$2; shift 2 ;;
    --no-watch) WATCH=0; shift ;;
    --out) OUT=$2; shift 2 ;;
    --only) ONLY=$2; shift 2 ;;
    --leak-size) LEAK_SIZE=$2; shift 2 ;;
    --leak-samples) LEAK_SAMPLES=$2; shift 2 ;;
    --leak-rounds) LEAK_ROUNDS=$2; shift 2 ;;
    --leak-close-every) LEAK_CLOSE_EVERY=$2; shift 2 ;;
    --leak-cases) LEAK_CASES=$2; shift 2 ;;
    --leak-idle) LEAK_IDLE=$2; shift 2 ;;
    --port-base) PORT_BASE=$2; shift 2 ;;
    *) usage ;;
  esac
done
for v in $SIZES $WATCH_SIZES "$ROUNDS" "$BIG_ROUNDS" "$CAP" "$SLOW" "$LEAK_SIZE" "$LEAK_ROUNDS" "$PORT_BASE"; do
  [[ $v =~ ^[1-9][0-9]*$ ]] || { echo "compare.sh: '$v' is not a positive whole number" >&2; usage; }
done
[[ $LEAK_SAMPLES =~ ^[1-9][0-9]*$ ]] && [ "$LEAK_SAMPLES" -ge 3 ] && [ "$LEAK_SAMPLES" -le 300 ] ||
  { echo "compare.sh: --leak-samples takes 3 to 300, not '$LEAK_SAMPLES'" >&2; usage; }
[[ $LEAK_CLOSE_EVERY =~ ^[0-9]+$ ]] || { echo "compare.sh: --leak-close-every takes a whole number (0: never)" >&2; usage; }
case "$ONLY" in "" | watch-leak) ;; *) echo "compare.sh: --only takes watch-leak, not '$ONLY'" >&2; usage ;; esac
for v in $LEAK_CASES; do [[ $v =~ ^[abc]$ ]] || { echo "compare.sh: --leak-cases takes a, b and/or c, not '$v'" >&2; usage; }; done
LEAK_CASES=$(printf 'a %s' "$(tr -s ' ' '\n' <<< "$LEAK_CASES" | grep -v '^a$' | sort -u | tr '\n' ' ')" | sed 's/ *$//')
[[ $LEAK_IDLE =~ ^[01]$ ]] || { echo "compare.sh: --leak-idle takes 0 or 1, not '$LEAK_IDLE'" >&2; usage; }
# Ascending: a command stopped at the cap at one size is skipped at the larger ones.
SIZES=$(tr -s ' ' '\n' <<< "$SIZES" | sort -n | uniq | tr '\n' ' ')
for v in $IDLE; do [[ $v =~ ^[01]$ ]] || { echo "compare.sh: --idle takes 0 and/or 1, not '$v'" >&2; usage; }; done

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
command -v python3 >/dev/null || need+=(python3 python3-pip)
command -v bc >/dev/null || need+=(bc)
[ -x /usr/bin/time ] || need+=(time)
if [ ${#need[@]} -gt 0 ]; then
  log "installing ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

# A shard holds up to 5000 connections: 10002 fds in its process while it builds.
ulimit -n "$(ulimit -Hn)"
[ "$(ulimit -n)" -ge 10100 ] || die "RLIMIT_NOFILE hard limit $(ulimit -Hn) is below the 10100 fds a load shard needs; raise it (ulimit -Hn)"
WORK=$(mktemp -d /tmp/sockleak-bench.XXXXXX)
LOADGEN_PID=""
stop_load() {
  if [ -n "$LOADGEN_PID" ]; then
    kill -TERM "$LOADGEN_PID" 2>/dev/null || true
    wait "$LOADGEN_PID" 2>/dev/null || true
    LOADGEN_PID=""
  fi
}
# The live-leak section's pool (bench/leaky_pool.py, or closing_server.py's server
# and client), stopped by pid.
POOL_PID=""
stop_pool() {
  local p
  # Last started first: the client before its server (else it dies on a refused
  # connection, noisily).
  for p in $(tr ' ' '\n' <<< "$POOL_PID" | tac); do
    kill -TERM "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  POOL_PID=""
}
cleanup() { stop_pool; stop_load; rm -rf "$WORK"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

RUN_START=$EPOCHREALTIME
log "building (release) and compiling bench/loadgen.c, bench/floor.c with gcc -O2"
cargo build --release --quiet
gcc -O2 -Wall -o "$WORK/loadgen" bench/loadgen.c
gcc -O2 -Wall -o "$WORK/floor" bench/floor.c
SOCKLEAK=$ROOT/target/release/sockleak

# State counts of the whole table, from ss, as "STATE N" lines (ss spelling).
ss_states() { ss -tanH "$@" | awk '{c[$1]++} END {for (k in c) print k, c[k]}' | sort; }

# sockleak's state names in ss's spelling, on "state N" lines.
ss_spelling() {
  sed -e 's/^established /ESTAB /' -e 's/^close_wait /CLOSE-WAIT /' -e 's/^fin_wait2 /FIN-WAIT-2 /' \
      -e 's/^fin_wait1 /FIN-WAIT-1 /' -e 's/^time_wait /TIME-WAIT /' -e 's/^syn_sent /SYN-SENT /' \
      -e 's/^syn_recv /SYN-RECV /' -e 's/^last_ack /LAST-ACK /' -e 's/^listen /LISTEN /' \
      -e 's/^closing /CLOSING /' -e 's/^close /UNCONN /' | sort
}

# sockleak's totals.states of a JSON document, in the same spelling as ss.
sockleak_states() {
  jq -r '.totals.states | to_entries[] | select(.value > 0) | "\(.key) \(.value)"' "$1" | ss_spelling
}

BUILD_TIMES=""
start_load() { # sockets idle_variant
  local n=$1 idle=$2 args=(--sockets "$1" --ready "$WORK/ready" --port-base "$PORT_BASE")
  [ "$idle" = 1 ] && args+=(--idle-procs 200 --idle-fds 200)
  rm -f "$WORK/ready"
  local t0=$EPOCHREALTIME
  "$WORK/loadgen" "${args[@]}" &
  LOADGEN_PID=$!
  for _ in $(seq 1 6000); do
    [ -f "$WORK/ready" ] && break
    kill -0 "$LOADGEN_PID" 2>/dev/null || die "loadgen failed (see its message above)"
    sleep 0.1
  done
  [ -f "$WORK/ready" ] || die "loadgen not ready after 600 s"
  local built
  built=$(printf '%.1f' "$(echo "$EPOCHREALTIME - $t0" | bc)")
  log "load of $n sockets (idle=$idle) built in $built s"
  local tag=$n
  [ "$idle" = 1 ] && tag="$n + idle"
  BUILD_TIMES+="${BUILD_TIMES:+, }$tag: $built s"
  # The plan's key=value words become globals: planned, established, close_wait,
  # fin_wait2, listen, port_lo, port_hi (shellcheck cannot see them: SC2154 below).
  local kv
  # shellcheck disable=SC2013
  for kv in $(sed 's/ pids=.*//' "$WORK/ready"); do declare -g "$kv"; done
  PIDS=$(sed -n 's/.* pids=//p' "$WORK/ready")
  # shellcheck disable=SC2154
  local filt="( sport >= :$port_lo and sport <= :$port_hi ) or ( dport >= :$port_lo and dport <= :$port_hi )"
  local want got
  # shellcheck disable=SC2154
  want=$(printf 'CLOSE-WAIT %s\nESTAB %s\nFIN-WAIT-2 %s\nLISTEN %s\n' "$close_wait" "$established" "$fin_wait2" "$listen" | sort)
  got=$(ss_states "$filt")
  [ "$got" = "$want" ] || die "the table does not hold the planned load: want
$want
got
$got"
  # The focused query's pid: the load process holding the most fds (a shard's server).
  local p best=0 nfd
  FOCUS_PID=""
  for p in $PIDS; do
    nfd=$(find "/proc/$p/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
    if [ "$nfd" -gt "$best" ]; then best=$nfd; FOCUS_PID=$p; fi
  done
  [ -n "$FOCUS_PID" ] || die "no load process has an fd"
  FOCUS_FDS=$best
}

# Counts must be exact. (1) The load's own sockets (ports port_lo..port_hi at one
# end), which nothing else touches: sockleak's per-state counts must equal ss -tan's
# on every try. They are read with sockleak's filters (--local-port for the servers'
# ends, --remote :PORT for the clients'), grouped by state only, so the check stays
# cheap at 1M sockets; it relies on no socket having both ends in the range, which
# ss confirms first. (2) The whole table: sockleak's totals.states must equal ss -tan's;
# other processes on the host may open and close sockets meanwhile, so this is
# retried until ss reads the same table before and after sockleak. If the table never
# holds still, the whole-table check is reported as not done (never as passed).
# (3) Every load socket is attributed to its own process. (4) The focused query
# (--pid P) reports the same groups for P as the full snapshot, and the same
# totals.states (on a table that held still around both).
WHOLE_TABLE_CHECKS=0
WHOLE_TABLE_SKIPPED=0
FOCUS_CHECKS=0
FOCUS_SKIPPED=0
check_counts() {
  local filt="( sport >= :$port_lo and sport <= :$port_hi ) or ( dport >= :$port_lo and dport <= :$port_hi )"
  local both
  both=$(ss -tanH "( sport >= :$port_lo and sport <= :$port_hi ) and ( dport >= :$port_lo and dport <= :$port_hi )" | wc -l)
  [ "$both" = 0 ] || die "$both sockets have both ends in the load's port range $port_lo-$port_hi; the load check cannot count them once"
  local ports remotes=() p
  ports=$(seq -s, "$port_lo" "$port_hi")
  for p in $(seq "$port_lo" "$port_hi"); do remotes+=(--remote ":$p"); done
  "$SOCKLEAK" --json --state all --by state --local-port "$ports" > "$WORK/lp.json"
  "$SOCKLEAK" --json --state all --by state "${remotes[@]}" > "$WORK/rp.json"
  local mine_load ss_load
  mine_load=$(jq -s -r '[.[].groups[].states | to_entries[]] | group_by(.key)
      | map("\(.[0].key) \(map(.value) | add)")[]' "$WORK/lp.json" "$WORK/rp.json" | ss_spelling)
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
  # shellcheck disable=SC2154
  [ "$attributed" = "$planned" ] || die "sockleak attributed $attributed of the $planned load sockets to their processes"
  TABLE=$(jq '.totals.sockets' "$WORK/s.json")
  check_focused
}

# The focused query against the full snapshot, with the flags that are timed.
check_focused() {
  # P's groups, idle ages left out (they advance between two reads).
  # shellcheck disable=SC2016
  local of_p='[.groups[] | select(any(.pids[]; . == $p)) | del(.oldest_idle_s, .oldest_close_wait_idle_s)]
      | sort_by(.direction, .local, .remote)'
  local tries=0 before after full focus
  while :; do
    before=$(ss_states)
    "$SOCKLEAK" --json > "$WORK/full.json"
    "$SOCKLEAK" --json --pid "$FOCUS_PID" > "$WORK/focus.json"
    after=$(ss_states)
    if [ "$before" = "$after" ]; then
      full=$(sockleak_states "$WORK/full.json")
      focus=$(sockleak_states "$WORK/focus.json")
      # shellcheck disable=SC2015
      [ "$focus" = "$before" ] && [ "$full" = "$before" ] || die "--pid $FOCUS_PID: totals.states differ on a quiet table:
sockleak --json --pid $FOCUS_PID:
$focus
sockleak --json:
$full
ss -tan:
$before"
      FOCUS_CHECKS=$((FOCUS_CHECKS + 1))
      break
    fi
    tries=$((tries + 1))
    if [ $tries -ge 50 ]; then
      log "warning: the whole table changed under each of 50 focused checks; its totals check not done at this size"
      FOCUS_SKIPPED=$((FOCUS_SKIPPED + 1))
      break
    fi
    sleep 0.2
  done
  # The load's sockets do not change, so P's groups must match on any try.
  full=$(jq -S --argjson p "$FOCUS_PID" "$of_p" "$WORK/full.json")
  focus=$(jq -S --argjson p "$FOCUS_PID" "$of_p" "$WORK/focus.json")
  [ "$full" = "$focus" ] || die "--pid $FOCUS_PID: its groups differ from the full snapshot's:
$(diff <(echo "$full") <(echo "$focus") | head -40)"
  local total
  total=$(jq '[.[].total] | add // 0' <<< "$focus")
  [ "$total" -gt 0 ] || die "--pid $FOCUS_PID: no socket found for the focused pid"
  log "--pid $FOCUS_PID ($FOCUS_FDS fds): $(jq length <<< "$focus") groups, $total sockets, same as the full snapshot"
}

CMDS=(floor sockleak focused "ss -tan" "ss -tanp" "netstat -antp" "lsof -nP -iTCP")
cmdline() {
  case "$1" in
    floor) echo "$WORK/floor" ;;
    sockleak) echo "$SOCKLEAK --json" ;;
    focused) echo "$SOCKLEAK --json --pid $FOCUS_PID" ;;
    *) echo "$1" ;;
  esac
}

# Median of the numbers on stdin.
median() { sort -g | awk '{a[NR]=$1} END {if (NR % 2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

# One run of a command under `timeout $CAP`: sets P_WALL (seconds, empty when it was
# stopped at the cap) and P_RSS (KiB).
probe() {
  local rc=0
  # shellcheck disable=SC2046
  timeout --kill-after=10 "$CAP" /usr/bin/time -f '%e %M' -o "$WORK/probe" $(cmdline "$1") \
    < /dev/null > /dev/null 2> "$WORK/probe.err" || rc=$?
  P_WALL="" P_RSS=""
  case $rc in
    0) read -r P_WALL P_RSS < "$WORK/probe" ;;
    124 | 137) ;;
    *) die "$1 failed (exit $rc): $(tail -3 "$WORK/probe.err")" ;;
  esac
}

isnum() { [[ $1 =~ ^[0-9]+([.][0-9]+)?$ ]]; }
# A wall-time cell: "V" or "V (R×)" with R = A / B to DIGITS decimals, a note kept
# inside the parentheses; a cell that is not a number is printed as it is.
cell() { # value a b digits note
  local v=$1 a=$2 b=$3 d=$4 note=$5
  if ! isnum "$v"; then printf '%s' "$v"; return; fi
  if isnum "$a" && isnum "$b"; then
    printf "%.3f (%.${d}f×%s)" "$v" "$(echo "$a / $b" | bc -l)" "${note:+, $note}"
  else
    printf '%.3f%s' "$v" "${note:+ ($note)}"
  fi
}

declare -A US_PER RSS_MIB CAPPED
measure() { # sockets idle -> appends one row to $WORK/rows
  local n=$1 idle=$2
  start_load "$n" "$idle"
  check_counts
  local fds
  fds=$("$WORK/floor" | sed 's/.*fds=//')
  local runs=1 rounds=$ROUNDS
  [ "$n" -le 10000 ] && runs=5
  [ "$n" -gt "$BIG" ] && [ "$BIG_ROUNDS" -lt "$rounds" ] && rounds=$BIG_ROUNDS
  declare -A med rss note
  local timed=() c
  for c in "${CMDS[@]}"; do
    if [ -n "${CAPPED[$c]:-}" ]; then
      med[$c]="not run (a run at ${CAPPED[$c]} sockets took > $CAP s)"
      rss[$c]=""
      log "$c: not run (stopped at $CAP s at ${CAPPED[$c]} sockets)"
      continue
    fi
    probe "$c"
    rss[$c]=$P_RSS
    if [ -z "$P_WALL" ]; then
      med[$c]="not run (one run > $CAP s, stopped)"
      CAPPED[$c]=$TABLE
      log "$c: stopped after $CAP s; not timed"
    elif [ "$(echo "$P_WALL > $SLOW" | bc)" = 1 ]; then
      med[$c]=$P_WALL
      note[$c]="1 run"
      log "$c: one run took $P_WALL s (> $SLOW s); that run is its figure"
    else
      timed+=("$c")
    fi
  done
  local hargs=(-N --style none --runs "$runs")
  for c in "${timed[@]}"; do hargs+=(-n "$c" "$(cmdline "$c")"); done
  log "timing $n sockets (table $TABLE, $fds fds): ${#timed[@]} commands, $rounds rounds x $runs runs"
  local r
  for r in $(seq 1 "$rounds"); do
    hyperfine "${hargs[@]}" --export-json "$WORK/h.$r.json" >/dev/null 2>&1 ||
      die "hyperfine failed in round $r (a command exited non-zero?)"
  done
  for c in "${timed[@]}"; do
    med[$c]=$(for r in $(seq 1 "$rounds"); do
      jq -r --arg c "$c" '.results[] | select(.command == $c) | .times[]' "$WORK/h.$r.json"
    done | median)
  done
  local s=${med[sockleak]}
  isnum "$s" || die "sockleak --json was not timed (${med[sockleak]})"
  local key=$n.$idle
  US_PER[$key]=$(echo "$s * 1000000 / ($TABLE + $fds)" | bc -l)
  RSS_MIB[$key]=$(echo "${rss[sockleak]} / 1024" | bc -l)
  local lsof_rss="-"
  isnum "${rss[lsof -nP -iTCP]}" && lsof_rss=$(printf '%.1f' "$(echo "${rss[lsof -nP -iTCP]} / 1024" | bc -l)")
  {
    printf '| %s | %s | %s | %.3f | ' "$TABLE" "$([ "$idle" = 1 ] && echo "200×200" || echo "-")" "$fds" "$s"
    printf '%s | ' "$(cell "${med[focused]}" "${med[focused]}" "$s" 2 "${note[focused]:-}")"
    printf '%s | ' "$(cell "${med[floor]}" "$s" "${med[floor]}" 2 "${note[floor]:-}")"
    for c in "ss -tanp" "netstat -antp" "lsof -nP -iTCP"; do
      printf '%s | ' "$(cell "${med[$c]}" "${med[$c]}" "$s" 1 "${note[$c]:-}")"
    done
    printf '%s | %.1f | %s | %.2f |\n' "$(cell "${med[ss -tan]}" "" "" 0 "${note[ss -tan]:-}")" \
      "${RSS_MIB[$key]}" "$lsof_rss" "${US_PER[$key]}"
  } >> "$WORK/rows"
  tail -1 "$WORK/rows" >&2
  stop_load
}

# Teardown leaves TIME_WAIT sockets of the load's neighbours (and of anything the
# tools opened); every dump walks them too. Wait for them to expire before a
# measurement that should see only the load.
wait_quiet() {
  for _ in $(seq 1 40); do
    [ "$(ss -tanH state time-wait | wc -l)" -le 100 ] && break
    sleep 2
  done
}

# CPU (user + sys, ms) of one full snapshot: median of 5 runs 2 s apart, as cold
# as a --watch 2 sample.
snapshot_cpu() {
  local i u sys
  for i in 1 2 3 4 5; do
    /usr/bin/time -f '%U %S' -o "$WORK/st" "$SOCKLEAK" --json > /dev/null 2>&1 || die "sockleak --json failed"
    read -r u sys < "$WORK/st"
    echo "($u + $sys) * 1000" | bc -l
    if [ $i -lt 5 ]; then sleep 2; fi
  done | median
}

measure_watch() { # sockets -> appends one line to $WORK/watch
  local n=$1
  wait_quiet
  start_load "$n" 0
  local table
  table=$(ss -tanH | wc -l)
  log "measuring --watch 2 --count 15 CPU at $n sockets (table $table)"
  local t0=$EPOCHREALTIME wall u sys full
  /usr/bin/time -f '%U %S' -o "$WORK/wt" "$SOCKLEAK" --watch 2 --count 15 >/dev/null 2>&1 ||
    die "sockleak --watch 2 --count 15 failed"
  wall=$(echo "$EPOCHREALTIME - $t0" | bc -l)
  read -r u sys < "$WORK/wt"
  full=$(snapshot_cpu)
  # The long-run average is the CPU of one sample over one interval. CPU over wall
  # time overstates it: 15 samples fit in 14 intervals (the first is taken at once).
  # The first sample is a full scan; the other 14 are estimated as the rest.
  # shellcheck disable=SC2016
  printf -- '`--watch 2 --count 15` at %s sockets (%s in the table): %.2f s user + %.2f s system for 15 samples = %.1f ms of CPU per sample = **%.2f%% of one core** at a 2 s interval (%.2f%% over the %.1f s wall, which holds 15 samples in 14 intervals). One full snapshot (`sockleak --json`, median of 5 runs 2 s apart) at the same load: %.1f ms of CPU, so a sample costs %.2f× a snapshot (samples 2–15, taking the first as one full snapshot: %.1f ms each).\n' \
    "$n" "$table" "$u" "$sys" "$(echo "($u + $sys) * 1000 / 15" | bc -l)" \
    "$(echo "($u + $sys) * 100 / 15 / 2" | bc -l)" \
    "$(echo "($u + $sys) * 100 / $wall" | bc -l)" "$wall" \
    "$full" "$(echo "($u + $sys) * 1000 / 15 / $full" | bc -l)" \
    "$(echo "(($u + $sys) * 1000 - $full) / 14" | bc -l)" >> "$WORK/watch"
  tail -1 "$WORK/watch" >&2
  stop_load
}

# One `--watch 2 --count LEAK_SAMPLES --json` run of the live-leak section, labelled
# a (quiet), b (bench/leaky_pool.py beside it) or c (closing_server.py beside it):
# its CPU per sample over samples 2-N (the watch's user + system time less the first
# sample's own scan.cpu_ms) goes to $WORK/leak-cpu, each later sample's "kind cpu_ms"
# to $WORK/leak-kinds-LABEL, the trigger of each later sample that was not
# incremental to $WORK/leak-triggers-LABEL.
leak_watch_run() { # label round
  local label=$1 round=$2 u sys first
  local out="$WORK/leak-$label-$round.ndjson"
  /usr/bin/time -f '%U %S' -o "$WORK/lt" "$SOCKLEAK" --watch 2 --count "$LEAK_SAMPLES" --json \
    > "$out" 2>/dev/null || die "sockleak --watch 2 --count $LEAK_SAMPLES --json failed"
  [ "$(wc -l < "$out")" = "$LEAK_SAMPLES" ] || die "the watch wrote $(wc -l < "$out") of $LEAK_SAMPLES samples"
  read -r u sys < "$WORK/lt"
  first=$(head -1 "$out" | jq '.scan.cpu_ms')
  echo "$label $(echo "(($u + $sys) * 1000 - $first) / ($LEAK_SAMPLES - 1)" | bc -l)" >> "$WORK/leak-cpu"
  tail -n +2 "$out" | jq -r '"\(.scan.kind) \(.scan.cpu_ms)"' >> "$WORK/leak-kinds-$label"
  tail -n +2 "$out" | jq -r 'select(.scan.kind != "incremental") |
    "\(.scan.full_reason):\(.scan.trigger.state // "-")"' >> "$WORK/leak-triggers-$label"
  if [ "$label" != a ]; then leak_seen "$out" "$round" "$label"; fi
}

# What the watch saw of the pool in one (b) or (c) run: its client's group at the
# pool's server, in the first and the last sample (sockets, of them with unread
# bytes via recv_q; CLOSE_WAIT), beside what the pool says it did (b: its --stats
# line at that time). A bench that never saw the leak measured nothing, so a group
# that did not grow is fatal.
leak_seen() { # ndjson round label
  local out=$1 round=$2 label=$3 client port sel first last said=""
  client=$(sed -n 's/.*client=\([0-9]*\).*/\1/p' "$WORK/pool-ready")
  port=$(sed -n 's/.*port=\([0-9]*\).*/\1/p' "$WORK/pool-ready")
  sel=".groups | map(select(.pid == $client and .remote == \"127.0.0.1:$port\")) | first // {total: 0}"
  first=$(head -1 "$out" | jq "$sel | .total")
  last=$(tail -1 "$out" | jq -r "$sel | \"\\(.total) sockets (\\(.states.established // 0) established, \\(.states.close_wait // 0) close_wait, recv_q \\(.recv_q) bytes)\"")
  [ "${last%% *}" -gt "$first" ] || die "($label) round $round: the watch never saw the pool's group grow ($first -> $last)"
  [ "$label" = b ] && said=", the pool: $(tail -1 "$WORK/pool-stats")"
  echo "($label) round $round: $first -> $last$said" >> "$WORK/leak-seen"
}

# The pool beside the load for one (b) or (c) run: started, waited for, stopped by
# pid. Writes "client=PID server=PID port=PORT" to $WORK/pool-ready.
start_pool() { # label
  rm -f "$WORK/pool-ready"; : > "$WORK/pool-stats"
  local dur=$((LEAK_SAMPLES * 2 + 30)) _
  if [ "$1" = b ]; then
    python3 bench/leaky_pool.py --duration "$dur" --close-every "$LEAK_CLOSE_EVERY" \
      --ready "$WORK/pool-ready" --stats "$WORK/pool-stats" 2>>"$WORK/pool-log" &
    POOL_PID=$!
  else
    # Each exits when its stdin closes: a sleep as long as the run holds it open.
    rm -f "$WORK/closing-server" "$WORK/closing-client"
    python3 tests/support/closing_server.py server 127.0.0.1 \
      < <(sleep "$dur") > "$WORK/closing-server" 2>>"$WORK/pool-log" &
    POOL_PID=$!
    for _ in $(seq 1 100); do [ -s "$WORK/closing-server" ] && break; sleep 0.1; done
    [ -s "$WORK/closing-server" ] || die "closing_server.py server did not start: $(tail -3 "$WORK/pool-log")"
    local port
    port=$(jq .port "$WORK/closing-server")
    python3 tests/support/closing_server.py client 127.0.0.1 "$port" --duration "$dur" \
      < <(sleep "$dur") > "$WORK/closing-client" 2>>"$WORK/pool-log" &
    POOL_PID+=" $!"
    for _ in $(seq 1 100); do [ -s "$WORK/closing-client" ] && break; sleep 0.1; done
    [ -s "$WORK/closing-client" ] || die "closing_server.py client did not start: $(tail -3 "$WORK/pool-log")"
    echo "client=$(jq .pid "$WORK/closing-client") server=$(jq .pid "$WORK/closing-server") port=$port" \
      > "$WORK/pool-ready"
    return
  fi
  for _ in $(seq 1 600); do
    [ -f "$WORK/pool-ready" ] && return
    kill -0 "$POOL_PID" 2>/dev/null || die "bench/leaky_pool.py failed: $(tail -3 "$WORK/pool-log")"
    sleep 0.1
  done
  die "bench/leaky_pool.py not ready after 60 s"
}

# Share of samples of each kind, and their mean scan.cpu_ms, of one label.
leak_kinds() { # label
  awk '{n[$1]++; c[$1]+=$2; t++} END {for (k in n) printf "%s %.0f%% (%d, %.1f ms), ", k, 100*n[k]/t, n[k], c[k]/n[k]}' \
    "$WORK/leak-kinds-$1" | sed 's/, $//'
}

# The reasons and trigger states of one label's samples that were not incremental.
leak_triggers() { # label
  if [ -s "$WORK/leak-triggers-$1" ]; then
    sort "$WORK/leak-triggers-$1" | uniq -c | awk '{printf "%s× %s, ", $1, $2}' | sed 's/, $//'
  else
    echo none
  fi
}

# One case's summary beside the quiet watch (a): CPU per sample, ratio, kinds.
leak_case_line() { # label description a_ms
  local label=$1 what=$2 a=$3 x ratio inc spread
  x=$(awk -v l="$label" '$1 == l {print $2}' "$WORK/leak-cpu" | median)
  ratio=$(echo "$x / $a" | bc -l)
  inc=$(awk '$1 == "incremental" {i++} {t++} END {printf "%.0f", 100*i/t}' "$WORK/leak-kinds-$label")
  spread=$(awk -v l="$label" '$1 == l {printf "%.0f ", $2}' "$WORK/leak-cpu")
  printf '**(%s) %s %.1f ms** (runs: %s) = **%.2f×** (target ≤ 1.2×: %s); samples: %s; incremental: **%s%%** (target ≥ 90%%: %s); not incremental (reason:trigger state): %s. ' \
    "$label" "$what" "$x" "$spread" "$ratio" \
    "$([ "$(echo "$ratio <= 1.2" | bc -l)" = 1 ] && echo met || echo missed)" \
    "$(leak_kinds "$label")" "$inc" "$([ "$inc" -ge 90 ] && echo met || echo missed)" "$(leak_triggers "$label")"
}

measure_watch_leak() {
  wait_quiet
  start_load "$LEAK_SIZE" "$LEAK_IDLE"
  local table r a label order
  table=$(ss -tanH | wc -l)
  log "live-leak watch at $LEAK_SIZE sockets (table $table, idle=$LEAK_IDLE): $LEAK_ROUNDS rounds of ($LEAK_CASES), $LEAK_SAMPLES samples each"
  : > "$WORK/leak-cpu"; : > "$WORK/leak-seen"
  for label in a b c; do : > "$WORK/leak-kinds-$label"; : > "$WORK/leak-triggers-$label"; done
  for r in $(seq 1 "$LEAK_ROUNDS"); do
    # Alternate the order (a b c, c b a, ...): a drift of the machine hits all alike.
    order=$LEAK_CASES
    [ $((r % 2)) = 0 ] && order=$(tr ' ' '\n' <<< "$LEAK_CASES" | tac | tr '\n' ' ')
    for label in $order; do
      if [ "$label" != a ]; then start_pool "$label"; fi
      leak_watch_run "$label" "$r"
      if [ "$label" != a ]; then stop_pool; fi
    done
  done
  a=$(awk '$1 == "a" {print $2}' "$WORK/leak-cpu" | median)
  {
    # shellcheck disable=SC2016
    printf -- '`--watch 2 --count %s --json` at %s sockets (%s in the table)%s, %s rounds each, samples 2-%s: **(a) quiet %.1f ms** of CPU per sample (runs: %s; samples: %s). ' \
      "$LEAK_SAMPLES" "$LEAK_SIZE" "$table" "$([ "$LEAK_IDLE" = 1 ] && echo " + 200 idle root processes × 200 fds")" \
      "$LEAK_ROUNDS" "$LEAK_SAMPLES" "$a" "$(awk '$1 == "a" {printf "%.0f ", $2}' "$WORK/leak-cpu")" "$(leak_kinds a)"
    for label in $LEAK_CASES; do
      case $label in
        b) leak_case_line b "with a leaking urllib3 pool (bench/leaky_pool.py)" "$a" ;;
        c) leak_case_line c "with a leaking urllib3 pool and a server closing keep-alives (tests/support/closing_server.py)" "$a" ;;
      esac
    done
    printf 'The pool'"'"'s group as the watch saw it, first sample -> last: %s.\n' \
      "$(paste -sd';' "$WORK/leak-seen" | sed 's/;/; /g')"
  } >> "$WORK/watchleak"
  tail -1 "$WORK/watchleak" >&2
  stop_load
}

: > "$WORK/rows"
: > "$WORK/watch"
: > "$WORK/watchleak"
if [ "$ONLY" = watch-leak ]; then
  LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
  measure_watch_leak
  {
    echo "Live-leak watch only (--only watch-leak). Load average $LOAD_START at start, $(cut -d' ' -f1-3 /proc/loadavg) at end."
    echo
    cat "$WORK/watchleak"
  } | tee "${OUT:-/dev/null}"
  exit 0
fi
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
for n in $SIZES; do
  for idle in $IDLE; do
    measure "$n" "$idle"
  done
done
if [ "$WATCH" = 1 ]; then
  for n in $WATCH_SIZES; do measure_watch "$n"; done
  measure_watch_leak
fi
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
RUN_MIN=$(printf '%.1f' "$(echo "($EPOCHREALTIME - $RUN_START) / 60" | bc -l)")

# The largest size against 100k: cost per socket+fd and peak RSS.
SCALE=""
largest=$(tr ' ' '\n' <<< "$SIZES" | sort -n | tail -1)
for idle in $IDLE; do
  k=$largest.$idle
  if [ "$largest" -le "$BIG" ] || [ -z "${US_PER[$BIG.$idle]:-}" ]; then continue; fi
  SCALE+=$(printf 'At %s sockets%s: sockleak peak RSS %.1f MiB; %.2f µs per socket+fd = %.2f× the 100k figure (%.2f µs).\n' \
    "$largest" "$([ "$idle" = 1 ] && echo " + 200×200 idle fds")" "${RSS_MIB[$k]}" "${US_PER[$k]}" \
    "$(echo "${US_PER[$k]} / ${US_PER[$BIG.$idle]}" | bc -l)" "${US_PER[$BIG.$idle]}")$'\n'
done

{
  echo "Median wall seconds ($ROUNDS interleaved hyperfine rounds, $((BIG_ROUNDS < ROUNDS ? BIG_ROUNDS : ROUNDS)) above 100k sockets; 5 runs per round up to 10k sockets, 1 above)."
  echo "A command whose first run took over $SLOW s shows that one run (\"1 run\"); one stopped at $CAP s was not timed."
  echo "Ratios: sockleak / floor, --pid P / the full snapshot, and each other tool / sockleak. P is the load process holding the most fds (a shard's server)."
  echo "Load average $LOAD_START at start, $LOAD_END at end; the whole run took $RUN_MIN min."
  echo
  echo "| sockets in table | idle procs × fds | fds on host | sockleak --json | sockleak --json --pid P | C floor | ss -tanp | netstat -antp | lsof -nP -iTCP | ss -tan | sockleak RSS MiB | lsof RSS MiB | sockleak µs per socket+fd |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
  cat "$WORK/rows"
  echo
  [ -s "$WORK/watch" ] && { sed 's/$/\n/' "$WORK/watch"; }
  [ -s "$WORK/watchleak" ] && { sed 's/$/\n/' "$WORK/watchleak"; }
  [ -n "$SCALE" ] && { printf '%s\n' "$SCALE"; }
  echo "Load build times (loadgen start to ready): $BUILD_TIMES."
  echo
  echo "Counts checked at every size: sockleak's per-state counts of the load's sockets == ss -tan's, and every load socket attributed to its own process; --pid P's groups == the full snapshot's groups of P."
  echo "Whole table (sockleak totals.states == ss -tan, on a table that held still between two ss reads): checked at $WHOLE_TABLE_CHECKS of $((WHOLE_TABLE_CHECKS + WHOLE_TABLE_SKIPPED)) loads, not done at $WHOLE_TABLE_SKIPPED (the table never held still)."
  echo "Focused totals (--pid P's totals.states == the full snapshot's == ss -tan, same condition): checked at $FOCUS_CHECKS of $((FOCUS_CHECKS + FOCUS_SKIPPED)) loads, not done at $FOCUS_SKIPPED."
} | tee "${OUT:-/dev/null}"
