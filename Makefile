# Codex-32 developer tasks. `make test` is the whole suite on SQLite and on
# Postgres (TEST_DATABASE_URL, or a throwaway cluster started here).
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
GO ?= go
GOTESTFLAGS ?= -race -count=1 -timeout 15m
PKGS ?= ./...

.PHONY: check-observability run build test test-race test-sqlite test-postgres generate css lint bench bench-sqlite bench-postgres perf-pages perf-engine perf-api

run:
	$(GO) run ./cmd/codex32

build:
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/codex32 ./cmd/codex32

# Regenerate committed artefacts: templ's *_templ.go, the API client
# (apiclient/, from handlers/openapi/openapi.yaml), Tailwind's app.css and the vendored htmx.
generate:
	$(GO) tool templ generate
	$(GO) generate ./apiclient/...
	npm run --silent build

css:
	npm run --silent build:css

# The shipped Prometheus config, alert rules (with their unit tests) and
# Grafana dashboard; needs promtool (see .ci/run for the pinned version).
check-observability:
	bash deploy/observability/check.sh

lint:
	gofmt -l $$(git ls-files '*.go') | (! grep .) || (echo "gofmt: the files above need formatting"; exit 1)
	$(GO) vet ./...
	golangci-lint run --allow-parallel-runners ./...

# make test: every package on both databases. The race detector runs on the
# whole Postgres suite, and on SQLite for every package but handlers and
# cmd/codex32: there the pure-Go SQLite driver, instrumented too, tripled
# the time (handlers 131 s → 366+ s) while the concurrent code those
# packages drive (engine, batchers, sandbox pool, sessions) runs under
# -race in runner, models and web on SQLite and everywhere on Postgres.
# make test-race runs everything under -race on both.
SQLITE_NORACE_PKGS ?= ./handlers/... ./cmd/codex32/...
TESTFLAGS ?= -count=1 -timeout 15m

test:
	@ran=""; \
	norace="$$($(GO) list $(SQLITE_NORACE_PKGS))"; \
	race="$$($(GO) list $(PKGS) | grep -vxF "$$norace")"; \
	echo "==> [1/2] SQLite suite: go test -race $(TESTFLAGS) (all but $(SQLITE_NORACE_PKGS)), then go test $(TESTFLAGS) $(SQLITE_NORACE_PKGS)"; \
	env -u TEST_DATABASE_URL $(GO) test -race $(TESTFLAGS) $$race; \
	env -u TEST_DATABASE_URL $(GO) test $(TESTFLAGS) $$norace; \
	ran="SQLite"; \
	if [ -n "$${TEST_DATABASE_URL:-}" ]; then \
	  echo "==> [2/2] Postgres suite on TEST_DATABASE_URL"; \
	  $(GO) test $(GOTESTFLAGS) $(PKGS); \
	  ran="$$ran, Postgres"; \
	else \
	  echo "==> [2/2] Postgres suite on a throwaway cluster"; \
	  set +e; $(GO) run ./internal/withpg -- $(GO) test $(GOTESTFLAGS) $(PKGS); rc=$$?; set -e; \
	  if [ $$rc -eq 3 ]; then \
	    echo ""; \
	    echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"; \
	    echo "!! NO POSTGRES: initdb/pg_ctl not found. The Postgres suite DID NOT RUN.   !!"; \
	    echo "!! Install the postgresql package or set TEST_DATABASE_URL.                 !!"; \
	    echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"; \
	  elif [ $$rc -ne 0 ]; then exit $$rc; \
	  else ran="$$ran, Postgres"; fi; \
	fi; \
	echo "==> Databases tested: $$ran"

# Everything under the race detector, on both databases.
test-race:
	env -u TEST_DATABASE_URL $(GO) test $(GOTESTFLAGS) $(PKGS)
	@if [ -n "$${TEST_DATABASE_URL:-}" ]; then $(GO) test $(GOTESTFLAGS) $(PKGS); \
	else $(GO) run ./internal/withpg -- $(GO) test $(GOTESTFLAGS) $(PKGS); fi

test-sqlite:
	env -u TEST_DATABASE_URL $(GO) test $(GOTESTFLAGS) $(PKGS)

test-postgres:
	@if [ -n "$${TEST_DATABASE_URL:-}" ]; then $(GO) test $(GOTESTFLAGS) $(PKGS); \
	else $(GO) run ./internal/withpg -- $(GO) test $(GOTESTFLAGS) $(PKGS); fi

# Page times on a large seeded Postgres (see handlers/pages_perf_test.go).
CODEX32_PERF_BOTS ?= 100000
CODEX32_PERF_EXECUTIONS ?= 1000000
CODEX32_PERF_AUDIT ?= 1000000
perf-pages:
	@export CODEX32_PERF_BOTS=$(CODEX32_PERF_BOTS) CODEX32_PERF_EXECUTIONS=$(CODEX32_PERF_EXECUTIONS) CODEX32_PERF_AUDIT=$(CODEX32_PERF_AUDIT); \
	if [ -n "$${TEST_DATABASE_URL:-}" ]; then $(GO) test -v -count=1 -timeout 30m -run TestPagePerformance ./handlers/ | grep -v "level="; \
	else $(GO) run ./internal/withpg -- $(GO) test -v -count=1 -timeout 30m -run TestPagePerformance ./handlers/ | grep -v "level="; fi

BENCHFLAGS ?= -run '^$$' -bench . -benchmem -benchtime 2s
bench: bench-sqlite bench-postgres

bench-sqlite:
	@echo "==> Benchmarks on SQLite"
	env -u TEST_DATABASE_URL $(GO) test $(BENCHFLAGS) ./models/

bench-postgres:
	@echo "==> Benchmarks on Postgres"
	@if [ -n "$${TEST_DATABASE_URL:-}" ]; then $(GO) test $(BENCHFLAGS) ./models/; \
	else $(GO) run ./internal/withpg -- $(GO) test $(BENCHFLAGS) ./models/; fi

# Engine throughput, INSERT baseline and queue latency on SQLite, then on a
# throwaway Postgres (see runner/engine_perf_test.go), plus worker memory.
perf-engine:
	@export CODEX32_PERF_ENGINE=1; \
	echo "==> SQLite"; env -u TEST_DATABASE_URL $(GO) test -v -count=1 -timeout 30m -run 'TestEnginePerformance' ./runner/ | grep -E "RESULT|FAIL|ok"; \
	echo "==> Postgres (fsync on)"; export WITHPG_DURABLE=1; \
	if [ -n "$${TEST_DATABASE_URL:-}" ]; then $(GO) test -v -count=1 -timeout 30m -run 'TestEnginePerformance' ./runner/ | grep -E "RESULT|FAIL|ok"; \
	else $(GO) run ./internal/withpg -- $(GO) test -v -count=1 -timeout 30m -run 'TestEnginePerformance' ./runner/ | grep -E "RESULT|FAIL|ok"; fi; \
	echo "==> Worker memory"; env -u TEST_DATABASE_URL $(GO) test -v -count=1 -timeout 30m -run 'TestWorkerMemory' ./cmd/codex32/ | grep -E "RESULT|FAIL|ok"

# API load (vegeta beside a real `codex32 serve`, see cmd/codex32/api_perf_test.go):
# POST /api/v1/bots/{id}/executions with Idempotency-Keys at 500/s and
# GET /api/v1/bots?limit=50 at 3,000/s, on a throwaway durable Postgres
# (asserted), then on SQLite (reported only).
perf-api:
	@export CODEX32_PERF_API=1; \
	echo "==> Postgres (fsync on)"; export WITHPG_DURABLE=1; \
	if [ -n "$${TEST_DATABASE_URL:-}" ]; then $(GO) test -v -count=1 -timeout 30m -run 'TestAPIPerformance' ./cmd/codex32/ | grep -E "RESULT|Error|FAIL|ok"; \
	else $(GO) run ./internal/withpg -- $(GO) test -v -count=1 -timeout 30m -run 'TestAPIPerformance' ./cmd/codex32/ | grep -E "RESULT|Error|FAIL|ok"; fi; \
	echo "==> SQLite (reported only)"; env -u TEST_DATABASE_URL $(GO) test -v -count=1 -timeout 30m -run 'TestAPIPerformance' ./cmd/codex32/ | grep -E "RESULT|Error|FAIL|ok"
