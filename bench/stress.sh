#!/usr/bin/env bash
# Stress and fault injection for `just stress`: release binaries on loopback, every loop and wait
# bounded, a few minutes on a 2-core machine. Prints a Markdown table (also saved to
# bench/out/stress.md): what was thrown, what had to hold, what was measured, and PASS/FAIL.
#
#   bash bench/stress.sh                  # STRESS_SECONDS=60 of wrk against server and balancer
#   STRESS_SECONDS=10 bash bench/stress.sh
#
# Needs wrk, curl and python3 (wrk and curl are installed from Debian's packages if missing).
# Exits 1 if any row failed.
set -euo pipefail
began=$SECONDS
cd "$(dirname "$0")/.."
top=$PWD
secs=${STRESS_SECONDS:-60}
slow=${STRESS_SLOW:-500}
header_timeout=5

need=()
command -v wrk >/dev/null || need+=(wrk)
command -v curl >/dev/null || need+=(curl)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing ${need[*]} from Debian's packages"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq "${need[@]}" >/dev/null
fi

cargo build --release -q -p ricochet --bins
bin=${CARGO_TARGET_DIR:-$top/target}/release

dir=$(mktemp -d /tmp/ricochet-stress.XXXXXX)
cleanup() {
  for p in $(cat "$dir/pids" 2>/dev/null); do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT

mkdir -p "$dir/root" "$dir/dl" bench/out
cp -r www/. "$dir/root/"
head -c $((20 * 1024 * 1024)) /dev/urandom >"$dir/root/big.bin"

rows=()
failed=0
row() { # row THROWN HELD MEASURED VERDICT
  rows+=("| $1 | $2 | $3 | $4 |")
  [ "$4" = PASS ] || failed=1
  echo "$4: $1 -- $3" >&2
}
verdict() { if "$@"; then echo PASS; else echo FAIL; fi; }

start() { # start NAME LOG ARGS...: run a release binary, wait for `listening on`, print its port
  local name=$1 log=$2; shift 2
  RICOCHET_LOG=${LOG_LEVEL:-warn} "$bin/$name" "$@" >"$log" 2>&1 &
  local pid=$!
  echo "$pid" >>"$dir/pids"
  echo "$pid" >"$log.pid"
  for _ in $(seq 200); do
    if grep -q 'listening on' "$log"; then
      grep -m1 -o 'listening on http://[^ ]*' "$log" | sed 's#.*:##; s#/$##'
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "$name did not start: $(cat "$log")" >&2
  return 1
}
pid_of() { cat "$1.pid"; }
alive() { kill -0 "$1" 2>/dev/null; }
hwm_kib() { awk '/VmHWM/ {print $2}' "/proc/$1/status"; }
first_status() { # first_status PORT PATH: the status of one GET (000 if none)
  curl -s -o /dev/null -m 5 -w '%{http_code}' "http://127.0.0.1:$1$2" || true
}
wait_log() { # wait_log LOG PATTERN SECONDS
  for _ in $(seq $(($3 * 10))); do grep -q "$2" "$1" && return 0; sleep 0.1; done
  return 1
}

# Two servers and a balancer probing them every 2 s. Short header timeout for the slowloris rows.
s1_log=$dir/s1.log s2_log=$dir/s2.log b_log=$dir/b.log
s1=$(start server "$s1_log" --listen 127.0.0.1:0 --root "$dir/root" --header-timeout ${header_timeout}s)
s2=$(start server "$s2_log" --listen 127.0.0.1:0 --root "$dir/root" --header-timeout ${header_timeout}s)
b=$(LOG_LEVEL=info start balancer "$b_log" --listen 127.0.0.1:0 --probe-interval 2s \
  --header-timeout ${header_timeout}s 127.0.0.1:"$s1" 127.0.0.1:"$s2")

# --- wrk at full rate: zero errors, and no growth of the peak RSS after warm-up.
wrk_row() { # wrk_row NAME PORT PATH PID
  local name=$1 port=$2 path=$3 pid=$4 out early late errors reqs
  wrk -t1 -c64 -d"${secs}s" "http://127.0.0.1:$port$path" >"$dir/wrk.$name" 2>&1 &
  local wrk_pid=$!
  sleep 5
  early=$(hwm_kib "$pid")
  wait "$wrk_pid" || true
  late=$(hwm_kib "$pid")
  out=$(cat "$dir/wrk.$name")
  reqs=$(awk '/Requests\/sec/ {printf "%.0f", $2}' <<<"$out")
  errors=$(awk '/Socket errors/ {gsub(",", ""); n += $4 + $6 + $8 + $10} /Non-2xx or 3xx/ {n += $NF} END {print n + 0}' <<<"$out")
  local ok=1
  [ "$errors" = 0 ] && [ "$late" -le $((early * 110 / 100)) ] && alive "$pid" || ok=0
  row "${secs} s of \`wrk -t1 -c64\` on the $name ($path)" \
    "zero errors; peak RSS at the end within 10% of the peak after 5 s" \
    "${reqs} req/s, ${errors} errors; peak RSS ${early} KiB after 5 s, ${late} KiB at the end" \
    "$([ $ok = 1 ] && echo PASS || echo FAIL)"
}
wrk_row server "$s1" /index.html "$(pid_of "$s1_log")"
wrk_row balancer "$b" /index.html "$(pid_of "$b_log")"

# --- slowloris: SLOW connections trickling a header byte every 2 s.
slowloris_row() { # slowloris_row NAME PORT OK_STATUS
  local name=$1 port=$2 ok=$3 out
  out=$(python3 bench/stress_clients.py slowloris "$port" "$slow" 2 "$header_timeout" "$ok")
  # One `key=value` line: closed got408 open close_min_s close_max_s gets get_failures
  # get_max_ms get_median_ms.
  local closed got408 open close_min_s close_max_s gets get_failures get_max_ms get_median_ms
  eval "$(sed 's/^slow=[0-9]* //' <<<"$out")"
  local cmin=$close_min_s cmax=$close_max_s gfail=$get_failures gmax=$get_max_ms gmed=$get_median_ms
  local pass=PASS
  [ "$closed" = "$slow" ] && [ "$open" = 0 ] && [ "$gfail" = 0 ] && [ "$gets" -gt 0 ] || pass=FAIL
  awk -v a="$gmax" 'BEGIN {exit !(a < 100)}' || pass=FAIL
  # Closed at the header timeout: not before it, and within 2 s after it.
  awk -v lo="$cmin" -v hi="$cmax" -v t="$header_timeout" 'BEGIN {exit !(lo >= t - 0.5 && hi <= t + 2)}' || pass=FAIL
  row "slowloris on the $name: $slow connections, one header byte every 2 s" \
    "a normal GET answers within 100 ms; each slow one closed at the ${header_timeout} s header timeout" \
    "GETs: ${gets}, worst ${gmax} ms, median ${gmed} ms, ${gfail} failed; slow ones closed after ${cmin}-${cmax} s, ${got408}/${slow} with 408" \
    "$pass"
}
slowloris_row server "$s1" 200
slowloris_row balancer "$b" 301

# --- 2,000 connections against a process limited to 256 descriptors.
flood_row() { # flood_row NAME OK_STATUS ARGS...
  local name=$1 ok=$2 log=$dir/flood.$1.log port out pid; shift 2
  port=$(ulimit -n 256 && start "$name" "$log" --listen 127.0.0.1:0 "$@")
  pid=$(pid_of "$log")
  out=$(python3 bench/stress_clients.py flood "$port" 2000 "$ok")
  local connected served
  connected=$(sed 's/.*connected=\([0-9]*\).*/\1/' <<<"$out")
  served=$(sed 's/.*served_after_s=\([^ ]*\).*/\1/' <<<"$out")
  local pass=PASS
  alive "$pid" && [ "$served" != never ] || pass=FAIL
  row "2,000 connections to the $name under \`ulimit -n 256\`" \
    "the process stays up and serves once they close" \
    "${connected} of 2000 connected (the rest found the listen backlog full); $(alive "$pid" && echo up || echo DEAD); next GET answered ${served} s after they closed; $(grep -c 'accept failed' "$log" || true) accept failures logged" \
    "$pass"
  kill "$pid" 2>/dev/null || true
}
flood_row server 200 --root "$dir/root"
flood_row balancer 301 --probe-interval 300s 127.0.0.1:"$s1"

# --- a server killed mid-download: the client fails and leaves no file.
s3_log=$dir/s3.log
s3=$(start server "$s3_log" --listen 127.0.0.1:0 --root "$dir/root" --rate 4000000)
( cd "$dir/dl" && exec timeout 60 "$bin/client" -q "http://127.0.0.1:$s3/big.bin" -o big.bin >"$dir/client.log" 2>&1 ) &
client_pid=$!
sleep 1
kill -9 "$(pid_of "$s3_log")"
code=0
wait "$client_pid" || code=$?
left=$(ls -A "$dir/dl" | tr '\n' ' ')
row "the server killed (SIGKILL) 1 s into a 20 MiB download (client at 4 MB/s)" \
  "the client exits non-zero; no file under the final name" \
  "client exit ${code}; files left: ${left:-none}" \
  "$(verdict test "$code" != 0 -a ! -e "$dir/dl/big.bin")"

# --- a server killed between probes: removed, then no redirect to it.
kill -9 "$(pid_of "$s2_log")"
removed=FAIL
wait_log "$b_log" "removed 127.0.0.1:$s2" 10 && removed=PASS
to_dead=0 to_live=0
for _ in $(seq 100); do
  loc=$(curl -s -o /dev/null -m 5 -w '%{redirect_url}' "http://127.0.0.1:$b/index.html" || true)
  case $loc in
    *":$s2/"*) to_dead=$((to_dead + 1)) ;;
    *":$s1/"*) to_live=$((to_live + 1)) ;;
  esac
done
row "one of two servers killed (SIGKILL) between probes (every 2 s)" \
  "the next probe removes it; no redirect to it afterwards" \
  "removed: $([ $removed = PASS ] && echo yes || echo no); of 100 redirects after: ${to_dead} to it, ${to_live} to the live one" \
  "$(verdict test $removed = PASS -a $to_dead = 0 -a $to_live = 100)"

# --- every server killed: 503 with Retry-After, the balancer stays up.
kill -9 "$(pid_of "$s1_log")"
wait_log "$b_log" "every server has been removed\|no live server" 10 || true
head=$(curl -s -D - -o /dev/null -m 5 "http://127.0.0.1:$b/index.html" | tr -d '\r' || true)
status=$(head -1 <<<"$head" | cut -d' ' -f2)
retry=$(grep -i '^retry-after:' <<<"$head" | cut -d' ' -f2)
again=$(first_status "$b" /)
row "every server killed" \
  "503 with Retry-After; the balancer stays up" \
  "status ${status:-none}, Retry-After ${retry:-none}, balancer $(alive "$(pid_of "$b_log")" && echo up || echo DEAD), next GET ${again}" \
  "$(verdict test "$status" = 503 -a -n "$retry" -a "$again" = 503)"

{
  echo "| thrown | must hold | measured | result |"
  echo "|---|---|---|---|"
  printf '%s\n' "${rows[@]}"
} | tee bench/out/stress.md
echo
echo "$(date -u +%Y-%m-%d), $(nproc) cores, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo), STRESS_SECONDS=$secs, $((SECONDS - began)) s in all"
exit $failed
