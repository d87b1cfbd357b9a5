#!/usr/bin/env bash
# Browser check: feedmill's pages (/, a topic page, /sources) opened in headless Chromium on a
# desktop and a phone-sized viewport. Fails on a console error, a failed request, a page wider
# than the screen, or a page missing its language, title or main heading; saves screenshots.
#
#   scripts/browsercheck.sh [OUT_DIR]     # screenshots to OUT_DIR (default: target/browsercheck)
#   UPDATE_DOCS=1 PUBLIC_URL=http://localhost:8080 scripts/browsercheck.sh
#                                         # also copy the desktop / and a topic page to docs/
#
# PUBLIC_URL sets `base_url` (default: the address it listens on), so the screenshots in the
# README show a URL like a reader would see; the pages make no request to it.
#
# Needs (installs nothing): chromium (Debian package `chromium`; or set CHROMIUM to another
# binary), node and npm with `npm ci --prefix scripts/browsercheck` run once (playwright-core,
# which only drives the system Chromium), python3, curl, a Rust toolchain. On Debian:
# apt-get install -y chromium nodejs npm
#
# It builds feedmill (debug, unless FEEDMILL_BIN names a binary), serves the feeds in
# tests/fixtures from python3 -m http.server on 127.0.0.1, runs `feedmill fetch` into a fresh
# store and starts `feedmill serve` with a few topics over them. Everything runs in a temporary
# directory that is removed at the end, with every process started, also on Ctrl-C.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
chromium_bin=${CHROMIUM:-/usr/bin/chromium}

missing=()
for tool in node python3 curl; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
[[ -x $chromium_bin ]] || missing+=("chromium ($chromium_bin)")
if ((${#missing[@]})); then
    echo "browsercheck: missing ${missing[*]}; on Debian: apt-get install -y chromium nodejs npm python3 curl" >&2
    exit 2
fi
if [[ ! -d $repo/scripts/browsercheck/node_modules/playwright-core ]]; then
    echo "browsercheck: run 'npm ci --prefix scripts/browsercheck' once (installs playwright-core)" >&2
    exit 2
fi

if [[ -n ${FEEDMILL_BIN:-} ]]; then
    feedmill=$FEEDMILL_BIN
else
    (cd "$repo" && cargo build --quiet)
    feedmill=$repo/target/debug/feedmill
fi

tmp=$(mktemp -d)
out=${1:-$repo/target/browsercheck}
pids=()
cleanup() {
    local pid
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${pids[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_for() {
    local i
    for i in $(seq 100); do
        curl -s -o /dev/null "$1" && return 0
        sleep 0.1
    done
    echo "browsercheck: $1 did not come up" >&2
    exit 1
}

origin_port=$(free_port)
port=$(free_port)
python3 -m http.server --bind 127.0.0.1 --directory "$repo/tests/fixtures" "$origin_port" \
    >"$tmp/origin.log" 2>&1 &
pids+=("$!")
wait_for "http://127.0.0.1:$origin_port/"

origin=http://127.0.0.1:$origin_port
cat >"$tmp/feeds.toml" <<EOF
[server]
listen = "127.0.0.1:$port"
base_url = "${PUBLIC_URL:-http://127.0.0.1:$port}"

[store]
path = "$tmp/store"

[fetch]
schedule = "1h"
allow_private = true
host_spacing = "0s"

[[source]]
name = "The Diplomat"
url = "$origin/diplomat-wordpress.xml"
tags = ["asia", "news"]

[[source]]
name = "Central Asia Wire"
url = "$origin/wire-syndicated.xml"
tags = ["asia", "news"]

[[source]]
name = "Steppe Courier"
url = "$origin/courier-reposted.xml"
tags = ["asia", "news"]

[[source]]
name = "Google News: kyrgyzstan"
url = "$origin/aggregator-google-news.xml"
tags = ["asia", "aggregator"]

[[source]]
name = "Binary Code"
url = "$origin/realworld-binarycode.rss.xml"
tags = ["software"]

[[source]]
name = "Adam Bitscribe"
url = "$origin/realworld-bitscribe.atom.xml"
tags = ["software"]

[[topic]]
slug = "central-asia-security"
title = "Central Asia security"
description = "Security, terrorism and border news from Central Asia"
query = '''
("central asia" OR kazakh* OR kyrgyz* OR tajik* OR turkmen* OR uzbek*)
AND (security OR terror* OR militant* OR border* OR police)
'''

[[topic]]
slug = "central-asia"
title = "Central Asia"
description = "Everything the Central Asian sources publish, once per story"
query = "tag:asia"

[[topic]]
slug = "software"
title = "Software & tools"
query = "tag:software"
content = "full"
EOF

# A source failing here would leave a topic empty: the check needs entries to look at.
"$feedmill" --config "$tmp/feeds.toml" -q fetch >"$tmp/fetch.log" 2>&1 || {
    cat "$tmp/fetch.log" >&2
    exit 1
}
"$feedmill" --config "$tmp/feeds.toml" -q serve >"$tmp/serve.log" 2>&1 &
pids+=("$!")
wait_for "http://127.0.0.1:$port/healthz"

status=0
node "$repo/scripts/browsercheck/browsercheck.mjs" "http://127.0.0.1:$port" "$out" \
    / /topics/central-asia /topics/software /sources || status=$?
if ((status == 0)) && [[ ${UPDATE_DOCS:-0} == 1 ]]; then
    mkdir -p "$repo/docs"
    cp "$out/desktop-index.png" "$repo/docs/index.png"
    cp "$out/desktop-topics-central-asia.png" "$repo/docs/topic.png"
    echo "browsercheck: updated docs/index.png and docs/topic.png"
fi
exit "$status"
