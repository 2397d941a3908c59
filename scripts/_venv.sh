# Shared by scripts/test and scripts/demo: the venvs the suite runs in, one per supported Home
# Assistant release, each built once and kept in the repository root (gitignored).
#   .venv              Home Assistant 2025.4.4, the oldest supported release (Python >= 3.13).
#   .venv-ha-current   Home Assistant 2026.11.0, the current release, built by
#                      ../shared/ha-current/make-venv (see current_builder).

find_python() {
  local candidate
  for candidate in "${P1_PYTHON:-}" python3.13 python3.14 python3 \
      "$(pyenv root 2>/dev/null)/versions/3.13.0/bin/python3.13"; do
    [ -n "$candidate" ] || continue
    command -v "$candidate" >/dev/null 2>&1 || [ -x "$candidate" ] || continue
    if "$candidate" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 13) else 1)' 2>/dev/null; then
      echo "$candidate"; return 0
    fi
  done
  return 1
}

# Install requirements files into a venv, each once per version of the file.
install_requirements() {
  local venv=$1; shift
  local requirements
  for requirements in "$@"; do
    local stamp=$venv/.installed.$(basename "$requirements").$(sha256sum "$requirements" | cut -c1-16)
    if [ ! -f "$stamp" ]; then
      echo "installing $requirements into $venv"
      "$venv/bin/python" -m pip install --quiet -r "$requirements"
      touch "$stamp"
    fi
  done
}

# .venv (Home Assistant 2025.4.4 through pytest-homeassistant-custom-component) with the given
# requirements files.
ensure_venv() {
  if [ ! -x .venv/bin/python ]; then
    local python
    python=$(find_python) || {
      echo "Python 3.13 or newer is needed (Home Assistant requires it); install it or set P1_PYTHON" >&2
      exit 2
    }
    echo "creating .venv with $python"
    "$python" -m venv .venv
    .venv/bin/python -m pip install --quiet --upgrade pip
  fi
  install_requirements .venv "$@"
}

# pip's complaint, once per package, about a configured local index folder that is not there
without_missing_index_warnings() {
  grep -v "^WARNING: Location 'file:.* is ignored: it is neither a file nor a directory" || true
}

# The builder of the current release's venv: Home Assistant 2026.x declares Python >= 3.14.2, which
# these machines cannot install; ../shared/ha-current/make-venv runs it on Python 3.13 after
# mechanical, logged patches (its README lists them), for tests only. P1_SHARED overrides ../shared.
current_builder() {
  echo "${P1_SHARED:-../shared}/ha-current"
}

# The inputs .venv-ha-current is built from (the builder's files, our pins, the recipe below); it
# is rebuilt when any of them changes.
current_inputs_hash() {
  local builder
  builder=$(current_builder)
  (
    find "$builder" -maxdepth 1 -type f | LC_ALL=C sort | xargs cat
    cat requirements_test.txt scripts/py313_recorder_patch.py scripts/frontend_requirements.py
    declare -f ensure_current_venv
  ) | sha256sum | cut -c1-16
}

# .venv-ha-current: the shared builder's venv (Home Assistant 2026.11.0 with its test harness),
# plus our test tools pinned as in requirements_test.txt (not Home Assistant's harness, nor ruff,
# which runs once from .venv), the frontend release this Home Assistant pins and the packages the
# frontend needs to load (the end-to-end tests start it: scripts/frontend_requirements.py), and the
# given requirements files. Returns 1 when the builder is not there.
ensure_current_venv() {
  local builder venv=.venv-ha-current hash
  builder=$(current_builder)
  [ -f "$builder/make-venv" ] || return 1
  hash=$(current_inputs_hash)
  if [ "$(cat "$venv/.p1-dsmr-build" 2>/dev/null)" != "$hash" ]; then
    if [ -L "$venv" ]; then rm -f "$venv"; else rm -rf "$venv"; fi
    echo "building $venv with $builder/make-venv (a few minutes, once)"
    bash "$builder/make-venv" "$venv" 2>&1 | without_missing_index_warnings
    local site constraints frontend tools
    site=$("$venv/bin/python" -c 'import homeassistant, os; print(os.path.dirname(homeassistant.__file__))')
    constraints=$site/package_constraints.txt
    frontend=$(grep -E '^home-assistant-frontend==' "$constraints")
    tools=$(mktemp)
    grep -vE '^\s*(#|$)|^(pytest-homeassistant-custom-component|home-assistant-frontend|ruff)[=<>~ ]' \
      requirements_test.txt >"$tools"
    "$venv/bin/python" -m pip install --quiet --ignore-requires-python -c "$constraints" \
      -r "$tools" "$frontend" 2>&1 | without_missing_index_warnings
    "$venv/bin/python" scripts/frontend_requirements.py >"$tools"
    "$venv/bin/python" -m pip install --quiet --ignore-requires-python -c "$constraints" \
      -r "$tools" 2>&1 | without_missing_index_warnings
    rm -f "$tools"
    "$venv/bin/python" scripts/py313_recorder_patch.py "$venv"
    echo "$hash" >"$venv/.p1-dsmr-build"
  fi
  install_requirements "$venv" "$@"
}
