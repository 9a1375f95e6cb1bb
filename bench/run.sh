#!/usr/bin/env bash
# Whole-system benchmarks for `just bench`: Ricochet's server, client and balancer against nginx,
# curl and HAProxy, on this machine, in the same run, over loopback only.
#
#   bash bench/run.sh            # BENCH_SECONDS=10 per wrk run, BENCH_RUNS=5 rounds by default
#   BENCH_BASELINE=DIR bash bench/run.sh   # also an earlier build's server and balancer from DIR
#
# Throughput figures are the median of BENCH_RUNS rounds in which every side runs in turn, so
# that drift on a shared machine hits every side alike.
#
# Prints a Markdown table (also saved to bench/out/results.md) with the ratio ours/theirs.
# Ricochet's binaries run with RICOCHET_LOG=warn because nginx runs with access_log off.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD
secs=${BENCH_SECONDS:-10}
runs=${BENCH_RUNS:-5}

need=()
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need+=(nginx-light)
command -v haproxy >/dev/null || [ -x /usr/sbin/haproxy ] || need+=(haproxy)
command -v wrk >/dev/null || need+=(wrk)
command -v hey >/dev/null || need+=(hey)
command -v tcpdump >/dev/null || [ -x /usr/sbin/tcpdump ] || [ -x /usr/bin/tcpdump ] || need+=(tcpdump)
[ -x /usr/bin/time ] || need+=(time)
command -v curl >/dev/null || need+=(curl)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing ${need[*]} from Debian's packages"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq "${need[@]}" >/dev/null
fi
export PATH=$PATH:/usr/sbin

cargo build --release -q -p ricochet -p ricochet-loadgen --bins
bin=${CARGO_TARGET_DIR:-$top/target}/release

dir=$(mktemp -d /tmp/ricochet-bench.XXXXXX)
pids=()
cleanup() {
  local rc=$?
  if [ "$rc" != 0 ]; then
    echo "bench failed (exit $rc); logs:" >&2
    tail -n 5 "$dir"/*.log >&2 2>/dev/null || true
  fi
  # Processes started inside $(...) record their PID in $dir/pids (a subshell cannot add to
  # the array).
  for p in "${pids[@]}" $(cat "$dir/pids" 2>/dev/null); do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT

mkdir -p "$dir/files" "$dir/nginx-tmp" bench/out
chmod 755 "$dir" # nginx's workers run as nobody
head -c 1024 /dev/urandom >"$dir/files/1k.bin"
head -c $((100 * 1024 * 1024)) /dev/urandom >"$dir/files/100m.bin"
cp www/probe.bin "$dir/files/probe.bin" 2>/dev/null || head -c $((256 * 1024)) /dev/urandom >"$dir/files/probe.bin"
# 500 small files for the cold path of --verify-files: the first request for each is a check.
mkdir -p "$dir/files/cold"
for i in $(seq 0 499); do printf 'cold %d\n' "$i" >"$dir/files/cold/f$i"; done

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { # wait until something answers HTTP on 127.0.0.1:$1 (bounded: 10 s)
  for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$1/" && return 0; sleep 0.1; done
  echo "nothing answered on port $1" >&2; return 1
}
start_ricochet() { # start_ricochet BIN ARGS...; prints the bound port, records PID in pid.PORT
  local exe=$1; shift
  local log
  log=$(mktemp "$dir/$(basename "$exe").XXXXXX.log")
  RICOCHET_LOG=warn "$exe" "$@" >"$log" 2>&1 &
  local pid=$!
  echo "$pid" >>"$dir/pids"
  for _ in $(seq 100); do
    if grep -q 'listening on' "$log"; then
      local port
      port=$(grep -m1 -o 'listening on https\?://[^ ]*' "$log" | sed 's#.*:##; s#/$##')
      echo "$pid" >"$dir/pid.$port"
      echo "$port"
      return 0
    fi
    sleep 0.1
  done
  echo "$exe did not start: $(cat "$log")" >&2; return 1
}

# CPU time (utime + stime, in clock ticks) of a process and all its descendants.
cpu_ticks() {
  local total=0 p
  for p in $(pstree_pids "$1"); do
    # Fields 14 and 15 of /proc/PID/stat; the command name (field 2) may hold spaces: cut after ')'.
    local t
    t=$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null | awk '{print $12 + $13}') || t=0
    total=$((total + ${t:-0}))
  done
  echo "$total"
}
pstree_pids() { echo "$1"; local c; for c in $(pgrep -P "$1"); do pstree_pids "$c"; done; }
tick_us=$((1000000 / $(getconf CLK_TCK)))
# cpu_us BEFORE AFTER N: CPU microseconds per request from two cpu_ticks readings.
cpu_us() { python3 -c "print(f'{($2 - $1) * $tick_us / max(1, ${3:-0}):.1f}')"; }

# wrk against URL while measuring the CPU of process PID (and its children): prints
# "requests/s p99_ms cpu_us_per_request"
wrk_run() {
  local pid=$1; shift
  local out before after
  before=$(cpu_ticks "$pid")
  out=$(wrk -t1 -c64 -d"${secs}s" --latency "$@")
  after=$(cpu_ticks "$pid")
  echo "$out" >>"$dir/wrk.log"
  if echo "$out" | grep -q 'Non-2xx or 3xx'; then
    echo "wrk got error responses from $*:" >&2; echo "$out" >&2; return 1
  fi
  local rps p99 requests
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  requests=$(echo "$out" | awk '/requests in/ {print $1}')
  p99=$(echo "$out" | awk '$1 == "99%" {v=$2; if (v ~ /us$/) {sub(/us/,"",v); v=v/1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v=v*1000}; print v}')
  echo "${rps:-0} ${p99:-0} $(cpu_us "$before" "$after" "$requests")"
}
# Round-robin over several targets, $runs rounds (so drift on a shared machine hits every side
# alike): FUNC TARGET [options] prints some numbers for one target; prints one line per target,
# in order, with the median of each. Usage: rr FUNC [options] -- TARGET...
rr() {
  local fn=$1 opts=() targets=() r i k nf=0 res vals line
  shift
  while [ "$1" != "--" ]; do opts+=("$1"); shift; done
  shift
  targets=("$@")
  declare -A f
  for r in $(seq "$runs"); do
    for i in "${!targets[@]}"; do
      res=$("$fn" "${targets[$i]}" "${opts[@]}") || return 1
      read -ra vals <<<"$res"
      nf=${#vals[@]}
      for k in "${!vals[@]}"; do f[$i,$k]+="${vals[$k]} "; done
    done
  done
  for i in "${!targets[@]}"; do
    line=()
    for ((k = 0; k < nf; k++)); do line+=("$(median ${f[$i,$k]})"); done
    echo "${line[*]}"
  done
}
# wrk_rr [wrk options] -- PID=URL...: per target "median_rps median_p99_ms median_cpu_us".
wrk_rr() { rr wrk_target "$@"; }
wrk_target() { local t=$1; shift; wrk_run "${t%%=*}" "$@" "${t#*=}"; }
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
# best wall time (s) of $runs curl downloads to /dev/null
curl_best() {
  local best=999999 t
  for _ in $(seq "$runs"); do
    t=$(curl -sf -o /dev/null -w '%{time_total}' "$1") || { echo "curl failed on $1" >&2; return 1; }
    best=$(python3 -c "print(min($best, $t))")
  done
  echo "$best"
}
# timed_pair A... -- B...: two downloads to files, run in turn (A B A B ...) so that drift hits
# both alike, $runs times each but at least 9 (a download takes a fraction of a second, and the
# median of 3 still moved by 20% between runs); prints "wall_A rss_A wall_B rss_B": the median
# wall seconds and the largest peak RSS (KiB) of each.
timed_pair() {
  local a=() b=() ta=() tb=() ra=0 rb=0 t r
  while [ "$1" != -- ]; do a+=("$1"); shift; done
  shift; b=("$@")
  one() { # one CMD...: prints "wall rss"
    /usr/bin/time -v -o "$dir/time.txt" "$@" >/dev/null 2>&1
    awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,x,":"); s=0; for(i=1;i<=n;i++) s=s*60+x[i]; t=s}
      /Maximum resident set size/ {r=$2} END {print t, r}' "$dir/time.txt"
  }
  for _ in $(seq "$(( runs > 9 ? runs : 9 ))"); do
    read -r t r <<<"$(one "${a[@]}")"; ta+=("$t"); ra=$(( r > ra ? r : ra ))
    read -r t r <<<"$(one "${b[@]}")"; tb+=("$t"); rb=$(( r > rb ? r : rb ))
  done
  median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {print (NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2)}'; }
  echo "$(median "${ta[@]}") $ra $(median "${tb[@]}") $rb"
}
ratio() { python3 -c "a,b=float('$1' or 0),float('$2' or 0); print(f'{a/b:.2f}' if b else 'n/a')"; }

echo "== starting servers"
# BENCH_BASELINE=DIR (a folder with an earlier build's server and balancer) adds the earlier
# build to every round, for before/after comparisons in the same run.
base=${BENCH_BASELINE:-}
ours=$(start_ricochet "$bin/server" --listen 127.0.0.1:0 --root "$dir/files")
ours_n=$(start_ricochet "$bin/server" --workers "$(nproc)" --listen 127.0.0.1:0 --root "$dir/files")
b1=$(start_ricochet "$bin/server" --listen 127.0.0.1:0 --root "$dir/files")
b2=$(start_ricochet "$bin/server" --listen 127.0.0.1:0 --root "$dir/files")
b3=$(start_ricochet "$bin/server" --listen 127.0.0.1:0 --root "$dir/files")
bal=$(start_ricochet "$bin/balancer" --listen 127.0.0.1:0 --probe-path /probe.bin \
  "127.0.0.1:$b1" "127.0.0.1:$b2" "127.0.0.1:$b3")
if [ -n "$base" ]; then
  base_srv=$(start_ricochet "$base/server" --listen 127.0.0.1:0 --root "$dir/files")
  base_bal=$(start_ricochet "$base/balancer" --listen 127.0.0.1:0 --probe-path /probe.bin \
    "127.0.0.1:$b1" "127.0.0.1:$b2" "127.0.0.1:$b3")
fi
pid_of() { cat "$dir/pid.$1"; }
# nginx twice: one worker (like for like with Ricochet's one thread) and `auto` (one per core).
start_nginx() { # start_nginx NAME WORKERS STATIC_PORT REDIRECT_PORT
  sed -e "s#@DIR@#$dir#g" -e "s#@NAME@#$1#g" -e "s#@WORKERS@#$2#g" -e "s#@STATIC_PORT@#$3#g" \
    -e "s#@REDIRECT_PORT@#$4#g" -e "s#@TARGET@#127.0.0.1:$b1#g" bench/nginx.conf.in >"$dir/$1.conf"
  nginx -c "$dir/$1.conf" -p "$dir" &
  echo $! >"$dir/pid.$3"; echo $! >"$dir/pid.$4"; pids+=($!)
}
n1_static=$(free_port); n1_redirect=$(free_port); nN_static=$(free_port); nN_redirect=$(free_port)
start_nginx nginx1 1 "$n1_static" "$n1_redirect"
start_nginx nginxN auto "$nN_static" "$nN_redirect"
h1_redirect=$(free_port)
sed -e "s#@REDIRECT_PORT@#$h1_redirect#g" -e "s#@THREADS@#1#g" -e "s#@TARGET@#127.0.0.1:$b1#g" \
  bench/haproxy.cfg.in >"$dir/haproxy1.cfg"
haproxy -f "$dir/haproxy1.cfg" -q &
echo $! >"$dir/pid.$h1_redirect"; pids+=($!)
for p in "$n1_static" "$n1_redirect" "$nN_static" "$nN_redirect" "$h1_redirect"; do wait_port "$p"; done
target0() { echo "$(pid_of "$1")=http://127.0.0.1:$1$2"; }
floor_names=(floor Ricochet nginx HAProxy)

# The floor: bench/floor.c, a bare epoll responder (no parsing, one fixed 301), what a redirect
# costs the kernel on this machine and nothing more.
cc -O2 -o "$dir/floor" bench/floor.c
"$dir/floor" 0 >"$dir/floor.log" 2>&1 &
floor_pid=$!
echo "$floor_pid" >>"$dir/pids"
for _ in $(seq 50); do grep -q 'listening on' "$dir/floor.log" && break; sleep 0.1; done
floor=$(grep -o 'listening on http://[^ ]*' "$dir/floor.log" | sed 's#.*:##; s#/$##')
echo "$floor_pid" >"$dir/pid.$floor"
floor_ports=("$floor" "$bal" "$n1_redirect" "$h1_redirect")
if [ -n "$base" ]; then floor_names+=("Ricochet, baseline build"); floor_ports+=("$base_bal"); fi

# syscalls_run PID URL [wrk options]: one wrk run (no CPU figure: perf costs CPU) counted with
# `perf stat -e 'syscalls:sys_enter_*'` on PID and its children; prints "total_per_request"
# and appends every call made at least 0.001 times per request to $dir/syscalls.NAME.
syscalls_run() {
  local pid=$1 url=$2 name=$3 perf out requests pids
  shift 3
  if ! perf stat -e 'syscalls:sys_enter_getpid' -o /dev/null true 2>/dev/null; then
    : >"$dir/syscalls.$name"; echo "n/a (perf cannot read syscall tracepoints here)"; return 0
  fi
  pids=$(pstree_pids "$pid" | paste -sd,)
  perf stat -x, -e 'syscalls:sys_enter_*' -p "$pids" -o "$dir/perf.txt" </dev/null &
  perf=$!
  sleep 1 # attaching several hundred tracepoints takes a while
  out=$(wrk -t1 -c64 -d"${secs}s" "$@" "$url" </dev/null)
  sleep 0.2
  kill -INT "$perf"; wait "$perf" 2>/dev/null || true
  requests=$(echo "$out" | awk '/requests in/ {print $1}')
  awk -F, -v n="$requests" '$3 ~ /sys_enter_/ && $1 ~ /^[0-9]+$/ && $1 / n >= 0.001 {
      sub(/.*sys_enter_/, "", $3); printf "%s %.3f\n", $3, $1 / n }' "$dir/perf.txt" |
    sort -k2,2gr >"$dir/syscalls.$name"
  awk -F, -v n="$requests" '$3 ~ /sys_enter_/ && $1 ~ /^[0-9]+$/ {t += $1} END {printf "%.2f\n", t / n}' "$dir/perf.txt"
}

echo "== floor / balancer / nginx / HAProxy, one thread or worker each: redirects, wrk -t1 -c64, ${secs}s, median of $runs rounds; then syscalls"
floor_rows=()
for mode in keep-alive close; do
  hdr=()
  [ "$mode" = close ] && hdr=(-H "Connection: close")
  targets=()
  for port in "${floor_ports[@]}"; do targets+=("$(target0 "$port" /index.html)"); done
  res=$(wrk_rr "${hdr[@]}" -- "${targets[@]}")
  i=0
  while read -r rps p99 cpu; do
    name=${floor_names[$i]}
    port=${floor_ports[$i]}
    sys=$(syscalls_run "$(pid_of "$port")" "http://127.0.0.1:$port/index.html" "$name.$mode" "${hdr[@]}")
    [ "$i" = 0 ] && floor_cpu=$cpu
    calls=$(awk '{printf "%s%s %s", sep, $1, $2; sep=", "}' "$dir/syscalls.$name.$mode")
    floor_rows+=("| $name | $mode | $rps | $p99 | $cpu | $(ratio "$cpu" "$floor_cpu") | $sys | $calls |")
    printf '%-10s %-10s %10s/s p99 %6s ms  %6s us/req (%s x floor)  %s syscalls/req: %s\n' \
      "$name" "$mode" "$rps" "$p99" "$cpu" "$(ratio "$cpu" "$floor_cpu")" "$sys" "$calls"
    i=$((i + 1))
  done <<<"$res"
done
print_floor_table() {
  echo "Machine: $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB; $(date -u +%Y-%m-%d)."
  echo "wrk -t1 -c64 -d${secs}s against each in turn, median of $runs rounds; CPU = utime+stime from /proc over requests; syscalls from a separate wrk run of the same length under \`perf stat -e 'syscalls:sys_enter_*'\`."
  echo
  echo "| side | connections | requests/s | p99 ms | CPU us per request | x floor | syscalls per request | calls per request |"
  echo "|---|---|---|---|---|---|---|---|"
  printf '%s\n' "${floor_rows[@]}"
}
print_floor_table | tee bench/out/floor.md
if [ "${BENCH_ONLY:-}" = floor ]; then exit 0; fi

rows=()
row() { # row MEASURE OURS THEIRS [lower]: ratio ours/theirs
  rows+=("| $1 | $2 | $3 | $(ratio "$2" "$3") |")
  printf '%-70s ours %-10s theirs %-10s ratio %s\n' "$1" "$2" "$3" "$(ratio "$2" "$3")"
}
# target PORT PATH: "PID=URL" for wrk_rr
target() { echo "$(pid_of "$1")=http://127.0.0.1:$1$2"; }

# Two processes or threads each (issue 21): balancer --workers 2 (one probes, the other follows
# its ranking over a Unix socket) against nginx worker_processes 2 and HAProxy nbthread 2, the
# same redirect, in the same rounds; CPU counts every process of each side.
balancer_workers_rows() {
  local bal2 n2_static n2_redirect h2_redirect mode hdr res
  bal2=$(start_ricochet "$bin/balancer" --workers 2 --listen 127.0.0.1:0 --probe-path /probe.bin \
    "127.0.0.1:$b1" "127.0.0.1:$b2" "127.0.0.1:$b3")
  n2_static=$(free_port); n2_redirect=$(free_port); h2_redirect=$(free_port)
  start_nginx nginx2 2 "$n2_static" "$n2_redirect"
  sed -e "s#@REDIRECT_PORT@#$h2_redirect#g" -e "s#@THREADS@#2#g" -e "s#@TARGET@#127.0.0.1:$b1#g" \
    bench/haproxy.cfg.in >"$dir/haproxy2.cfg"
  haproxy -f "$dir/haproxy2.cfg" -q &
  echo $! >"$dir/pid.$h2_redirect"; pids+=($!)
  wait_port "$n2_redirect"; wait_port "$h2_redirect"
  for mode in keep-alive close; do
    hdr=()
    [ "$mode" = close ] && hdr=(-H "Connection: close")
    echo "== balancer --workers 2 vs nginx worker_processes 2 vs HAProxy nbthread 2: redirects, wrk -t1 -c64 $mode, ${secs}s, median of $runs rounds"
    res=$(wrk_rr "${hdr[@]}" -- "$(target "$bal2" /index.html)" \
      "$(target "$n2_redirect" /index.html)" "$(target "$h2_redirect" /index.html)")
    { read -r b_rps b_p99 b_cpu; read -r n_rps n_p99 n_cpu; read -r h_rps h_p99 h_cpu; } <<<"$res"
    row "balancer --workers 2 vs nginx 2 workers: redirects/s, $mode (higher is better)" "$b_rps" "$n_rps"
    row "balancer --workers 2 vs HAProxy nbthread 2: redirects/s, $mode (higher is better)" "$b_rps" "$h_rps"
    row "balancer --workers 2 vs nginx 2 workers: CPU us per redirect, $mode (lower is better)" "$b_cpu" "$n_cpu"
    row "balancer --workers 2 vs HAProxy nbthread 2: CPU us per redirect, $mode (lower is better)" "$b_cpu" "$h_cpu"
  done
}
# BENCH_ONLY=workers bash bench/run.sh: only these rows.
if [ "${BENCH_ONLY:-}" = workers ]; then balancer_workers_rows; exit 0; fi

echo "== server vs nginx: 1 KiB file, wrk -t1 -c64 keep-alive, ${secs}s, median of $runs rounds"
targets=("$(target "$ours" /1k.bin)" "$(target "$n1_static" /1k.bin)" \
  "$(target "$ours_n" /1k.bin)" "$(target "$nN_static" /1k.bin)")
[ -n "$base" ] && targets+=("$(target "$base_srv" /1k.bin)")
res=$(wrk_rr -- "${targets[@]}")
{ read -r s_rps s_p99 s_cpu; read -r n1_rps n1_p99 n1_cpu; read -r sn_rps sn_p99 sn_cpu
  read -r nN_rps nN_p99 nN_cpu; read -r bs_rps bs_p99 bs_cpu || true; } <<<"$res"
row "server, 1 thread vs nginx, 1 worker: 1 KiB requests/s (higher is better)" "$s_rps" "$n1_rps"
row "server, 1 thread vs nginx, 1 worker: CPU us per request (lower is better)" "$s_cpu" "$n1_cpu"
row "server, 1 thread vs nginx, 1 worker: p99 ms (lower is better)" "$s_p99" "$n1_p99"
row "multi-worker: server --workers $(nproc) vs nginx auto ($(nproc)): requests/s" "$sn_rps" "$nN_rps"
row "multi-worker: server --workers $(nproc) vs nginx auto: CPU us per request" "$sn_cpu" "$nN_cpu"
row "multi-worker: server --workers $(nproc) vs nginx auto: p99 ms" "$sn_p99" "$nN_p99"
if [ -n "$base" ]; then
  row "server, this build vs baseline build: requests/s" "$s_rps" "$bs_rps"
  row "server, this build vs baseline build: CPU us per request" "$s_cpu" "$bs_cpu"
fi

echo "== server vs nginx: 100 MiB download with curl, best of $runs"
s_t=$(curl_best "http://127.0.0.1:$ours/100m.bin")
n_t=$(curl_best "http://127.0.0.1:$n1_static/100m.bin")
row "server vs nginx (1 worker): 100 MiB download seconds (lower is better)" "$s_t" "$n_t"

echo "== client vs curl: 100 MiB from nginx to a file, median of $(( runs > 9 ? runs : 9 )) taken in turn"
res=$(timed_pair "$bin/client" -q -o "$dir/client.out" "http://127.0.0.1:$n1_static/100m.bin" -- \
  curl -s -o "$dir/curl.out" "http://127.0.0.1:$n1_static/100m.bin")
read -r c_t c_rss u_t u_rss <<<"$res"
cmp -s "$dir/client.out" "$dir/files/100m.bin" || { echo "client's download differs from the file" >&2; exit 1; }
row "client vs curl: 100 MiB wall seconds (lower is better)" "$c_t" "$u_t"
row "client vs curl: peak RSS KiB (lower is better)" "$c_rss" "$u_rss"

for mode in keep-alive close; do
  hdr=()
  [ "$mode" = close ] && hdr=(-H "Connection: close")
  echo "== balancer vs nginx vs HAProxy, one thread/worker each: redirects, wrk -t1 -c64 $mode, ${secs}s, median of $runs rounds"
  targets=("$(target "$bal" /index.html)" "$(target "$n1_redirect" /index.html)" \
    "$(target "$h1_redirect" /index.html)")
  [ -n "$base" ] && targets+=("$(target "$base_bal" /index.html)")
  res=$(wrk_rr "${hdr[@]}" -- "${targets[@]}")
  { read -r b_rps b_p99 b_cpu; read -r n_rps n_p99 n_cpu; read -r h_rps h_p99 h_cpu
    read -r bb_rps bb_p99 bb_cpu || true; } <<<"$res"
  row "balancer vs nginx: redirects/s, $mode (higher is better)" "$b_rps" "$n_rps"
  row "balancer vs HAProxy: redirects/s, $mode (higher is better)" "$b_rps" "$h_rps"
  row "balancer vs nginx: CPU us per redirect, $mode (lower is better)" "$b_cpu" "$n_cpu"
  row "balancer vs HAProxy: CPU us per redirect, $mode (lower is better)" "$b_cpu" "$h_cpu"
  row "balancer vs nginx: p99 ms, $mode (lower is better)" "$b_p99" "$n_p99"
  row "balancer vs HAProxy: p99 ms, $mode (lower is better)" "$b_p99" "$h_p99"
  if [ -n "$base" ]; then
    row "balancer, this build vs baseline build: redirects/s, $mode" "$b_rps" "$bb_rps"
    row "balancer, this build vs baseline build: CPU us per redirect, $mode" "$b_cpu" "$bb_cpu"
  fi
done

balancer_workers_rows

echo "== balancer --verify-files, warm cache, vs the same balancer without: wrk -t1 -c64 keep-alive, ${secs}s, median of $runs rounds"
bal_vf=$(start_ricochet "$bin/balancer" --listen 127.0.0.1:0 --probe-path /probe.bin \
  --verify-files --origin "http://127.0.0.1:$b1" "127.0.0.1:$b1" "127.0.0.1:$b2" "127.0.0.1:$b3")
# Warm: every server checked for /index.html (each request checks at most the server it picked).
for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$bal_vf/index.html"; done
res=$(wrk_rr -- "$(target "$bal_vf" /index.html)" "$(target "$bal" /index.html)")
{ read -r v_rps v_p99 v_cpu; read -r p_rps p_p99 p_cpu; } <<<"$res"
row "balancer --verify-files (warm) vs without: redirects/s, keep-alive (higher is better)" "$v_rps" "$p_rps"
row "balancer --verify-files (warm) vs without: CPU us per redirect, keep-alive (target <= 1.2)" "$v_cpu" "$p_cpu"
row "balancer --verify-files (warm) vs without: p99 ms, keep-alive" "$v_p99" "$p_p99"
echo "== balancer --verify-files, cold path: the first request for each of 500 paths vs one HEAD to a server"
read -r c50 c99 h50 h99 <<<"$(python3 bench/cold_path.py "$bal_vf" "$b1" /cold/f 500)"
row "balancer --verify-files cold path vs one HEAD round trip: p50 ms" "$c50" "$h50"
row "balancer --verify-files cold path vs one HEAD round trip: p99 ms" "$c99" "$h99"

# HTTPS: a throwaway CA and a certificate for localhost/127.0.0.1 (ECDSA P-256), the same for
# every side; one thread or worker each.
mkdir -p "$dir/tls"
(
  cd "$dir/tls"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca-key.pem \
    -out ca.pem -subj /CN=bench-ca -days 2 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout key.pem -out req.pem \
    -subj /CN=localhost 2>/dev/null
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >ext.cnf
  openssl x509 -req -in req.pem -CA ca.pem -CAkey ca-key.pem -CAcreateserial -out cert.pem \
    -days 2 -extfile ext.cnf 2>/dev/null
  cat cert.pem key.pem >both.pem
)
tls_flags=(--tls-cert "$dir/tls/cert.pem" --tls-key "$dir/tls/key.pem")
ts=$(start_ricochet "$bin/server" --listen 127.0.0.1:0 --root "$dir/files" "${tls_flags[@]}")
tb1=$(start_ricochet "$bin/server" --listen 127.0.0.1:0 --root "$dir/files" "${tls_flags[@]}")
tbal=$(start_ricochet "$bin/balancer" --listen 127.0.0.1:0 --probe-path /probe.bin \
  --probe-cacert "$dir/tls/ca.pem" "${tls_flags[@]}" "https://localhost:$tb1/")
tn_static=$(free_port); tn_redirect=$(free_port); th_redirect=$(free_port)
sed -e "s#@DIR@#$dir#g" -e "s#@STATIC_PORT@#$tn_static#g" -e "s#@REDIRECT_PORT@#$tn_redirect#g" \
  -e "s#@TARGET@#localhost:$tb1#g" bench/nginx-tls.conf.in >"$dir/nginx-tls.conf"
nginx -c "$dir/nginx-tls.conf" -p "$dir" &
echo $! >"$dir/pid.$tn_static"; echo $! >"$dir/pid.$tn_redirect"; pids+=($!)
sed -e "s#@DIR@#$dir#g" -e "s#@REDIRECT_PORT@#$th_redirect#g" -e "s#@TARGET@#localhost:$tb1#g" \
  bench/haproxy-tls.cfg.in >"$dir/haproxy-tls.cfg"
haproxy -f "$dir/haproxy-tls.cfg" -q &
echo $! >"$dir/pid.$th_redirect"; pids+=($!)
for p in "$tn_static" "$tn_redirect" "$th_redirect"; do
  for _ in $(seq 100); do curl -s -o /dev/null --cacert "$dir/tls/ca.pem" "https://localhost:$p/" && break; sleep 0.1; done
done
ttarget() { echo "$(pid_of "$1")=https://localhost:$1$2"; }

echo "== HTTPS server vs nginx ssl: 1 KiB file, wrk -t1 -c64 keep-alive, ${secs}s, median of $runs rounds"
res=$(wrk_rr -- "$(ttarget "$ts" /1k.bin)" "$(ttarget "$tn_static" /1k.bin)")
{ read -r s_rps s_p99 s_cpu; read -r n_rps n_p99 n_cpu; } <<<"$res"
row "HTTPS server vs nginx ssl, 1 worker: 1 KiB requests/s, keep-alive (higher is better)" "$s_rps" "$n_rps"
row "HTTPS server vs nginx ssl: CPU us per request (lower is better)" "$s_cpu" "$n_cpu"
row "HTTPS server vs nginx ssl: wrk's p99 ms (closed loop: holds wrk's queue, see below)" "$s_p99" "$n_p99"

for mode in keep-alive close; do
  hdr=()
  [ "$mode" = close ] && hdr=(-H "Connection: close")
  echo "== HTTPS balancer vs nginx ssl vs HAProxy ssl: redirects, wrk -t1 -c64 $mode (close: a handshake per request), ${secs}s, median of $runs rounds"
  res=$(wrk_rr "${hdr[@]}" -- "$(ttarget "$tbal" /index.html)" "$(ttarget "$tn_redirect" /index.html)" \
    "$(ttarget "$th_redirect" /index.html)")
  { read -r b_rps b_p99 b_cpu; read -r n_rps n_p99 n_cpu; read -r h_rps h_p99 h_cpu; } <<<"$res"
  row "HTTPS balancer vs nginx ssl: redirects/s, $mode (higher is better)" "$b_rps" "$n_rps"
  row "HTTPS balancer vs HAProxy ssl: redirects/s, $mode (higher is better)" "$b_rps" "$h_rps"
  row "HTTPS balancer vs nginx ssl: CPU us per redirect, $mode (lower is better)" "$b_cpu" "$n_cpu"
  row "HTTPS balancer vs HAProxy ssl: CPU us per redirect, $mode (lower is better)" "$b_cpu" "$h_cpu"
  row "HTTPS balancer vs nginx ssl: wrk's p99 ms, $mode (closed loop: holds wrk's queue)" "$b_p99" "$n_p99"
  row "HTTPS balancer vs HAProxy ssl: wrk's p99 ms, $mode (closed loop: holds wrk's queue)" "$b_p99" "$h_p99"
done

# wrk is a closed loop on one core, and in the HTTPS rows it is the saturated side (95-100% of
# its core against every server): the latency it reports runs from writing a request to its
# event loop reading the answer, so it holds wrk's own queue, which grows as the server gets
# faster (the server that leaves wrk more connections ready at once makes each of wrk's loop
# turns longer). Three measures that do not: the server's own time, from packets; the whole
# exchange at a fixed rate every side sustains, with full handshakes (hey); and the same with
# resumed sessions and over kept-alive connections (bench/loadgen, an open loop).
#
# 1. Packets (tcpdump on loopback, needs root): separate wrk runs of at most 3 s (the capture
# costs CPU and disk; it is not running during the rounds above), $runs rounds taken in turn,
# timed from the packets by bench/pcap_phases.py: from a request's arrival to the answer's first
# byte leaving, and (close) from the ClientHello's arrival to the server's first flight. Full
# tables: bench/out/phases.txt.
pcap_run() { # pcap_run PORT=PATH [wrk options]: "answer_p50 answer_p99 hello_p99"
  local port=${1%%=*} path=${1#*=} cap="$dir/cap.${1%%=*}.pcap" tpid res
  shift
  tcpdump -B 65536 -i lo -s 96 -w "$cap" "tcp port $port" 2>"$dir/tcpdump.$port.log" &
  tpid=$!
  for _ in $(seq 50); do grep -q 'listening on' "$dir/tcpdump.$port.log" && break; sleep 0.1; done
  wrk -t1 -c64 -d"$(( secs < 3 ? secs : 3 ))s" "$@" "https://localhost:$port$path" >>"$dir/wrk.log"
  sleep 0.2
  kill -INT "$tpid"; wait "$tpid" 2>/dev/null || true
  res=$(python3 bench/pcap_phases.py "$cap" "$port")
  rm -f "$cap"
  { echo "== port $port $path $*: $(grep -o '[0-9]* packets dropped by kernel' "$dir/tcpdump.$port.log")"
    echo "$res" | sed '$d'; } >>bench/out/phases.txt
  echo "$res" | awk '$1 == "summary" {print $2, $3, $4}'
}
# pcap_rr [wrk options] -- PORT=PATH...: per port the medians of pcap_run's three figures.
pcap_rr() { rr pcap_run "$@"; }
if [ "$(id -u)" = 0 ] && command -v tcpdump >/dev/null; then
  echo "== HTTPS, wrk -t1 -c64 captured with tcpdump: the servers' own time per request, median of $runs rounds"
  : >bench/out/phases.txt
  { read -r s_a50 s_a99 _; read -r n_a50 n_a99 _; } <<<"$(pcap_rr -- "$ts=/1k.bin" "$tn_static=/1k.bin")"
  row "HTTPS server vs nginx ssl: request in -> answer out, p50 ms, keep-alive (packets; lower is better)" "$s_a50" "$n_a50"
  row "HTTPS server vs nginx ssl: request in -> answer out, p99 ms, keep-alive (packets; lower is better)" "$s_a99" "$n_a99"
  for mode in keep-alive close; do
    hdr=()
    [ "$mode" = close ] && hdr=(-H "Connection: close")
    { read -r b_a50 b_a99 b_h99; read -r n_a50 n_a99 n_h99; read -r h_a50 h_a99 h_h99; } <<<"$(pcap_rr "${hdr[@]}" -- \
      "$tbal=/index.html" "$tn_redirect=/index.html" "$th_redirect=/index.html")"
    for peer in nginx HAProxy; do
      if [ $peer = nginx ]; then a50=$n_a50 a99=$n_a99 h99=$n_h99; else a50=$h_a50 a99=$h_a99 h99=$h_h99; fi
      row "HTTPS balancer vs $peer ssl: request in -> answer out, p50 ms, $mode (packets; lower is better)" "$b_a50" "$a50"
      row "HTTPS balancer vs $peer ssl: request in -> answer out, p99 ms, $mode (packets; lower is better)" "$b_a99" "$a99"
      [ "$mode" = close ] && row "HTTPS balancer vs $peer ssl: ClientHello in -> first flight out, p99 ms, close (packets; lower is better)" "$b_h99" "$h99"
    done
  done
else
  echo "== (packet timings skipped: they need root and tcpdump)"
fi

# 2. Fixed rate: hey (Go's TLS client, no session cache, so every connection is a full
# handshake) opens a new connection per request, 16 workers at 100 requests/s each (1600/s, well
# under every side's capacity), and times the whole exchange: TCP connect, handshake, redirect.
# hey sends the URL's host:port as SNI, which rustls refuses as malformed (RFC 6066 allows a
# host name only): the URL names 127.0.0.1 and -host the name, for every side alike.
hey_run() { # hey_run PORT: "p50_ms p99_ms cpu_us_per_request"
  local port=$1 pid out before after answered
  pid=$(pid_of "$port")
  before=$(cpu_ticks "$pid")
  out=$(hey -z "${secs}s" -c 16 -q 100 -disable-keepalive -disable-redirects -host localhost \
    "https://127.0.0.1:$port/index.html")
  after=$(cpu_ticks "$pid")
  echo "$out" >>"$dir/hey.log"
  answered=$(echo "$out" | awk '$1 == "[301]" {print $2}')
  if echo "$out" | grep -q '^Error distribution' || [ -z "$answered" ]; then
    echo "hey got errors from port $port:" >&2; echo "$out" >&2; return 1
  fi
  echo "$(echo "$out" | awk '$1 == "50%" {p50 = $3 * 1000} $1 == "99%" {p99 = $3 * 1000}
    END {printf "%.2f %.2f", p50, p99}') $(cpu_us "$before" "$after" "$answered")"
}
echo "== HTTPS redirects at a fixed 1600 connections/s, full handshakes (hey -c16 -q100 -disable-keepalive), ${secs}s, median of $runs rounds"
{ read -r b50 b99 bcpu; read -r n50 n99 ncpu; read -r h50 h99 hcpu; } <<<"$(rr hey_run -- "$tbal" "$tn_redirect" "$th_redirect")"
for peer in nginx HAProxy; do
  if [ $peer = nginx ]; then p50=$n50 p99=$n99 cpu=$ncpu; else p50=$h50 p99=$h99 cpu=$hcpu; fi
  row "HTTPS balancer vs $peer ssl, 1600/s full handshakes: connect to redirect p50 ms (lower is better)" "$b50" "$p50"
  row "HTTPS balancer vs $peer ssl, 1600/s full handshakes: connect to redirect p99 ms (lower is better)" "$b99" "$p99"
  row "HTTPS balancer vs $peer ssl, 1600/s full handshakes: CPU us per redirect (lower is better)" "$bcpu" "$cpu"
done

# 3. Fixed rate, open loop: bench/loadgen (rustls, X25519 like wrk's OpenSSL) sends requests on
# a schedule, one every 1/RATE s whether or not earlier ones are answered, and times each from
# when it was due to the answer's last byte, so a stall anywhere counts against the run (wrk2's
# way; no coordinated omission). Close: a new connection per request, sessions resumed as wrk
# does. Keep-alive: 64 connections opened first, the requests spread over them in turn. Rates
# well under every side's capacity (wrk above: ~3k/s close, ~20k/s and more keep-alive). One
# second of warm-up at the same rate is not counted; CPU is divided by every request sent.
lg_run() { # lg_run PORT=PATH [loadgen options]: "p50_ms p90_ms p99_ms cpu_us_per_request"
  local port=${1%%=*} path=${1#*=} pid out before after made p50 p90 p99
  shift
  pid=$(pid_of "$port")
  before=$(cpu_ticks "$pid")
  out=$("$bin/loadgen" --connect "127.0.0.1:$port" --name localhost --path "$path" \
    --cacert "$dir/tls/ca.pem" --seconds "$secs" "$@" 2>>"$dir/loadgen.log") || {
    echo "loadgen failed against port $port:" >&2; tail -n 8 "$dir/loadgen.log" >&2; return 1; }
  after=$(cpu_ticks "$pid")
  # summary SENT OK FAILED RESUMED P50 P90 P99 MAX REQUEST_P50 REQUEST_P99 MAX_LAG
  read -r _ made _ _ _ p50 p90 p99 _ <<<"$out"
  echo "$p50 $p90 $p99 $(cpu_us "$before" "$after" "$made")"
}
echo "== HTTPS at a fixed rate, open loop (bench/loadgen), ${secs}s, median of $runs rounds"
{ read -r s50 s90 s99 scpu; read -r n50 n90 n99 ncpu; } <<<"$(rr lg_run --rate 10000 --keep-alive 64 --expect 200 -- \
  "$ts=/1k.bin" "$tn_static=/1k.bin")"
row "HTTPS server vs nginx ssl, 10000/s over 64 kept-alive connections: 1 KiB due to answered p50 ms" "$s50" "$n50"
row "HTTPS server vs nginx ssl, 10000/s over 64 kept-alive connections: p90 ms" "$s90" "$n90"
row "HTTPS server vs nginx ssl, 10000/s over 64 kept-alive connections: p99 ms (lower is better)" "$s99" "$n99"
row "HTTPS server vs nginx ssl, 10000/s over 64 kept-alive connections: CPU us per request" "$scpu" "$ncpu"
for mode in keep-alive close; do
  if [ "$mode" = close ]; then opts=(--rate 1600); what="1600/s, a resumed handshake each"
  else opts=(--rate 10000 --keep-alive 64); what="10000/s over 64 kept-alive connections"; fi
  { read -r b50 b90 b99 bcpu; read -r n50 n90 n99 ncpu; read -r h50 h90 h99 hcpu; } <<<"$(rr lg_run "${opts[@]}" -- \
    "$tbal=/index.html" "$tn_redirect=/index.html" "$th_redirect=/index.html")"
  for peer in nginx HAProxy; do
    if [ $peer = nginx ]; then p50=$n50 p90=$n90 p99=$n99 cpu=$ncpu; else p50=$h50 p90=$h90 p99=$h99 cpu=$hcpu; fi
    row "HTTPS balancer vs $peer ssl, $what: due to redirected p50 ms" "$b50" "$p50"
    row "HTTPS balancer vs $peer ssl, $what: p90 ms" "$b90" "$p90"
    row "HTTPS balancer vs $peer ssl, $what: p99 ms (lower is better)" "$b99" "$p99"
    row "HTTPS balancer vs $peer ssl, $what: CPU us per redirect" "$bcpu" "$cpu"
  done
done

echo "== client vs curl over HTTPS: 100 MiB from nginx ssl to a file, median of $(( runs > 9 ? runs : 9 )) taken in turn"
turl="https://localhost:$tn_static/100m.bin"
res=$(timed_pair "$bin/client" -q --cacert "$dir/tls/ca.pem" -o "$dir/client-tls.out" "$turl" -- \
  curl -s --cacert "$dir/tls/ca.pem" -o "$dir/curl-tls.out" "$turl")
read -r c_t c_rss u_t u_rss <<<"$res"
cmp -s "$dir/client-tls.out" "$dir/files/100m.bin" || { echo "client's HTTPS download differs from the file" >&2; exit 1; }
row "client vs curl over HTTPS: 100 MiB wall seconds (lower is better)" "$c_t" "$u_t"
row "client vs curl over HTTPS: peak RSS KiB (lower is better)" "$c_rss" "$u_rss"

{
  echo "Machine: $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB; $(date -u +%Y-%m-%d)."
  echo "nginx $(nginx -v 2>&1 | sed 's#.*/##'), HAProxy $(haproxy -v | head -1 | awk '{print $3}'), $(curl --version | head -1 | awk '{print $1, $2}'), wrk -t1 -c64 -d${secs}s, median of $runs rounds taken in turn; CPU = utime+stime of the serving processes from /proc, divided by requests."
  echo
  echo "| measure | Ricochet | peer | ratio |"
  echo "|---|---|---|---|"
  printf '%s\n' "${rows[@]}"
} | tee bench/out/results.md
