#!/usr/bin/env bash
# Installs what `ies` needs on Debian/Ubuntu: OpenMPI, OpenBLAS, libxsmm, zlib, OpenSSL (SHA-256), pkg-config,
# the Fashion-MNIST dataset, and for the tests: the Python safetensors reader, numpy and Pillow
# (scripts/images-to-npy.py and imagenet-batches-to-npy.py), headless Chromium
# (renders `ies report` pages), the Python tensorboard package (reads the event files back) and
# qemu-user (runs the build on an emulated lower CPU to check it refuses).
# Safe to run again; uses sudo when not root.
set -euo pipefail

packages=(libopenmpi-dev openmpi-bin libopenblas-dev libxsmm-dev zlib1g-dev libssl-dev pkg-config dataset-fashion-mnist chromium iproute2 qemu-user)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
if [ "${#missing[@]}" -gt 0 ]; then
    echo "installing: ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if command -v python3 >/dev/null && ! python3 -c "import safetensors, numpy, PIL.Image" 2>/dev/null; then
    echo "installing: python safetensors, numpy, pillow (pip)"
    python3 -m pip install --quiet safetensors numpy pillow 2>/dev/null \
        || python3 -m pip install --quiet --break-system-packages safetensors numpy pillow
fi
if command -v python3 >/dev/null \
    && ! python3 -c "from tensorboard.backend.event_processing.event_accumulator import EventAccumulator" 2>/dev/null; then
    echo "installing: python tensorboard (pip)"
    python3 -m pip install --quiet tensorboard 2>/dev/null \
        || python3 -m pip install --quiet --break-system-packages tensorboard
fi
echo "dependencies ready"
