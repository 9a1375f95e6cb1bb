#!/usr/bin/env bash
# Multi-source downloads (issue 20): three of our servers on 127.0.0.2, .3 and .4, each capped
# with `--rate-total R` (one uplink shared by all its connections), behind our balancer; one
# 64 MiB file fetched by
#   - `client` from one server (as without Link headers),
#   - `client --segments 3`,
#   - `aria2c -s3 -x1` (it reads the redirect's Link headers too),
# in turn, BENCH_RUNS rounds (median), then the same with one server capped at R/8 (it should
# get a small share, not slow the whole). Also the CPU per redirect with and without Link
# headers (`--links 5` vs `--links 0`, wrk -t1 -c64, CPU from /proc/PID/stat per request).
#
#   bash bench/segments.sh      # SEG_RATE=20000000 bytes/s per server, BENCH_RUNS=3
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD
rate=${SEG_RATE:-20000000}
runs=${BENCH_RUNS:-3}
size_mib=${SEG_MIB:-64}

command -v aria2c >/dev/null || { echo "aria2c missing: apt-get install aria2"; exit 1; }
command -v wrk >/dev/null || { echo "wrk missing: apt-get install wrk"; exit 1; }
cargo build --release -q -p ricochet --bins
bin=${CARGO_TARGET_DIR:-$top/target}/release

dir=$(mktemp -d /tmp/ricochet-segments.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT

mkdir -p "$dir/www" "$dir/out"
head -c $((size_mib * 1024 * 1024)) /dev/urandom >"$dir/www/f.bin"
head -c 65536 /dev/urandom >"$dir/www/probe.bin"
hash=$(sha256sum "$dir/www/f.bin" | cut -d' ' -f1)

# start_servers RATE1 RATE2 RATE3: servers on 127.0.0.2-4 port 18280, balancer on 127.0.0.1:18200.
start_servers() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  pids=()
  local i=2
  for r in "$@"; do
    RICOCHET_LOG=warn "$bin/server" --listen "127.0.0.$i:18280" --root "$dir/www" \
      --rate-total "$r" >/dev/null 2>&1 &
    pids+=($!)
    i=$((i + 1))
  done
  sleep 0.5
  # Let every server hash the file before the clients ask (digests are computed in the background).
  for i in 2 3 4; do
    for _ in $(seq 100); do
      curl -sI -H 'Want-Repr-Digest: sha-256=10' "http://127.0.0.$i:18280/f.bin" | grep -qi '^repr-digest' && break
      sleep 0.1
    done
  done
  RICOCHET_LOG=warn "$bin/balancer" --listen 127.0.0.1:18200 --probe-interval 3600s \
    127.0.0.2:18280 127.0.0.3:18280 127.0.0.4:18280 >"$dir/balancer.out" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do grep -q listening "$dir/balancer.out" && break; sleep 0.1; done
}

# timed NAME CMD...: seconds taken, checking the file.
timed() {
  local name=$1
  shift
  rm -f "$dir/out/"* "$dir/out/".f.bin*
  local t0 t1
  t0=$(date +%s.%N)
  "$@" >/dev/null 2>"$dir/$name.err" || { echo "$name failed:"; cat "$dir/$name.err"; exit 1; }
  t1=$(date +%s.%N)
  [ "$(sha256sum "$dir/out/f.bin" | cut -d' ' -f1)" = "$hash" ] || { echo "$name: wrong bytes"; exit 1; }
  echo "$t1 - $t0" | bc
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

url=http://127.0.0.1:18200/f.bin
one() { "$bin/client" -q "$url" -o "$dir/out/f.bin"; }
three() { "$bin/client" -q -s 3 "$url" -o "$dir/out/f.bin"; }
aria() { aria2c -q -s3 -x1 -k1M --min-split-size=1M --allow-overwrite=true -d "$dir/out" -o f.bin "$url"; }

report() {
  local label=$1
  local s1=() s3=() sa=()
  for _ in $(seq "$runs"); do
    s1+=("$(timed one one)")
    s3+=("$(timed three three)")
    sa+=("$(timed aria aria)")
  done
  local m1 m3 ma
  m1=$(printf '%s\n' "${s1[@]}" | median)
  m3=$(printf '%s\n' "${s3[@]}" | median)
  ma=$(printf '%s\n' "${sa[@]}" | median)
  printf '| %s | %.2f s | %.2f s (%.2fx) | %.2f s (%.2fx) |\n' "$label" "$m1" "$m3" \
    "$(echo "$m1 / $m3" | bc -l)" "$ma" "$(echo "$m1 / $ma" | bc -l)"
}

echo "# ${size_mib} MiB through the balancer, median of $runs rounds ($(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs))"
echo
echo "| servers' --rate-total | client, one source | client -s 3 | aria2c -s3 -x1 |"
echo "|---|---|---|---|"
start_servers "$rate" "$rate" "$rate"
report "3 x $rate B/s"
start_servers "$rate" "$rate" "$((rate / 8))"
report "2 x $rate, 1 x $((rate / 8)) B/s"

# CPU per redirect, Link headers on and off, same run: the balancer alone with three live servers.
cpu_per_request() {
  local links=$1
  RICOCHET_LOG=warn "$bin/balancer" --listen 127.0.0.1:18201 --links "$links" --probe-interval 3600s \
    127.0.0.2:18280 127.0.0.3:18280 127.0.0.4:18280 >"$dir/b$links.out" 2>&1 &
  local pid=$!
  for _ in $(seq 100); do grep -q listening "$dir/b$links.out" && break; sleep 0.1; done
  local before after requests
  before=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  requests=$(wrk -t1 -c64 -d5s http://127.0.0.1:18201/pub/f.bin | awk '/requests in/ {print $1}')
  after=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  kill "$pid"; wait "$pid" 2>/dev/null || true
  # clock ticks -> microseconds per request
  echo "scale=3; ($after - $before) * 1000000 / $(getconf CLK_TCK) / $requests" | bc
}
start_servers "$rate" "$rate" "$rate"
plain=() linked=()
for _ in $(seq "$runs"); do
  plain+=("$(cpu_per_request 0)")
  linked+=("$(cpu_per_request 5)")
done
p=$(printf '%s\n' "${plain[@]}" | median)
l=$(printf '%s\n' "${linked[@]}" | median)
echo
echo "CPU per redirect (wrk -t1 -c64 -d5s, median of $runs): --links 0 ${p} us, --links 5 ${l} us ($(echo "scale=2; $l / $p" | bc)x)"
