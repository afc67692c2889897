#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine that has only Go.
# It installs whatever the tests need first (today: nothing beyond Go and the
# Go modules, which `go test` downloads itself).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== gofmt"
unformatted=$(gofmt -l . | grep -v '^vendor/' || true)
if [ -n "$unformatted" ]; then
  echo "gofmt would change:"; echo "$unformatted"; exit 1
fi

echo "== go vet"
go vet ./...

echo "== go test -race"
go test -race -count=1 ./...
