# bar9 — PGXS build, plus the two commands of README.md (make up, make test).

EXTENSION = bar9
EXTVERSION = 1.0

MODULE_big = bar9
# every src/*.c is one concern of the extension; fuzz/ and proxy/ build apart
OBJS = $(patsubst %.c,%.o,$(sort $(wildcard src/*.c)))

# The install script is assembled from one SQL file per concern (src/sql/),
# in the order of their numeric prefixes.
SQL_PARTS = $(sort $(wildcard src/sql/*.sql))
# openapi.json is installed beside the script, under the extension's name,
# for GET /v1/openapi.json (src/openapi.c).
DATA_built = $(EXTENSION)--$(EXTVERSION).sql $(EXTENSION).openapi.json
DATA = $(wildcard $(EXTENSION)--*--*.sql)

# pg_regress: one file per feature in sql/, in alphabetical (numbered) order
REGRESS = $(patsubst sql/%.sql,%,$(sort $(wildcard sql/*.sql)))
REGRESS_OPTS = --inputdir=. --load-extension=$(EXTENSION)

PG_CFLAGS += -std=gnu99 -Wall -Wextra -Werror -Wno-unused-parameter \
	-Wno-missing-field-initializers -Wno-sign-compare
PG_CPPFLAGS += -I$(srcdir)/src
# Only what PostgreSQL looks up is exported, and all of it carries the bar9_
# prefix (SQL functions, the worker's entry point) or is PostgreSQL's own
# (_PG_init, Pg_magic_func, pg_finfo_*): src/exports.map hides the rest.
SHLIB_LINK += -Wl,--version-script=$(srcdir)/src/exports.map

EXTRA_CLEAN = $(DATA_built) results regression.diffs regression.out

PG_CONFIG ?= $(firstword $(wildcard /usr/lib/postgresql/15/bin/pg_config) pg_config)
# No LLVM bitcode: it would need clang on every machine, for JIT inlining
# that bar9's short functions do not need.
override with_llvm = no

PGXS := $(shell $(PG_CONFIG) --pgxs 2>/dev/null)
ifneq ($(wildcard $(PGXS)),)
include $(PGXS)
else
# Before `make deps` there are no server headers; the two README commands
# below still work, since they install them first.
all install installcheck:
	@echo "PostgreSQL 15 server headers missing: run 'make deps' first"; exit 1
endif

# PGXS tracks no header dependencies: rebuild every object when a header
# changes (a struct that grew must not meet an object built before it).
$(OBJS): $(wildcard src/*.h)

$(EXTENSION)--$(EXTVERSION).sql: $(SQL_PARTS)
	cat $^ > $@

$(EXTENSION).openapi.json: openapi.json
	cp $< $@

all: proxy sender

.PHONY: proxy sender test test-citus up down bench fuzz fuzz-api deps deb
proxy:
	@if [ -f proxy/Makefile ]; then $(MAKE) -C proxy PG_CONFIG=$(PG_CONFIG); fi

# bar9-sender: the SMPP 3.4 sender (sender/README.md)
sender:
	@if [ -f sender/Makefile ]; then $(MAKE) -C sender PG_CONFIG=$(PG_CONFIG); fi

# Installs what is missing, builds, installs, runs every suite; last line "N passed, N failed".
test:
	@bash test/run-all

# The suites against a Citus cluster (a coordinator and two workers started
# here, bar9.distribute()) when Citus is installed in the PostgreSQL of
# PG_CONFIG; otherwise one line says it was skipped.  Not part of `make
# test`: CI has no Citus, and a Citus run takes minutes more.
test-citus:
	@bash test/citus/run

# A local cluster under .bar9/ with the worker preloaded, the proxy and a demo key.
up:
	@bash scripts/up

down:
	@bash scripts/down

bench:
	@bash bench/run

fuzz:
	@bash test/fuzz/run

# Requests generated from openapi.json through Prism (TAP 098); FUZZ_SECONDS.
fuzz-api:
	@PROVE_TESTS=test/t/098_openapi_fuzz.pl bash test/run-all

deps:
	@bash scripts/install-deps

# Debian packages (postgresql-15-bar9, bar9-proxy, bar9-sender) in dist/, from a clean copy.
deb:
	@bash scripts/deb

clean: clean-proxy clean-sender
clean-proxy:
	@if [ -f proxy/Makefile ]; then $(MAKE) -C proxy clean; fi
clean-sender:
	@if [ -f sender/Makefile ]; then $(MAKE) -C sender clean; fi
