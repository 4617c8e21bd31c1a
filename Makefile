# The two commands of the README:
#   make book   build the book to HTML in _build/html (warnings are errors)
#   make test   run every test: the unit tests and nbval re-executing every notebook
# Both first build a virtual environment from requirements.txt (once; again when it changes).

VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin

.PHONY: book test notebooks repository-url function-index student lab clean

$(VENV)/.installed: requirements.txt pyproject.toml ipython_kernel_config.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	mkdir -p $(VENV)/etc/ipython
	cp ipython_kernel_config.py $(VENV)/etc/ipython/ipython_kernel_config.py
	touch $@

book: $(VENV)/.installed
	$(BIN)/jupyter-book build . -W -n --keep-going

test: $(VENV)/.installed
	$(BIN)/pytest

# For authors: re-execute every chapter in place, so that its stored outputs are current.
notebooks: $(VENV)/.installed
	cd book && for nb in *.ipynb; do ../$(BIN)/jupyter execute --inplace "$$nb" || exit 1; done

# For authors: after changing a docstring, rewrite the book's index of functions (the tests
# check that book/functions.md is current).
function-index: $(VENV)/.installed
	$(BIN)/python .ci/function_index.py

# For readers: open the chapters in JupyterLab, from the project's environment. JupyterLab is
# installed into it on first use (it is not needed to build or test).
lab: $(VENV)/.installed
	$(BIN)/python -c "import jupyterlab" 2>/dev/null || $(BIN)/python -m pip install --quiet jupyterlab
	$(BIN)/jupyter lab book/

# For instructors: the student edition, every chapter without its exercises' solutions, in
# _student/book (not committed; tests/test_student_edition.py checks it runs and hides them).
student: $(VENV)/.installed
	$(BIN)/python .ci/student_edition.py _student

# For authors: after changing repository.url in _config.yml, write it into every install cell.
repository-url: $(VENV)/.installed
	$(BIN)/python .ci/repository_url.py

clean:
	rm -rf _build _student
