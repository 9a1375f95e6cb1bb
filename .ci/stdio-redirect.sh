#!/usr/bin/env bash
# Runs core's stdio_redirect example natively and as wasm32-wasip1 under Wasmtime, and checks that
# both give the same status and Location rules: a redirect to one of the servers, 503 with none,
# the parser's status for malformed input. Prints 'N passed, N failed'.
set -uo pipefail
cd "$(dirname "$0")/.."
cargo build -q -p ricochet-core --example stdio_redirect || exit 1
cargo build -q -p ricochet-core --example stdio_redirect --target wasm32-wasip1 || exit 1
native=(target/debug/examples/stdio_redirect)
wasi=(python3 .ci/wasi-run.py target/wasm32-wasip1/debug/examples/stdio_redirect.wasm)
passed=0 failed=0

# check NAME INPUT EXPECTED-STATUS LOCATION-REGEX ARGS...
check() {
  local name=$1 input=$2 status=$3 location=$4
  shift 4
  for runner in native wasi; do
    local -n cmd=$runner
    local out
    out=$(printf "$input" | "${cmd[@]}" "$@" | tr -d '\r')
    local got_status got_location
    got_status=$(head -n1 <<<"$out" | cut -d' ' -f2)
    got_location=$(sed -n 's/^Location: //p' <<<"$out")
    if [ "$got_status" = "$status" ] && [[ "$got_location" =~ ^${location}$ ]] &&
      grep -qx 'Connection: close' <<<"$out"; then
      passed=$((passed + 1))
    else
      failed=$((failed + 1))
      echo "FAILED $name ($runner): status '$got_status', Location '$got_location'"
      echo "$out" | head -n 12
    fi
  done
}

get='GET /a%%20b?x=1 HTTP/1.1\r\nHost: x\r\n\r\n'
check "redirect to a ranked server" "$get" 301 'http://127\.0\.0\.1:(1|2)/a%20b\?x=1' \
  127.0.0.1:1=0.5 127.0.0.1:2=0.1
check "--redirect 307" "$get" 307 'http://\[::1\]:8080/a%20b\?x=1' --redirect 307 '[::1]:8080'
check "no server" "$get" 503 ''
check "malformed request line" 'GET /a HTTP/9.9\r\n\r\n' 505 '' 127.0.0.1:1
check "head cut short" 'GET /a HTTP/1.1\r\nHost:' 400 '' 127.0.0.1:1
check "POST" 'POST / HTTP/1.1\r\nHost: x\r\n\r\n' 405 '' 127.0.0.1:1

echo "stdio_redirect: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
