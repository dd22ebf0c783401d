#!/usr/bin/env bash
# One entry point for a fresh Debian 12 machine: installs what is missing, configures,
# builds, then either runs the main job or every test.
#   ./setup.sh run    the main job: a live local consortium (10 node processes) with a workload,
#                     and the operations console connected to it (headless without a display)
#   ./setup.sh test   the format check and every test under ctest
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
build="${TICKETSYNC_BUILD_DIR:-$here/build}"
action="${1:-}"
shift || true

packages=(
    build-essential cmake ninja-build pkg-config git
    qt6-base-dev qt6-base-dev-tools qt6-websockets-dev qt6-tools-dev qt6-tools-dev-tools qt6-l10n-tools
    libqt6sql6-sqlite libssl-dev libsodium-dev libsqlite3-dev sqlite3
    libbenchmark-dev clang-format
    dpkg-dev desktop-file-utils systemd
    fonts-dejavu-core fonts-wqy-microhei
)

install_missing() {
    local missing=()
    for package in "${packages[@]}"; do
        if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
            missing+=("$package")
        fi
    done
    if [ ${#missing[@]} -eq 0 ]; then
        return
    fi
    echo "setup: installing ${missing[*]}"
    local sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        sudo=(sudo)
    fi
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

configure_and_build() {
    cmake -S "$here" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
    cmake --build "$build" --parallel "$(nproc)"
}

check_format() {
    local files
    mapfile -t files < <(cd "$here" && git ls-files '*.cpp' '*.h')
    if [ ${#files[@]} -gt 0 ]; then
        (cd "$here" && clang-format --dry-run --Werror "${files[@]}")
        echo "setup: clang-format clean on ${#files[@]} files"
    fi
}

case "$action" in
run)
    install_missing
    configure_and_build
    if [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ]; then
        echo "setup: no display found (DISPLAY and WAYLAND_DISPLAY are unset): running the network headless."
        echo "setup: open the console elsewhere with: $build/app/ticketsync-console --devnet $here/devnet"
        exec "$build/app/ticketsync" devnet --dir "$here/devnet" "$@"
    fi
    # Closing the console stops the network too.
    exec "$build/app/ticketsync" devnet --dir "$here/devnet" --console "$@"
    ;;
test)
    install_missing
    check_format
    configure_and_build
    cd "$build"
    exec ctest --output-on-failure --parallel "$(nproc)" "$@"
    ;;
*)
    echo "usage: ./setup.sh run | ./setup.sh test" >&2
    exit 2
    ;;
esac
