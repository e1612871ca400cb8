# The Makefile only wraps the README's commands; the build is CMake.
#   make demo    install, build, a study (5 methods x 3 seeds on Fashion-MNIST through dml-sweep), table + every figure
#   make test    install, build, run every test (ctest)
#   make bench   benchmarks side by side with the reference stacks (needs scripts/install-deps --reference)
#   make report  aggregate runs/ into a PDF report (latex/)
BUILD ?= build
JOBS ?= 2
CMAKE_FLAGS ?=

.PHONY: all deps build test demo bench report clean
all: build

deps:
	scripts/install-deps

build:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS)
	cmake --build $(BUILD) -j$(JOBS)

test:
	scripts/install-deps --reports
	$(MAKE) build
	ctest --test-dir $(BUILD) --output-on-failure -j$(JOBS) --timeout 600

demo: deps build
	BUILD=$(BUILD) scripts/demo

bench: deps build
	scripts/install-deps --reference
	cmake --build $(BUILD) -j$(JOBS) --target all
	BUILD=$(BUILD) scripts/bench

report: deps build
	$(BUILD)/bin/dml-report runs -o runs/report

clean:
	rm -rf $(BUILD)
