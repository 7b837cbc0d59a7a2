# Double Boiler: `make` lists the targets.
GO ?= go

.PHONY: help test test/race lint bench demo build

help: ## list the targets
	@grep -E '^[a-zA-Z/_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

test: lint ## the test command of the README and CI: lint, every test with the race detector, the store suite at full size
	$(GO) test -race -count=1 -timeout 15m ./...
	@# The race detector slows SQLite ~30x, so the conformance suite shrinks its
	@# concurrent-fetch test under -race; run it once more at full size without.
	$(GO) test -count=1 -timeout 10m -run Conformance ./store/...

test/race: test ## alias of test (the race detector is always on)

lint: ## go vet and gofmt
	$(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

bench: ## the W1/W2/W3 workloads on the embedded store
	$(GO) run ./cmd/boiler bench --workload all

build: ## a static binary in ./bin/boiler (no cgo)
	CGO_ENABLED=0 $(GO) build -o bin/boiler ./cmd/boiler
