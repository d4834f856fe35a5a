# pg_affiliate — PGXS build.
#
#   make            build the shared library and the install script
#   make install    install into the PostgreSQL found by pg_config
#   make test       install missing packages, build, start a throwaway cluster,
#                   run every suite (see test/run.sh)
#   make demo       leave a demo cluster running (see scripts/demo.sh)
#   make crashtest  crash safety, long form: clients call the API while the
#                   server is SIGKILLed and recovered again and again
#                   (test/crash/crash.sh; CRASH_KILLS, CRASH_SECONDS,
#                   CRASH_CLIENTS, SEED; the short form runs in make test)
#   make memcheck   every suite with the extension under AddressSanitizer and
#                   UBSan, in a private copy of PostgreSQL (scripts/memcheck.sh)
#   make fuzz       the libFuzzer harnesses of test/fuzz, FUZZ_SECONDS each
#                   (default 300), with coverage (scripts/fuzz.sh)

EXTENSION   = pg_affiliate
EXTVERSION  = $(shell grep default_version $(EXTENSION).control | sed -e "s/default_version[[:space:]]*=[[:space:]]*'\([^']*\)'/\1/")

MODULE_big  = pg_affiliate
OBJS        = $(patsubst %.c,%.o,$(sort $(wildcard src/*.c)))

DATA_built  = sql/$(EXTENSION)--$(EXTVERSION).sql
# every upgrade script and every frozen install script of an older version
DATA        = $(filter-out $(DATA_built),$(sort $(wildcard sql/$(EXTENSION)--*.sql)))

SHLIB_LINK  = -lsodium
# Our code builds clean under -Wall -Wextra -Werror.  PostgreSQL's own server
# headers have unused parameters, so they are included as system headers
# (warnings inside them are not ours to fix); every warning in src/ stays fatal.
PG_CFLAGS   = -Wall -Wextra -Werror
PG_CPPFLAGS = -isystem $(shell $(PG_CONFIG) --includedir-server)

REGRESS      = $(sort $(basename $(notdir $(wildcard test/sql/*.sql))))
REGRESS_OPTS = --inputdir=test
ISOLATION      = $(sort $(basename $(notdir $(wildcard test/specs/*.spec))))
ISOLATION_OPTS = --inputdir=test

EXTRA_CLEAN = results output_iso regression.diffs regression.out log

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# every object depends on the headers in src/ (PGXS tracks no header
# dependencies; a changed struct must rebuild every file that uses it)
$(OBJS): $(wildcard src/*.h)

# The install script is built from one source (as pgvector does).
sql/$(EXTENSION)--$(EXTVERSION).sql: sql/$(EXTENSION).sql
	cp $< $@

.PHONY: test bench demo demo-stop deps crashtest memcheck fuzz
deps:
	bash scripts/install-deps.sh

test:
	bash test/run.sh

bench:
	bash bench/run.sh

# The long form of the crash test (make test runs a short one,
# test/drivers/crash_short.sh).  Override on the command line or in the
# environment: make crashtest CRASH_KILLS=20 CRASH_SECONDS=300 SEED=42
CRASH_KILLS   ?= 10
CRASH_SECONDS ?= 120
CRASH_CLIENTS ?= 6
crashtest:
	CRASH_KILLS=$(CRASH_KILLS) CRASH_SECONDS=$(CRASH_SECONDS) CRASH_CLIENTS=$(CRASH_CLIENTS) \
	PG_CONFIG="$(PG_CONFIG)" bash test/crash/crash.sh --build

demo:
	bash scripts/demo.sh start

demo-stop:
	bash scripts/demo.sh stop

memcheck:
	PG_CONFIG="$(PG_CONFIG)" bash scripts/memcheck.sh

fuzz:
	bash scripts/fuzz.sh --coverage
