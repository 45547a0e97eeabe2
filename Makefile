# remission — developer entry points. Every target creates and uses .venv.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DB ?= sqlite:///out/remission.db

.PHONY: install demo test quick fuzz lint bench docs lock clean check-examples

$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -r requirements.lock
	$(BIN)/pip install -q --no-deps --no-build-isolation -e .
	touch $(STAMP)

# The PDF of the report needs the OS library Pango (WeasyPrint): say how to get it when it is missing
# (the HTML report works without it; docs/decisions/report-pdf.md).
install: $(STAMP)
	@$(BIN)/python -c "from remission.report.pdf import pdf_unavailable; r = pdf_unavailable(); print('note: no report.pdf can be written here: ' + r if r else 'report PDF engine: WeasyPrint with Pango, ok')"

demo: $(STAMP)
	$(BIN)/remission demo --db $(DB) --out out

lint: $(STAMP)
	$(BIN)/ruff check src tests bench docs
	$(BIN)/ruff format --check src tests bench docs
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

# pytest exits 5 when it collected no test: that is a failure of the suite, not a pass.
# `make test` runs the hypothesis profile "ci" (fast); `make fuzz` the reliability suite with the
# "thorough" profile (docs/reliability.md).
# Two xdist workers (the machine has 2 cores); `make quick` is the inner loop: no lint, no tests
# marked slow (docs build, browser, fuzzing, Dask; tests/conftest.py SLOW), one worker.
test: $(STAMP) lint
	HYPOTHESIS_PROFILE=ci $(BIN)/python -m pytest -n 2

quick: $(STAMP)
	HYPOTHESIS_PROFILE=ci $(BIN)/python -m pytest -m "not slow"

fuzz: $(STAMP)
	HYPOTHESIS_PROFILE=thorough $(BIN)/python -m pytest tests/reliability tests/test_index_contract.py tests/web/test_api_fuzz.py tests/web/test_security.py --timeout=3600

# The documentation site, built strictly (any warning is an error); `make test` builds it too.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict -d site

bench: $(STAMP)
	$(BIN)/python bench/run.py

check-examples: $(STAMP)
	../shared/tools/check-examples

lock: $(STAMP)
	$(BIN)/pip freeze --all --exclude-editable | grep -v "^pip==" | sed '1i # Pinned, tested set of every dependency (runtime and dev). Regenerate with `make lock`.' > requirements.lock

clean:
	rm -rf $(VENV) out .mypy_cache .ruff_cache
