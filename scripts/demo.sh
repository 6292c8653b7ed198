#!/usr/bin/env bash
# Set everything up, then optimize the MBB beam of configs/mbb.yaml into out/mbb-beam/.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
.venv/bin/femopt run configs/mbb.yaml "$@"
