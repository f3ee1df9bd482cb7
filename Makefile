# facteur — GNU make build.
#   make            build ./facteur
#   make deps       install the Debian packages for build, tests and demo (root)
#   make test       unit tests (ASan+UBSan) + integration tests against real servers
#   make check      unit tests only
#   make demo       run the agent against local servers on sample messages
#   make bench      benchmarks
#   make fuzz       bounded libFuzzer runs
#   make SANITIZE=1 build with address and undefined-behaviour sanitizers

PREFIX   ?= /usr/local
DESTDIR  ?=
CC       ?= cc
PKGS     := libcurl libpcre2-8 yaml-0.1 libssl libcrypto sqlite3 gmime-3.0 libxml-2.0 jansson
VERSION  := $(shell cat VERSION 2>/dev/null || echo 0.0.0)

WARN     := -std=c11 -Wall -Wextra -Wformat=2 -Wshadow -Wcast-qual \
            -Wstrict-prototypes -Wmissing-prototypes -Wwrite-strings \
            -Wpointer-arith
HARDEN   := -fstack-protector-strong -D_FORTIFY_SOURCE=2
CFLAGS   ?= -O2 -g
ifeq ($(WERROR),1)
WARN     += -Werror
endif
ifeq ($(SANITIZE),1)
CFLAGS   := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
HARDEN   :=
LDFLAGS  += -fsanitize=address,undefined
BUILD    := build/san
else
BUILD    := build/rel
endif

PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
ALL_CFLAGS  = $(CFLAGS) $(WARN) $(HARDEN) -D_GNU_SOURCE -DPCRE2_CODE_UNIT_WIDTH=8 -DFACTEUR_VERSION='"$(VERSION)"' \
              -Isrc $(PKG_CFLAGS)
LIBS        = $(PKG_LIBS) -lpthread -lm

SRCS     := $(wildcard src/*.c)
OBJS     := $(patsubst src/%.c,$(BUILD)/%.o,$(SRCS))
LIBOBJS  := $(filter-out $(BUILD)/main.o,$(OBJS))
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRCS))

.PHONY: all deps test check unit demo bench fuzz lint install clean integration soak

all: facteur

ifeq ($(SANITIZE),1)
facteur: $(BUILD)/facteur
else
facteur: $(BUILD)/facteur
	cp $< $@
endif

$(BUILD)/facteur: $(OBJS)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/%.o: src/%.c $(wildcard src/*.h) | $(BUILD)
	$(CC) $(ALL_CFLAGS) -MMD -c -o $@ $<

$(BUILD):
	mkdir -p $(BUILD)/tests

$(BUILD)/tests/%: tests/unit/%.c $(LIBOBJS) | $(BUILD)
	$(CC) $(ALL_CFLAGS) -Itests/unit -o $@ $< $(LIBOBJS) $(LDFLAGS) $(LIBS) -lcmocka

unit: $(UNIT_BINS)

deps:
	sh tests/deps.sh

# Unit tests only, under the sanitizers.
check:
	$(MAKE) SANITIZE=1 unit
	sh tests/run-unit.sh build/san/tests

test:
	sh tests/run.sh

# The long fault-injection run: 1,000 messages, 400 SIGKILLs, servers and
# journal taken away and given back (tests/integration/test_faults.py).
soak: facteur
	FACTEUR_SOAK=1 FACTEUR=$(CURDIR)/facteur python3 tests/integration/test_faults.py

integration: facteur
	sh tests/run.sh --integration-only

demo:
	sh examples/demo/run.sh

bench: facteur
	sh bench/run.sh

fuzz:
	sh tests/fuzz/run.sh

lint:
	cppcheck --quiet --enable=warning,performance,portability --std=c11 --error-exitcode=1 -Isrc src
	clang-tidy --quiet $(SRCS) -- $(ALL_CFLAGS)

# make install [PREFIX=/usr/local] [DESTDIR=]: see install.sh for the list.
install: facteur
	sh install.sh "$(DESTDIR)" "$(PREFIX)"

# The man pages must render without a warning.
.PHONY: man
man:
	mandoc -T lint -W warning man/facteur.1 man/facteur.yaml.5

clean:
	rm -rf build facteur

-include $(wildcard $(BUILD)/*.d)
