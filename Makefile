# FedMQ — build, test and benchmark entry points. `make test` is what CI runs.

SWIFT ?= swift
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# Debian packages FedMQ needs: the libmosquitto headers, the broker and its clients (tests
# and benchmarks run a real broker), openssl (test certificates), OpenBLAS (matrix products),
# pkg-config (finds both libraries), python3-venv (the tools virtualenv below), librsvg2-bin
# (rsvg-convert: the demo test renders the demo's chart to PNG).
DEB_PACKAGES := libmosquitto-dev mosquitto mosquitto-clients openssl pkg-config libopenblas-dev libopenblas-serial-dev libgmp-dev python3-venv librsvg2-bin prometheus chromium binutils
# Python packages in .venv: the real safetensors package for interoperability tests, and the
# numpy and scikit-learn versions that the shared benchmark task's data were generated with
# (tools/export_datasets.py, bench/generate_task_data.py).
PY_PACKAGES := numpy==2.4.6 scikit-learn==1.9.1 safetensors

# Release binaries as shipped to devices: the Swift runtime linked in (no Swift on the device).
# Linked by lld with the code an agent runs laid out first (one function per section, so each
# moves alone), the relative relocations packed (DT_RELR, glibc 2.36), no symbol table for
# other libraries to search and the C++ runtime linked in: see "How the device binaries are
# linked" in docs/operations.md.
STATIC_BUILD := .build-static
AGENT_ORDER := $(STATIC_BUILD)/fedmq-agent.order
STATIC_COMMON_FLAGS := -Xswiftc -Xfrontend -Xswiftc -function-sections -Xcc -ffunction-sections -Xcxx -ffunction-sections \
	-Xswiftc -use-ld=lld -Xlinker -z -Xlinker pack-relative-relocs -Xlinker --no-export-dynamic \
	-Xswiftc -L$(CURDIR)/tools/static-libstdcxx
STATIC_FLAGS := --static-swift-stdlib --scratch-path $(STATIC_BUILD) $(STATIC_COMMON_FLAGS) \
	-Xlinker --symbol-ordering-file=$(CURDIR)/$(AGENT_ORDER) -Xlinker --no-warn-symbol-ordering
# The agent that `make agent-order` traces: every function of FedMQ and its packages starts a
# page of its own, so a page the agent runs names one function, not its neighbours too.
TRACE_BUILD := .build-trace
TRACE_FLAGS := --static-swift-stdlib --scratch-path $(TRACE_BUILD) $(STATIC_COMMON_FLAGS) \
	-Xswiftc -Xllvm -Xswiftc -align-all-functions=12 -Xcc -falign-functions=4096 -Xcxx -falign-functions=4096

VENV := .venv

.PHONY: deps build release demo deb agent-order lint test test-repeat bench bench-mqtt bench-train bench-privacy bench-flower bench-round bench-encodings bench-overhead bench-soak bench-footprint bench-ingest bench-strategies bench-secagg bench-async bench-he bench-analytics bench-heterogeneity bench-sensors bench-scale bench-shards cluster-check fuzz clean pytorch-fixtures

## deps: install the Debian packages that are missing (idempotent; apt-get only when needed)
deps:
	@missing=""; \
	for package in $(DEB_PACKAGES); do \
		dpkg-query -W -f='$${Status}' $$package 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$package"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "Installing:$$missing"; \
		$(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q $$missing; \
	else \
		echo "System packages present: $(DEB_PACKAGES)"; \
	fi
	@if ! $(VENV)/bin/python -c "import numpy, safetensors, sklearn; assert numpy.__version__ == '2.4.6'" 2>/dev/null; then \
		echo "Creating $(VENV) with $(PY_PACKAGES)"; \
		python3 -m venv $(VENV) && $(VENV)/bin/pip install -q $(PY_PACKAGES); \
	else \
		echo "Python packages present in $(VENV): $(PY_PACKAGES)"; \
	fi

## build: debug build of every target
build: deps
	$(SWIFT) build

## release: optimised build of the executables
release: deps
	$(SWIFT) build -c release

## demo: a federated job on this machine (private broker, aggregator, 10 agents); writes demo-out/
demo: release
	.build/release/fedmq demo --out demo-out

## test: unit tests and integration tests against a real mosquitto (started by the tests)
## deb: Debian packages fedmq-agent, fedmq-aggregator and fedmq-keyholder in dist/ (static Swift runtime; VERSION=...)
VERSION ?= 0.1.0
deb: deps $(AGENT_ORDER)
	$(SWIFT) build -c release $(STATIC_FLAGS) --product fedmq-agent
	$(SWIFT) build -c release $(STATIC_FLAGS) --product fedmq-aggregator
	$(SWIFT) build -c release $(STATIC_FLAGS) --product fedmq-keyholder
	tools/make-deb $(STATIC_BUILD)/release dist $(VERSION)

$(AGENT_ORDER): tools/hot-text/fedmq-agent.order.gz
	mkdir -p $(STATIC_BUILD) && gunzip -c $< > $@
	# lld reads the order when it links, but the build does not track the file: link again.
	rm -f $(addprefix $(STATIC_BUILD)/release/,fedmq fedmq-agent fedmq-aggregator fedmq-keyholder)

## agent-order: trace the functions fedmq-agent runs in two demo jobs and rewrite the link order of its hot code
agent-order: deps $(AGENT_ORDER)
	$(SWIFT) build -c release $(STATIC_FLAGS) --product fedmq
	$(SWIFT) build -c release $(STATIC_FLAGS) --product fedmq-aggregator
	$(SWIFT) build -c release $(TRACE_FLAGS) --product fedmq-agent
	cp $(STATIC_BUILD)/release/fedmq $(STATIC_BUILD)/release/fedmq-aggregator $(TRACE_BUILD)/release/
	tools/hot-text/trace-agent $(TRACE_BUILD)/release $(TRACE_BUILD)/text-trace
	tools/hot-text/order-file $(TRACE_BUILD)/release/fedmq-agent $(TRACE_BUILD)/text-trace > $(AGENT_ORDER).new
	mv $(AGENT_ORDER).new $(AGENT_ORDER)
	rm -f $(STATIC_BUILD)/release/fedmq-agent
	gzip -9n -c $(AGENT_ORDER) > tools/hot-text/fedmq-agent.order.gz

## lint: swift format's rules (.swift-format) and a doc comment on every public type and function
LINTED = Sources Tests Package.swift fuzz/Sources fuzz/Package.swift
lint:
	$(SWIFT) format lint --strict --recursive $(LINTED)
	python3 tools/check-doc-comments Sources

# Two test processes, one after the other: the in-process tests, then those with real
# processes. A process's awaits share one thread per core, and a CPU-heavy unit test there
# would hold up the waits of the real-process tests. Their temporary files (state
# directories, brokers' configs, demo jobs) go into one directory for the run, removed after
# it, passed or failed: a machine that runs the suite often keeps none of them. Others may
# pass through it (not list it): the deployment tests' broker runs as the mosquitto user.
test: deps lint
	$(SWIFT) build --build-tests
	tmp=$$(mktemp -d "$${TMPDIR:-/tmp}/fedmq-tests.XXXXXX") && chmod 711 "$$tmp"; \
	TMPDIR="$$tmp" $(SWIFT) test --skip-build --skip FedMQIntegrationTests \
		&& TMPDIR="$$tmp" $(SWIFT) test --skip-build --filter FedMQIntegrationTests; \
	status=$$?; rm -rf "$$tmp"; exit $$status

## test-repeat: the integration and runtime suites REPEAT times in a row (default 10), with LOAD=stress under
## stress-ng --cpu 2; stops at the first failing run and prints its failures (logs in .test-repeat/)
REPEAT ?= 10
LOAD ?=
test-repeat: deps
	@if [ "$(LOAD)" = stress ] && ! command -v stress-ng >/dev/null; then \
		$(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q stress-ng; fi
	$(SWIFT) build --build-tests
	@mkdir -p .test-repeat; stress=""; \
	if [ "$(LOAD)" = stress ]; then stress-ng --cpu 2 --timeout 3h >/dev/null 2>&1 & stress=$$!; fi; \
	tmp=$$(mktemp -d "$${TMPDIR:-/tmp}/fedmq-tests.XXXXXX") && chmod 711 "$$tmp"; export TMPDIR="$$tmp"; \
	status=0; \
	for run in $$(seq 1 $(REPEAT)); do \
		if $(SWIFT) test --skip-build --filter "FedMQIntegrationTests|FedMQRuntimeTests" > .test-repeat/run-$$run.log 2>&1; \
		then echo "run $$run of $(REPEAT): $$(grep -E 'Test run with' .test-repeat/run-$$run.log | tail -1)"; \
		else echo "run $$run of $(REPEAT) FAILED:"; grep -E '✘' .test-repeat/run-$$run.log | head -20; status=1; break; fi; \
	done; \
	if [ -n "$$stress" ]; then kill $$stress; fi; \
	rm -rf "$$tmp"; exit $$status

## bench: every benchmark; rewrites docs/benchmarks.md and bench/results/*.json
bench: bench-mqtt bench-train bench-privacy bench-flower bench-round bench-encodings bench-overhead bench-soak bench-footprint bench-ingest bench-strategies bench-secagg bench-async bench-he bench-analytics bench-heterogeneity bench-sensors bench-scale bench-shards

# The peers' virtualenv (numpy, PyTorch and Flower from PyPI; PyTorch brings several GB of wheels).
BENCH_VENV := bench/.venv
FLOWER := flwr==1.42.0
$(BENCH_VENV)/bin/python:
	python3 -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/pip install -q numpy torch safetensors $(FLOWER)

## pytorch-fixtures: rewrite the PyTorch reference outputs and gradients the sequential models are tested against
pytorch-fixtures: $(BENCH_VENV)/bin/python
	$(BENCH_VENV)/bin/python tools/pytorch_reference.py Tests/FedMQCoreTests/Fixtures

## bench-mqtt: FedMQTransport vs mosquitto_pub/mosquitto_sub, QoS 1 throughput
bench-mqtt: deps $(AGENT_ORDER)
	$(SWIFT) build -c release $(STATIC_FLAGS)
	$(STATIC_BUILD)/release/fedmq bench mqtt --runs 5 --results bench/results/mqtt.json --markdown docs/benchmarks.md

## bench-train: one epoch of an MLP 784-128-10, FedMQCore vs numpy and PyTorch, one thread
bench-train: deps $(BENCH_VENV)/bin/python
	$(SWIFT) build -c release --product fedmq
	.build/release/fedmq bench train --runs 5 --results bench/results/train.json --markdown docs/benchmarks.md

## bench-privacy: final accuracy under DP-SGD (epsilon 1, 3, 8) and client-level DP, beside no DP
bench-privacy: deps
	$(SWIFT) build -c release --product fedmq
	.build/release/fedmq bench privacy --runs 3 --results bench/results/privacy.json --markdown docs/benchmarks.md

## bench-flower: the shared digits task run by FedMQ and by Flower 1.42, each as 11 processes, same run
bench-flower: deps $(BENCH_VENV)/bin/python $(AGENT_ORDER)
	$(BENCH_VENV)/bin/python -c "import flwr; assert flwr.__version__ == '1.42.0'" 2>/dev/null || $(BENCH_VENV)/bin/pip install -q $(FLOWER)
	$(SWIFT) build -c release $(STATIC_FLAGS)
	$(STATIC_BUILD)/release/fedmq bench flower --runs 3 --results bench/results/flower.json --markdown docs/benchmarks.md

## bench-round: a round of the shared digits task (10 agents) stage by stage on its critical path (FEDMQ_TRACE marks)
bench-round: deps $(AGENT_ORDER)
	$(SWIFT) build -c release $(STATIC_FLAGS)
	$(STATIC_BUILD)/release/fedmq bench round --runs 3 --results bench/results/round.json --markdown docs/benchmarks.md

## bench-encodings: bytes per update and accuracy of float16 and int8 updates vs float32 (real processes)
bench-encodings: deps $(AGENT_ORDER)
	$(SWIFT) build -c release $(STATIC_FLAGS)
	$(STATIC_BUILD)/release/fedmq bench encodings --runs 3 --python python3 --results bench/results/encodings.json --markdown docs/benchmarks.md

## bench-overhead: round open to model published, 10k-parameter model, no-op training, 10 and 100 agents
bench-overhead: deps $(AGENT_ORDER)
	$(SWIFT) build -c release $(STATIC_FLAGS)
	$(STATIC_BUILD)/release/fedmq bench overhead --runs 3 --results bench/results/overhead.json --markdown docs/benchmarks.md

## bench-soak: 200 agents x 20 rounds through one local broker: nothing lost, flat aggregator memory
bench-soak: deps $(AGENT_ORDER)
	$(SWIFT) build -c release $(STATIC_FLAGS)
	$(STATIC_BUILD)/release/fedmq bench soak --results bench/results/soak.json --markdown docs/benchmarks.md

## bench-footprint: agent binary size (dynamic, static), idle and training RSS, idle CPU, beside a Flower client
bench-footprint: deps $(BENCH_VENV)/bin/python $(AGENT_ORDER)
	$(BENCH_VENV)/bin/python -c "import flwr; assert flwr.__version__ == '1.42.0'" 2>/dev/null || $(BENCH_VENV)/bin/pip install -q $(FLOWER)
	$(SWIFT) build -c release --product fedmq-agent
	$(SWIFT) build -c release $(STATIC_FLAGS)
	$(STATIC_BUILD)/release/fedmq bench footprint --results bench/results/footprint.json --markdown docs/benchmarks.md

## bench-ingest: 100 agents publish one update each (10 k, 1 M, 10 M parameters): aggregator vs mosquitto_sub, memory
bench-ingest: deps $(AGENT_ORDER)
	$(SWIFT) build -c release $(STATIC_FLAGS)
	$(STATIC_BUILD)/release/fedmq bench ingest --runs 3 --results bench/results/ingest.json --markdown docs/benchmarks.md

## bench-secagg: secure aggregation vs plain FedAvg: per-agent bytes and CPU, round latency (10 and 100 agents)
bench-secagg: deps
	$(SWIFT) build -c release --product fedmq
	.build/release/fedmq bench secagg --runs 3 --results bench/results/secagg.json --markdown docs/benchmarks.md

## bench-strategies: final accuracy of every aggregation strategy on non-IID digits (Dirichlet 0.3, 10 agents)
bench-strategies: deps
	$(SWIFT) build -c release --product fedmq
	.build/release/fedmq bench strategies --runs 3 --results bench/results/strategies.json --markdown docs/benchmarks.md

## bench-async: asynchronous buffers vs tuned rounds, seconds to 0.90 accuracy on non-IID digits, 20 simulated devices, 3 fleets
bench-async: deps
	$(SWIFT) build -c release --product fedmq
	$(SWIFT) build -c release --product fedmq-aggregator
	.build/release/fedmq bench async --runs 3 --results bench/results/async.json --markdown docs/benchmarks.md

HE_VENV := bench/.venv-he
$(HE_VENV)/bin/python:
	python3 -m venv $(HE_VENV)
	$(HE_VENV)/bin/pip install -q phe==1.5.0 gmpy2

## bench-he: Paillier (GMP) beside python-paillier with gmpy2: key generation, encryption, addition, decryption; a packed round
bench-he: deps $(HE_VENV)/bin/python
	$(SWIFT) build -c release --product fedmq
	.build/release/fedmq bench he --runs 3 --python $(HE_VENV)/bin/python --results bench/results/he.json --markdown docs/benchmarks.md

# diffprivlib for bench-analytics (0.6.6 imports a symbol scikit-learn dropped in 1.6, hence the pin).
DP_VENV := bench/.venv-dp
$(DP_VENV)/bin/python:
	python3 -m venv $(DP_VENV)
	$(DP_VENV)/bin/pip install -q diffprivlib==0.6.6 scikit-learn==1.5.2

## bench-analytics: federated DP mean, variance and histogram (secure aggregation, distributed noise) beside diffprivlib's central ones
bench-analytics: deps $(DP_VENV)/bin/python
	$(SWIFT) build -c release --product fedmq
	.build/release/fedmq bench analytics --runs 20 --python $(DP_VENV)/bin/python --results bench/results/analytics.json --markdown docs/benchmarks.md

## bench-sensors: a native 1D CNN on BasicMotions and JapaneseVowels (10 agents, IID and Dirichlet 0.5) beside Flower 1.42 + PyTorch
bench-sensors: deps $(BENCH_VENV)/bin/python $(AGENT_ORDER)
	$(BENCH_VENV)/bin/python -c "import flwr, torch, safetensors; assert flwr.__version__ == '1.42.0'" 2>/dev/null || $(BENCH_VENV)/bin/pip install -q torch safetensors $(FLOWER)
	$(SWIFT) build -c release $(STATIC_FLAGS)
	$(STATIC_BUILD)/release/fedmq bench sensors --runs 3 --python $(BENCH_VENV)/bin/python --results bench/results/sensors.json --markdown docs/benchmarks.md
	$(STATIC_BUILD)/release/fedmq bench sensors --external --rounds 10 --python $(BENCH_VENV)/bin/python --results bench/results/sensors-external.json --markdown docs/benchmarks.md

## bench-scale: 1k, 5k and 10k simulated agents, one broker, 4 bridged sites, 4 sites with site aggregators: latency, losses, central ingest, CPU, memory
bench-scale: deps $(AGENT_ORDER)
	$(SWIFT) build -c release $(STATIC_FLAGS)
	$(STATIC_BUILD)/release/fedmq bench scale --runs 3 --results bench/results/scale.json --markdown docs/benchmarks.md

## cluster-check: a two-node ejabberd cluster on loopback (installed if missing): which MQTT 5 features hold across it, and a FedMQ job across its nodes
cluster-check: deps
	$(SWIFT) build
	tools/ejabberd-cluster-check .build/debug

## bench-shards: 1, 2 and 4 ingest shards sharing one broker's updates ($share), against one aggregator: ingest rate, losses
bench-shards: deps $(AGENT_ORDER)
	$(SWIFT) build -c release $(STATIC_FLAGS)
	$(STATIC_BUILD)/release/fedmq bench shards --runs 3 --results bench/results/shards.json --markdown docs/benchmarks.md

## bench-heterogeneity: FedAvg, FedProx, FedDF and client distillation, each with and without augmentation, on Dirichlet(0.1) digits
bench-heterogeneity: deps
	$(SWIFT) build -c release --product fedmq
	.build/release/fedmq bench heterogeneity --runs 3 --results bench/results/heterogeneity.json --markdown docs/benchmarks.md

# Every decoder that reads outside input: payloads from the broker, files and configs.
FUZZ_DECODERS := safetensors model update round agent-status aggregator-status metrics evaluation enrolment checkpoint csv model-spec agent-config aggregator-config secagg agent-round homomorphic
FUZZ_SECONDS ?= 30
## fuzz: libFuzzer with AddressSanitizer on every decoder for FUZZ_SECONDS each; stops at the first crash or bad memory access (input saved in fuzz/artifacts/)
fuzz: deps
	cd fuzz && $(SWIFT) build -c release -Xswiftc -sanitize=fuzzer,address -Xswiftc -use-ld=lld
	@mkdir -p fuzz/artifacts
	@for decoder in $(FUZZ_DECODERS); do \
		mkdir -p fuzz/.corpus/$$decoder; \
		printf 'fuzzing %-18s %s s: ' $$decoder $(FUZZ_SECONDS); \
		if FUZZ_DECODER=$$decoder fuzz/.build/release/FuzzDecoders -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=4096 \
			-artifact_prefix=fuzz/artifacts/$$decoder- fuzz/.corpus/$$decoder fuzz/corpus/$$decoder > fuzz/.corpus/$$decoder.log 2>&1; \
		then tail -1 fuzz/.corpus/$$decoder.log; \
		else echo "FAILED"; tail -40 fuzz/.corpus/$$decoder.log; exit 1; fi; \
	done

clean:
	rm -rf .build $(STATIC_BUILD) $(TRACE_BUILD)
