#!/usr/bin/env bash
# Whole-system benchmarks for `just bench`: Ricochet's server, client and balancer against nginx,
# curl and HAProxy, on this machine, in the same run, over loopback only.
#
#   bash bench/run.sh            # BENCH_SECONDS=10 per wrk run, BENCH_RUNS=5 rounds by default
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
[ -x /usr/bin/time ] || need+=(time)
command -v curl >/dev/null || need+=(curl)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing ${need[*]} from Debian's packages"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq "${need[@]}" >/dev/null
fi
export PATH=$PATH:/usr/sbin

cargo build --release -q -p ricochet --bins
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

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { # wait until something answers HTTP on 127.0.0.1:$1 (bounded: 10 s)
  for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$1/" && return 0; sleep 0.1; done
  echo "nothing answered on port $1" >&2; return 1
}
start_ricochet() { # start_ricochet NAME ARGS...; prints the bound port
  local name=$1; shift
  RICOCHET_LOG=warn "$bin/$name" "$@" >"$dir/$name.$$.$RANDOM.log" 2>&1 &
  local pid=$! log
  echo "$pid" >>"$dir/pids"
  log=$(ls -t "$dir"/"$name".*.log | head -1)
  for _ in $(seq 100); do
    if grep -q 'listening on' "$log"; then
      grep -m1 -o 'listening on http://[^ ]*' "$log" | sed 's#.*:##; s#/$##'
      return 0
    fi
    sleep 0.1
  done
  echo "$name did not start: $(cat "$log")" >&2; return 1
}

# wrk: prints "requests/s p99_ms"
wrk_run() {
  local out
  out=$(wrk -t1 -c64 -d"${secs}s" --latency "$@")
  echo "$out" >>"$dir/wrk.log"
  if echo "$out" | grep -q 'Non-2xx or 3xx'; then
    echo "wrk got error responses from $*:" >&2; echo "$out" >&2; return 1
  fi
  local rps p99
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  p99=$(echo "$out" | awk '$1 == "99%" {v=$2; if (v ~ /us$/) {sub(/us/,"",v); v=v/1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v=v*1000}; print v}')
  echo "${rps:-0} ${p99:-0}"
}
# Round-robin wrk over several targets, $runs rounds (so drift on a shared machine hits every
# side alike); prints one line per target, in order: "median_rps median_p99_ms".
# Usage: wrk_rr [wrk options] -- URL...
wrk_rr() {
  local opts=() urls=() r i
  while [ "$1" != "--" ]; do opts+=("$1"); shift; done
  shift
  urls=("$@")
  declare -A rps p99
  for r in $(seq "$runs"); do
    for i in "${!urls[@]}"; do
      local res
      res=$(wrk_run "${opts[@]}" "${urls[$i]}") || return 1
      rps[$i]+="${res% *} "
      p99[$i]+="${res#* } "
    done
  done
  for i in "${!urls[@]}"; do
    echo "$(median ${rps[$i]}) $(median ${p99[$i]})"
  done
}
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
# timed download to a file: prints "wall_seconds peak_rss_kib" (best wall, max RSS of the runs)
timed() {
  local best=999999 rss=0 t r
  for _ in $(seq "$runs"); do
    /usr/bin/time -v -o "$dir/time.txt" "$@" >/dev/null 2>&1
    t=$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; print s}' "$dir/time.txt")
    r=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$dir/time.txt")
    best=$(python3 -c "print(min($best, $t))"); rss=$(( r > rss ? r : rss ))
  done
  echo "$best $rss"
}
ratio() { python3 -c "a,b=float('$1'),float('$2'); print(f'{a/b:.2f}' if b else 'n/a')"; }

echo "== starting servers"
ours=$(start_ricochet server --listen 127.0.0.1:0 --root "$dir/files")
# nginx runs `worker_processes auto`, one per core: the like-for-like server runs as many workers.
ours_n=$(start_ricochet server --workers "$(nproc)" --listen 127.0.0.1:0 --root "$dir/files")
b1=$(start_ricochet server --listen 127.0.0.1:0 --root "$dir/files")
b2=$(start_ricochet server --listen 127.0.0.1:0 --root "$dir/files")
b3=$(start_ricochet server --listen 127.0.0.1:0 --root "$dir/files")
nginx_static=$(free_port); nginx_redirect=$(free_port); haproxy_redirect=$(free_port)
sed -e "s#@DIR@#$dir#g" -e "s#@STATIC_PORT@#$nginx_static#g" -e "s#@REDIRECT_PORT@#$nginx_redirect#g" \
  -e "s#@TARGET@#127.0.0.1:$b1#g" bench/nginx.conf.in >"$dir/nginx.conf"
sed -e "s#@REDIRECT_PORT@#$haproxy_redirect#g" -e "s#@TARGET@#127.0.0.1:$b1#g" \
  bench/haproxy.cfg.in >"$dir/haproxy.cfg"
nginx -c "$dir/nginx.conf" -p "$dir" &
pids+=($!)
haproxy -f "$dir/haproxy.cfg" -q &
pids+=($!)
bal=$(start_ricochet balancer --listen 127.0.0.1:0 --probe-path /probe.bin \
  "127.0.0.1:$b1" "127.0.0.1:$b2" "127.0.0.1:$b3")
wait_port "$nginx_static"; wait_port "$nginx_redirect"; wait_port "$haproxy_redirect"

rows=()
row() { rows+=("| $1 | $2 | $3 | $4 |"); printf '%-58s ours %-12s theirs %-12s ratio %s\n' "$1" "$2" "$3" "$4"; }

echo "== server vs nginx: 1 KiB file, wrk -t1 -c64 keep-alive, ${secs}s, median of $runs rounds"
res=$(wrk_rr -- "http://127.0.0.1:$ours_n/1k.bin" "http://127.0.0.1:$ours/1k.bin" "http://127.0.0.1:$nginx_static/1k.bin")
{ read -r sn_rps sn_p99; read -r s_rps s_p99; read -r n_rps n_p99; } <<<"$res"
row "server --workers $(nproc) vs nginx (workers auto = $(nproc)): 1 KiB requests/s (higher is better)" "$sn_rps" "$n_rps" "$(ratio "$sn_rps" "$n_rps")"
row "server, 1 worker (default) vs nginx: 1 KiB requests/s (higher is better)" "$s_rps" "$n_rps" "$(ratio "$s_rps" "$n_rps")"
row "server --workers $(nproc) vs nginx: p99 ms (lower is better)" "$sn_p99" "$n_p99" "$(ratio "$sn_p99" "$n_p99")"
row "server, 1 worker vs nginx: p99 ms (lower is better)" "$s_p99" "$n_p99" "$(ratio "$s_p99" "$n_p99")"

echo "== server vs nginx: 100 MiB download with curl, best of $runs"
s_t=$(curl_best "http://127.0.0.1:$ours/100m.bin")
n_t=$(curl_best "http://127.0.0.1:$nginx_static/100m.bin")
row "server vs nginx: 100 MiB download seconds (lower is better)" "$s_t" "$n_t" "$(ratio "$s_t" "$n_t")"

echo "== client vs curl: 100 MiB from nginx to a file, best of $runs"
res=$(timed "$bin/client" -q -o "$dir/client.out" "http://127.0.0.1:$nginx_static/100m.bin"); read -r c_t c_rss <<<"$res"
res=$(timed curl -s -o "$dir/curl.out" "http://127.0.0.1:$nginx_static/100m.bin"); read -r u_t u_rss <<<"$res"
cmp -s "$dir/client.out" "$dir/files/100m.bin" || { echo "client's download differs from the file" >&2; exit 1; }
row "client vs curl: 100 MiB wall seconds (lower is better)" "$c_t" "$u_t" "$(ratio "$c_t" "$u_t")"
row "client vs curl: peak RSS KiB (lower is better)" "$c_rss" "$u_rss" "$(ratio "$c_rss" "$u_rss")"

for mode in keep-alive close; do
  hdr=()
  [ "$mode" = close ] && hdr=(-H "Connection: close")
  echo "== balancer vs nginx vs HAProxy: redirects, wrk -t1 -c64 $mode, ${secs}s, median of $runs rounds"
  res=$(wrk_rr "${hdr[@]}" -- "http://127.0.0.1:$bal/index.html" \
    "http://127.0.0.1:$nginx_redirect/index.html" "http://127.0.0.1:$haproxy_redirect/index.html")
  { read -r b_rps b_p99; read -r n_rps n_p99; read -r h_rps h_p99; } <<<"$res"
  row "balancer vs nginx: redirects/s, $mode (higher is better)" "$b_rps" "$n_rps" "$(ratio "$b_rps" "$n_rps")"
  row "balancer vs HAProxy: redirects/s, $mode (higher is better)" "$b_rps" "$h_rps" "$(ratio "$b_rps" "$h_rps")"
  row "balancer vs nginx: p99 ms, $mode (lower is better)" "$b_p99" "$n_p99" "$(ratio "$b_p99" "$n_p99")"
  row "balancer vs HAProxy: p99 ms, $mode (lower is better)" "$b_p99" "$h_p99" "$(ratio "$b_p99" "$h_p99")"
done

{
  echo "Machine: $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB; $(date -u +%Y-%m-%d)."
  echo "nginx $(nginx -v 2>&1 | sed 's#.*/##'), HAProxy $(haproxy -v | head -1 | awk '{print $3}'), $(curl --version | head -1 | awk '{print $1, $2}'), wrk -t1 -c64 -d${secs}s, median of $runs rounds taken in turn."
  echo
  echo "| measure | Ricochet | peer | ratio |"
  echo "|---|---|---|---|"
  printf '%s\n' "${rows[@]}"
} | tee bench/out/results.md
