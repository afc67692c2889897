#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine that has only Go.
# It installs whatever the tests need first: redis-server and chromium from
# Debian's packages (as root, with apt-get); the Go modules `go test`
# downloads itself. Tests that need redis-server or chromium fail, rather than
# skip, without them when CI=true.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== system packages"
missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
command -v chromium >/dev/null || missing+=(chromium)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  if [ "$(id -u)" -ne 0 ]; then
    echo "need root to apt-get install ${missing[*]}"; exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
redis-server --version
chromium --version 2>/dev/null || true

echo "== gofmt"
unformatted=$(gofmt -l . | grep -v '^vendor/' || true)
if [ -n "$unformatted" ]; then
  echo "gofmt would change:"; echo "$unformatted"; exit 1
fi

echo "== go vet"
go vet ./...

echo "== cross-build (what users import, and the conformance suite, on macOS and Windows)"
libs=$(go list ./... | grep -v -e /cmd/ -e /internal/)
for os in darwin windows; do
  GOOS=$os go build $libs
done

echo "== staticcheck (pinned)"
go install honnef.co/go/tools/cmd/staticcheck@v0.8.2
"$(go env GOPATH)/bin/staticcheck" ./...

echo "== ssebench -quick (smoke run: it must complete and produce numbers; no timing is checked)"
bench_out=$(go run ./cmd/ssebench -quick -json)
for field in '"throughput_events_per_s"' '"rss_bytes_per_conn"' '"p99_ms"' '"server_cpu_seconds"' '"allocs_per_heartbeat"' '"throughput_vs_raw"' '"deliveries_per_s"' '"p99_vs_raw"' '"server_cpu_s_per_heartbeat_round"'; do
  if ! grep -q "$field" <<<"$bench_out"; then
    echo "ssebench -quick produced no $field"; exit 1
  fi
done
if grep -q '"throughput_events_per_s": 0,' <<<"$bench_out"; then
  echo "ssebench -quick: a target streamed no events"; exit 1
fi
echo "ssebench -quick: completed with numbers for every scenario"

echo "== go test -race"
go test -race -count=1 ./...

echo "== fuzz (each target for a short, bounded time; seed corpora in conformance/testdata/fuzz)"
# Go minimizes every new interesting input for up to a minute by default,
# which would spend most of the 15 s on one input (no inputs run meanwhile):
# a short minimization leaves the time to fuzzing.
for target in FuzzEventRoundTrip FuzzParser; do
  go test -run '^$' -fuzz "^${target}\$" -fuzztime 15s -fuzzminimizetime 2s ./conformance
done
