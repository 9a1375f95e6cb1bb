#!/usr/bin/env bash
# The --verify-files warm-cache row of `just bench` on its own: CPU per redirect of the balancer
# with `--verify-files --origin` beside the same balancer without it, three servers, one path
# (warmed), `wrk -t1 -c64` keep-alive, rounds interleaved (the order alternating), CPU from
# /proc/PID/stat (utime + stime) divided by the requests wrk counted.
#
#   bash bench/verify_warm.sh [ROUNDS=9] [SECONDS=5]
#
# Prints one Markdown row per round and the median ratio, then the cold path (bench/cold_path.py:
# the first request for each of 500 paths beside one HEAD straight to a server). Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-9}
secs=${2:-5}
[ -n "${NO_BUILD:-}" ] || cargo build --release -q -p ricochet --bin balancer --bin server
bin=${CARGO_TARGET_DIR:-$PWD/target}/release
dir=$(mktemp -d /tmp/ricochet-verify-warm.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT
mkdir -p "$dir/files"
echo hello >"$dir/files/index.html"
head -c 16384 /dev/urandom >"$dir/files/probe.bin"
mkdir -p "$dir/files/cold"
for i in $(seq 0 499); do printf 'cold %d\n' "$i" >"$dir/files/cold/f$i"; done
start() { # start BIN ARGS...: sets $pid and $port
  local log
  log=$(mktemp "$dir/log.XXXXXX")
  RICOCHET_LOG=warn "$@" >"$log" 2>&1 &
  pid=$!
  pids+=("$pid")
  for _ in $(seq 100); do
    if grep -q 'listening on' "$log"; then
      port=$(grep -m1 -o 'listening on https\?://[^ ]*' "$log" | sed 's#.*:##; s#/$##')
      return 0
    fi
    sleep 0.1
  done
  cat "$log" >&2
  exit 1
}
servers=()
for _ in 1 2 3; do
  start "$bin/server" --listen 127.0.0.1:0 --root "$dir/files"
  servers+=("127.0.0.1:$port")
done
start "$bin/balancer" --listen 127.0.0.1:0 --probe-path /probe.bin "${servers[@]}"
plain_pid=$pid plain_port=$port
start "$bin/balancer" --listen 127.0.0.1:0 --probe-path /probe.bin --verify-files \
  --origin "http://${servers[0]}" "${servers[@]}"
verify_pid=$pid verify_port=$port
sleep 1
# Warm: every server checked for /index.html (each request checks at most the one it picked).
for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$verify_port/index.html"; done
ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }
tick_us=$((1000000 / $(getconf CLK_TCK)))
one() { # one PID PORT: prints "redirects/s cpu_us_per_redirect"
  local before after out
  before=$(ticks "$1")
  out=$(wrk -t1 -c64 -d"${secs}s" "http://127.0.0.1:$2/index.html")
  after=$(ticks "$1")
  if echo "$out" | grep -q 'Non-2xx or 3xx'; then echo "error responses: $out" >&2; exit 1; fi
  python3 -c "n = $(echo "$out" | awk '/requests in/ {print $1}')
print(f\"{$(echo "$out" | awk '/Requests\/sec/ {print $2}'):.0f} {($after - $before) * $tick_us / n:.2f}\")"
}
echo "| round | without: redirects/s | CPU us/redirect | --verify-files: redirects/s | CPU us/redirect | CPU ratio |"
echo "|---|---|---|---|---|---|"
ratios=()
for r in $(seq "$rounds"); do
  if [ $((r % 2)) = 1 ]; then
    read -r p_rps p_cpu <<<"$(one "$plain_pid" "$plain_port")"
    read -r v_rps v_cpu <<<"$(one "$verify_pid" "$verify_port")"
  else
    read -r v_rps v_cpu <<<"$(one "$verify_pid" "$verify_port")"
    read -r p_rps p_cpu <<<"$(one "$plain_pid" "$plain_port")"
  fi
  ratio=$(python3 -c "print(f'{$v_cpu / $p_cpu:.2f}')")
  ratios+=("$ratio")
  echo "| $r | $p_rps | $p_cpu | $v_rps | $v_cpu | $ratio |"
done
printf '%s\n' "${ratios[@]}" | sort -g | awk '{v[NR]=$1} END {print "median CPU ratio " v[int((NR+1)/2)] " (range " v[1] "-" v[NR] ")"}'
read -r c50 c99 h50 h99 <<<"$(python3 bench/cold_path.py "$verify_port" "${servers[1]#*:}" /cold/f 500)"
echo "cold path: p50 $c50 ms, p99 $c99 ms; one HEAD straight to a server: p50 $h50 ms, p99 $h99 ms"
