#!/usr/bin/env bash
# Set up femopt on Debian/Ubuntu: system libraries (when missing), a virtual
# environment in .venv, and femopt with CHOLMOD and the test tools.
# Sourced by scripts/demo.sh and scripts/test.sh; safe to run again.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

missing=()
# SuiteSparse headers for scikit-sparse, and OpenBLAS: ~2.7x faster factorization than reference BLAS.
# The X11/OpenGL libraries the gmsh wheel links against (CAD parts, femopt.mesh.cad), though femopt opens no window.
for pkg in libsuitesparse-dev libopenblas0-pthread libglu1-mesa libgl1 libxrender1 libxcursor1 libxft2 libxinerama1 \
           libfontconfig1 libgomp1; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
command -v gcc >/dev/null 2>&1 || missing+=(gcc)
python3 -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3-venv)
python3 -c 'import sysconfig, os, sys; sys.exit(not os.path.exists(sysconfig.get_paths()["include"] + "/Python.h"))' \
    || missing+=(python3-dev)

if ((${#missing[@]})); then
    if command -v apt-get >/dev/null 2>&1; then
        sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
        echo "setup: installing ${missing[*]}"
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
    else
        echo "setup: no apt-get; please install: ${missing[*]}" >&2
    fi
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
if ! .venv/bin/python -m pip install -q -e ".[cholmod,test]"; then
    echo "setup: scikit-sparse did not build; installing without CHOLMOD (SciPy SuperLU fallback)" >&2
    .venv/bin/python -m pip install -q -e ".[test]"
fi
