#!/usr/bin/env bash
# A Vulkan device without a GPU, for the `wgpu` tests: Mesa's lavapipe (llvmpipe, Vulkan 1.3, a conformant
# implementation on the CPU) from Debian's mesa-vulkan-drivers + libvulkan1, installed when absent.
#
#   scripts/vulkan-local.sh        # install if needed, then print the Vulkan devices burn's wgpu will see
#
# Needs root (or sudo) for apt-get on a machine without the packages; prints one line and exits non-zero when
# it cannot install them. wgpu warns when XDG_RUNTIME_DIR is unset: callers export one (see .ci/run).
set -euo pipefail

icd_present() {
    compgen -G "/usr/share/vulkan/icd.d/lvp_icd*.json" > /dev/null && ldconfig -p | grep -q "libvulkan.so.1"
}

if ! icd_present; then
    sudo_cmd=""
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo > /dev/null; then
            sudo_cmd="sudo"
        else
            echo "vulkan-local: mesa-vulkan-drivers / libvulkan1 are missing and this user cannot install them (not root, no sudo)" >&2
            exit 1
        fi
    fi
    t0=$(date +%s)
    export DEBIAN_FRONTEND=noninteractive
    $sudo_cmd apt-get install -y -q mesa-vulkan-drivers libvulkan1 > /tmp/vulkan-local-apt.log 2>&1 || {
        $sudo_cmd apt-get update -q > /dev/null 2>&1 && $sudo_cmd apt-get install -y -q mesa-vulkan-drivers libvulkan1 > /tmp/vulkan-local-apt.log 2>&1
    } || {
        echo "vulkan-local: apt-get install mesa-vulkan-drivers libvulkan1 failed (log: /tmp/vulkan-local-apt.log)" >&2
        exit 1
    }
    echo "vulkan-local: installed mesa-vulkan-drivers + libvulkan1 in $(( $(date +%s) - t0 )) s"
fi
icd_present || { echo "vulkan-local: no lavapipe ICD under /usr/share/vulkan/icd.d after the install" >&2; exit 1; }
for f in /usr/share/vulkan/icd.d/lvp_icd*.json; do
    echo "vulkan-local: lavapipe ICD $f"
done
