#!/usr/bin/env bash
# Load benchmark: feedmill serving a topic feed from memory against nginx serving the same bytes
# as a static file, in the same run, each server pinned to one core and wrk to another.
#
#   scripts/loadbench.sh            # builds release, 5 rounds of 10 s per server and case
#
# Needs (installs nothing): wrk, nginx, taskset (util-linux), python3, curl, gzip, a Rust
# toolchain, and the shared feed corpus (../shared/corpus, or $FEEDMILL_SHARED/corpus).
# On Debian: apt-get install -y wrk nginx
#
# What it does, in a temporary directory that it removes at the end (with every process it
# started, also on Ctrl-C):
#   1. serves three real-world corpus feeds (136 items) from python3 -m http.server on
#      127.0.0.1, runs `feedmill fetch` into a fresh store, then stops that origin;
#   2. starts `feedmill serve` with a topic of `limit = 50` over those sources, and saves the
#      exact bytes of /topics/bench.atom and of its gzip coding;
#   3. starts nginx (one worker, access log off, etag on, gzip_static) over those bytes;
#   4. for each case — plain 200, 304 (If-None-Match with the ETag each server gives), gzip
#      (Accept-Encoding: gzip) — runs wrk against both servers, back to back, ROUNDS times
#      after a short warm-up, and prints a Markdown table: median requests/s, p99 latency and
#      requests per CPU-second of each server, and the median of the rounds' feedmill / nginx
#      ratios. The machine is usually shared: the CPU-second figure (from /proc/PID/stat)
#      moves less with other load than requests/s does.
#
# Settings (environment): DURATION (10s), CONNECTIONS (50), THREADS (1), ROUNDS (5),
# CASES ("plain 304 gzip"), SERVER_CPU (0), WRK_CPU (1), FEEDMILL_BIN (skip the build and use this binary),
# FEEDMILL_SHARED (the shared folder holding corpus/), KEEP=1 (keep the temp directory).
set -euo pipefail
export LC_ALL=C

DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-50}
THREADS=${THREADS:-1}
ROUNDS=${ROUNDS:-5}
CASES=${CASES:-plain 304 gzip}
SERVER_CPU=${SERVER_CPU:-0}
WRK_CPU=${WRK_CPU:-1}

repo=$(cd "$(dirname "$0")/.." && pwd)
shared=${FEEDMILL_SHARED:-$repo/../shared}
corpus=$shared/corpus
feeds=(
    rss-parser/test/input/guardian.rss
    feedjira/spec/sample_feeds/SignalvsNoise.xml
    feedjira/spec/sample_feeds/blogpmarcacom.xml
)

missing=()
for tool in wrk nginx taskset python3 curl gzip; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if ((${#missing[@]})); then
    echo "loadbench: missing ${missing[*]}; on Debian: apt-get install -y wrk nginx util-linux python3 curl gzip" >&2
    exit 2
fi
for f in "${feeds[@]}"; do
    [[ -f $corpus/$f ]] || {
        echo "loadbench: corpus file $corpus/$f not found (set FEEDMILL_SHARED)" >&2
        exit 2
    }
done
nginx_bin=$(command -v nginx)

if [[ -n ${FEEDMILL_BIN:-} ]]; then
    feedmill=$FEEDMILL_BIN
else
    (cd "$repo" && cargo build --release --quiet)
    feedmill=$repo/target/release/feedmill
fi

tmp=$(mktemp -d)
# nginx's worker runs as another user (nobody) when started as root: let it read the files.
chmod a+rx "$tmp"
pids=()
cleanup() {
    local pid
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${pids[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    if [[ ${KEEP:-0} == 1 ]]; then
        echo "loadbench: kept $tmp" >&2
    else
        rm -rf "$tmp"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A free TCP port on 127.0.0.1 (the kernel picks it; the small race does not matter here).
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Wait until URL answers (any HTTP status), for at most 10 s.
wait_for() {
    local i
    for i in $(seq 100); do
        curl -s -o /dev/null "$1" && return 0
        sleep 0.1
    done
    echo "loadbench: $1 did not come up" >&2
    exit 1
}

# 1. The origin and the store.
mkdir -p "$tmp/origin" "$tmp/store" "$tmp/www/topics" "$tmp/nginx"
origin_port=$(free_port)
sources=""
for i in "${!feeds[@]}"; do
    cp "$corpus/${feeds[$i]}" "$tmp/origin/feed$i.xml"
    sources+="
[[source]]
name = \"$(basename "${feeds[$i]}")\"
url = \"http://127.0.0.1:$origin_port/feed$i.xml\"
tags = [\"bench\"]
"
done
python3 -m http.server --bind 127.0.0.1 --directory "$tmp/origin" "$origin_port" \
    >"$tmp/origin.log" 2>&1 &
origin_pid=$!
pids+=("$origin_pid")
wait_for "http://127.0.0.1:$origin_port/"

feedmill_port=$(free_port)
cat >"$tmp/feeds.toml" <<EOF
[server]
listen = "127.0.0.1:$feedmill_port"
base_url = "http://127.0.0.1:$feedmill_port"

[store]
path = "$tmp/store"

[fetch]
schedule = "1h"
allow_private = true
host_spacing = "0s"
$sources
[[topic]]
slug = "bench"
title = "Load benchmark"
query = "tag:bench"
limit = 50
EOF
"$feedmill" --config "$tmp/feeds.toml" -q fetch >"$tmp/fetch.log" 2>&1 || {
    cat "$tmp/fetch.log" >&2
    exit 1
}
# The daemon's own first fetch (within its first minute) then fails at once instead of
# competing with the servers for the CPU.
kill "$origin_pid"
wait "$origin_pid" 2>/dev/null || true

# 2. feedmill, and the bytes it serves.
taskset -c "$SERVER_CPU" "$feedmill" --config "$tmp/feeds.toml" -q serve >"$tmp/feedmill.log" 2>&1 &
feedmill_pid=$!
pids+=("$feedmill_pid")
feedmill_url=http://127.0.0.1:$feedmill_port/topics/bench.atom
wait_for "http://127.0.0.1:$feedmill_port/healthz"
curl -sf -o "$tmp/www/topics/bench.atom" "$feedmill_url"
curl -sf -H 'Accept-Encoding: gzip' -o "$tmp/www/topics/bench.atom.gz" "$feedmill_url"
entries=$(grep -o '<entry>' "$tmp/www/topics/bench.atom" | wc -l)
if ((entries != 50)); then
    echo "loadbench: the feed has $entries entries, not 50" >&2
    exit 1
fi
gzip -t "$tmp/www/topics/bench.atom.gz"
touch -r "$tmp/www/topics/bench.atom" "$tmp/www/topics/bench.atom.gz"

# 3. nginx over the same bytes.
nginx_port=$(free_port)
cat >"$tmp/nginx/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $tmp/nginx/body;
    proxy_temp_path $tmp/nginx/proxy;
    fastcgi_temp_path $tmp/nginx/fastcgi;
    uwsgi_temp_path $tmp/nginx/uwsgi;
    scgi_temp_path $tmp/nginx/scgi;
    types { application/atom+xml atom; }
    default_type application/octet-stream;
    charset utf-8;
    charset_types application/atom+xml;
    # nginx's defaults otherwise (tcp_nopush off: with it, the last segment of the plain
    # feed waits for a delayed ACK and p99 is 40 ms).
    sendfile on;
    open_file_cache max=16;
    keepalive_requests 1000000;
    etag on;
    gzip_static on;
    server {
        listen 127.0.0.1:$nginx_port;
        root $tmp/www;
    }
}
EOF
taskset -c "$SERVER_CPU" "$nginx_bin" -e "$tmp/nginx/error.log" -c "$tmp/nginx/nginx.conf" \
    >"$tmp/nginx.log" 2>&1 &
nginx_pid=$!
pids+=("$nginx_pid")
nginx_url=http://127.0.0.1:$nginx_port/topics/bench.atom
wait_for "$nginx_url"

etag_of() {
    curl -sfI "$1" | tr -d '\r' | awk -F': ' 'tolower($1) == "etag" { print $2 }'
}
feedmill_etag=$(etag_of "$feedmill_url" || true)
nginx_etag=$(etag_of "$nginx_url" || true)
if [[ -z $feedmill_etag || -z $nginx_etag ]]; then
    echo "loadbench: no ETag from feedmill ($feedmill_etag) or nginx ($nginx_etag); see $tmp/nginx/error.log (KEEP=1)" >&2
    exit 1
fi

# Check that each case answers as intended, from both servers, before measuring it.
check() { # NAME URL EXPECTED_STATUS EXPECTED_BYTES [HEADER]
    local status size
    read -r status size < <(curl -s -o /dev/null -w '%{http_code} %{size_download}\n' \
        ${5:+-H "$5"} "$2")
    if [[ $status != "$3" || $size != "$4" ]]; then
        echo "loadbench: $1 answered $status with $size bytes, expected $3 with $4" >&2
        exit 1
    fi
}
plain_bytes=$(stat -c %s "$tmp/www/topics/bench.atom")
gzip_bytes=$(stat -c %s "$tmp/www/topics/bench.atom.gz")
for server in feedmill nginx; do
    url_var=${server}_url etag_var=${server}_etag
    check "$server plain" "${!url_var}" 200 "$plain_bytes"
    check "$server 304" "${!url_var}" 304 0 "If-None-Match: ${!etag_var}"
    check "$server gzip" "${!url_var}" 200 "$gzip_bytes" "Accept-Encoding: gzip"
done

# 4. Measure. wrk prints "N requests in T", "Requests/sec: R" and, with --latency,
# "99%  1.23ms". Besides requests/s, the CPU time each server used during the run (utime +
# stime of all its threads, and of nginx's worker) gives requests per CPU-second: on a shared
# machine, where other processes take turns on the same core, that is the steadier figure.
ticks_per_s=$(getconf CLK_TCK)
cpu_ticks() { # PID... -> utime + stime of each, summed, in clock ticks
    local pid total=0 fields
    for pid in "$@"; do
        # Fields after "pid (comm) ": state is 1st, utime 12th, stime 13th.
        fields=$(sed 's/^.*) //' "/proc/$pid/stat")
        total=$((total + $(awk '{ print $12 + $13 }' <<<"$fields")))
    done
    echo "$total"
}
server_pids() { # feedmill|nginx -> the processes that serve
    if [[ $1 == feedmill ]]; then
        echo "$feedmill_pid"
    else
        echo "$nginx_pid" $(pgrep -P "$nginx_pid")
    fi
}
run_wrk() { # URL DURATION [HEADER] -> "REQUESTS REQ_PER_S P99_MS"
    taskset -c "$WRK_CPU" wrk -t"$THREADS" -c"$CONNECTIONS" -d"$2" --latency ${3:+-H "$3"} "$1" |
        awk '
            /Non-2xx or 3xx/ { bad = $NF }
            /Socket errors/ { print "loadbench: wrk: " $0 > "/dev/stderr" }
            / requests in / { n = $1 }
            /^Requests\/sec:/ { rps = $2 }
            $1 == "99%" {
                v = $2
                if (v ~ /us$/) { sub(/us$/, "", v); p99 = v / 1000 }
                else if (v ~ /ms$/) { sub(/ms$/, "", v); p99 = v }
                else if (v ~ /s$/) { sub(/s$/, "", v); p99 = v * 1000 }
            }
            END {
                if (bad != "") { print "loadbench: wrk saw " bad " unexpected responses" > "/dev/stderr"; exit 1 }
                printf "%d %.0f %.2f\n", n, rps, p99
            }'
}
header_for() { # CASE SERVER
    local etag_var=${2}_etag
    case $1 in
    plain) echo "" ;;
    304) echo "If-None-Match: ${!etag_var}" ;;
    gzip) echo "Accept-Encoding: gzip" ;;
    esac
}
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }

echo "machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), load average $(cut -d' ' -f1-3 /proc/loadavg) at start"
echo "feed: /topics/bench.atom, $entries entries, $plain_bytes bytes ($gzip_bytes gzip)"
echo "wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency on cpu $WRK_CPU; servers on cpu $SERVER_CPU"
results=()
for case in $CASES; do
    for server in feedmill nginx; do
        url_var=${server}_url
        run_wrk "${!url_var}" 2s "$(header_for "$case" "$server")" >/dev/null # warm-up
    done
    : >"$tmp/runs"
    for round in $(seq "$ROUNDS"); do
        # Each round runs both servers back to back, the first one alternating, and their
        # ratio is taken within the round: other load on the machine changes slower than that.
        order="feedmill nginx"
        ((round % 2)) || order="nginx feedmill"
        for server in $order; do
            url_var=${server}_url
            read -r -a procs <<<"$(server_pids "$server")"
            before=$(cpu_ticks "${procs[@]}")
            read -r n rps p99 < <(run_wrk "${!url_var}" "$DURATION" "$(header_for "$case" "$server")")
            used=$(($(cpu_ticks "${procs[@]}") - before))
            per_cpu_s=$(awk -v n="$n" -v t="$used" -v hz="$ticks_per_s" 'BEGIN { printf "%.0f", (t > 0 ? n * hz / t : 0) }')
            echo "$round $server $rps $p99 $per_cpu_s" >>"$tmp/runs"
            echo "  $case round $round: $server $rps req/s, p99 $p99 ms, $per_cpu_s req per CPU-second"
        done
    done
    col() { awk -v s="$1" -v c="$2" '$2 == s { print $c }' "$tmp/runs" | median; }
    # Per round: feedmill's figure over nginx's; then the median of those.
    paired() {
        awk -v c="$1" '$2 == "feedmill" { f[$1] = $c } $2 == "nginx" { n[$1] = $c }
            END { for (r in f) if (n[r] > 0) print f[r] / n[r] }' "$tmp/runs" | median
    }
    f_rps=$(col feedmill 3) f_p99=$(col feedmill 4) f_cpu=$(col feedmill 5)
    n_rps=$(col nginx 3) n_p99=$(col nginx 4) n_cpu=$(col nginx 5)
    results+=("$(printf '| %s | %.0f | %.0f | %.2f× | %.2f | %.2f | %.0f | %.0f | %.2f× |' "$case" "$f_rps" "$n_rps" \
        "$(paired 3)" "$f_p99" "$n_p99" "$f_cpu" "$n_cpu" "$(paired 5)")")
done

echo
echo "Medians of $ROUNDS rounds; the ratios are medians of each round's feedmill / nginx."
echo
echo "| case | feedmill req/s | nginx req/s | feedmill / nginx | feedmill p99 ms | nginx p99 ms | feedmill req/CPU-s | nginx req/CPU-s | feedmill / nginx |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
printf '%s\n' "${results[@]}"
echo
echo "load average $(cut -d' ' -f1-3 /proc/loadavg) at end"
