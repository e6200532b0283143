# The commands a user needs; each installs the Debian packages it lacks.
#   make demo      build and run the echo-server demo
#   make test      build and run every test
#   make install   install the library (PREFIX=/usr/local)

BUILD       ?= build
BUILD_TYPE  ?= RelWithDebInfo
PREFIX      ?= /usr/local
JOBS        ?= $(shell nproc)

BUILD_PACKAGES := cmake ninja-build g++ make pkg-config
TEST_PACKAGES  := $(BUILD_PACKAGES) libgtest-dev

# $(call ensure_packages,PKG...): install the missing Debian packages, or say
# which command would when not root.
define ensure_packages
	@missing=""; \
	for p in $(1); do \
	  dpkg-query -W -f='$${Status}' "$$p" 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "Installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	  else \
	    echo "Missing Debian packages. Run: sudo apt-get install -y$$missing"; exit 1; \
	  fi; \
	fi
endef

.PHONY: all build test demo install clean

all: build

build:
	$(call ensure_packages,$(TEST_PACKAGES))
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DCMAKE_INSTALL_PREFIX=$(PREFIX)
	cmake --build $(BUILD) -j $(JOBS)

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

demo: build
	$(BUILD)/examples/echo_demo

install: build
	cmake --install $(BUILD)

clean:
	rm -rf $(BUILD)
