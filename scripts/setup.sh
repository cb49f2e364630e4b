#!/usr/bin/env bash
# Set up everything coaffect needs on a fresh Debian/Ubuntu machine. Idempotent:
# a second run only checks, and reinstalls Python packages only when the pins change.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  python3-venv python3-dev            # virtual environment
  xvfb xauth xdotool                  # virtual screen for PsychoPy; injected key events in tests
  libgl1-mesa-dri libglu1-mesa libegl1 libglib2.0-0  # OpenGL (Mesa llvmpipe) for PsychoPy and OpenCV
  libportaudio2 libasound2 libsndfile1 libusb-1.0-0  # psychtoolbox keyboard/sound libraries
  ffmpeg                              # ffprobe for the stimulus manifest; encoders
  pulseaudio pulseaudio-utils         # clip sound: tests start their own daemon with a null sink, parec records it
  fonts-dejavu-core fonts-noto-cjk    # Latin, Cyrillic, Japanese, Chinese, Korean texts on screen
  r-base-core r-cran-lme4 r-cran-lmertest r-cran-jsonlite  # reference engine for the mixed models
  r-cran-pbkrtest r-cran-emmeans      # Kenward-Roger df option; EMMs checked against emmeans in tests
  chromium                            # headless browser check of the HTML report
  stress-ng                           # the busy-machine check: scripts/stress_check.sh (README, Development)
)

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  "$PY" -m venv .venv
fi

stamp=.venv/.coaffect-requirements
want=$(cat requirements/*.txt pyproject.toml | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setup: installing Python packages (pins in requirements/)"
  pip=(.venv/bin/python -m pip install --quiet --disable-pip-version-check)
  "${pip[@]}" 'setuptools<81' wheel
  "${pip[@]}" -r requirements/analysis.txt -r requirements/experiments.txt -r requirements/dev.txt
  "${pip[@]}" --no-deps -r requirements/nodeps.txt
  "${pip[@]}" --no-deps --no-build-isolation -e .
  # Two OpenCV wheels overwrite each other's cv2: keep exactly the pinned one.
  extra=$(.venv/bin/python -m pip list --format=freeze 2>/dev/null | grep -iE '^opencv-(python-headless|contrib-python|contrib-python-headless)==' | cut -d= -f1 || true)
  if [ -n "$extra" ]; then .venv/bin/python -m pip uninstall -y -q $extra; "${pip[@]}" --force-reinstall --no-deps "$(grep -E '^opencv-python==' requirements/analysis.txt | cut -d' ' -f1)"; fi
  echo "$want" > "$stamp"
fi
.venv/bin/python -c "import cv2, dlib, face_recognition, psychopy, coaffect.cli, analysis, experiments" \
  || { echo "setup: the environment is broken; delete .venv and run again" >&2; exit 1; }
echo "setup: ready (.venv)"
