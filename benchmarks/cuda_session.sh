#!/usr/bin/env bash
# Every GPU check of the project in one call, for a session lent a device machine (docs/compile.md,
# docs/benchmarks-cuda.md): it has 15 minutes of device time, machine start included, so the checks are
# prepared here and run there at once.
#   bash benchmarks/cuda_session.sh prepare   here: .whl/ (graphviz's wheel, which the device image lacks)
#                                             and .gpu/photos/ (the built-in set's photos, for --images)
#   bash benchmarks/cuda_session.sh run       there, through the device tool:
#       run(command="bash benchmarks/cuda_session.sh run", carry=[".whl", ".gpu"], timeout_s=560)
# `run` writes under $OUT (what the tool brings back): tests.txt, benchmarks-cuda.md (-> docs/), the
# Noise2Noise runs' metrics (engine eager, engine compiled, torch.nn twin: n2n-*.csv) and summary.txt.
# Each part has its own time limit, so a slow part cannot starve the rest.
set -uo pipefail
cd "$(dirname "$0")/.."

prepare() {
    local py=${PY:-.venv/bin/python}
    for p in /.whl/ /.gpu/; do grep -qx "$p" .git/info/exclude 2>/dev/null || echo "$p" >>.git/info/exclude; done
    "$py" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux2014_x86_64 -d .whl graphviz
    rm -rf .gpu/photos && mkdir -p .gpu/photos
    # the training photos, then one validation photo last: --images holds the last file (by name) out
    "$py" - <<'EOF'
import shutil
from examples.noise2noise import data

val = min(data.VAL_PHOTOS, key=lambda p: data.photo_file(p).stat().st_size)
for i, photo in enumerate([*data.TRAIN_PHOTOS, val]):
    src = data.photo_file(photo)
    shutil.copy(src, f".gpu/photos/{i:03d}-{photo.name}{src.suffix.lower()}")
EOF
    du -sh .whl .gpu
}

run() {
    : "${OUT:?run this on the device machine, through the device tool (OUT is where results go)}"
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl || exit 1
    export PYTHONPATH=$PWD:/tmp/site PYTHONUNBUFFERED=1
    local py=python3 summary=$OUT/summary.txt
    {
        nvidia-smi -L
        $py -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name())"
    } | tee "$summary"
    # 1. the CUDA cases of the suite (the `device` fixture's cuda parameter and the CUDA-only tests)
    timeout 150 $py -m pytest -q -n 8 -p no:cacheprovider -k "cuda or CUDA" tests >"$OUT/tests.txt" 2>&1
    echo "tests (exit $?): $(tail -1 "$OUT/tests.txt")" | tee -a "$summary"
    # 2. the benchmark tables: seed train steps (eager, compiled = CUDA graph), inference, DnCNN, GPT
    timeout 200 $py -m benchmarks --device cuda --out "$OUT/benchmarks-cuda.md" >"$OUT/benchmarks.log" 2>&1
    echo "benchmarks (exit $?)" | tee -a "$summary"
    # 3. Noise2Noise for 10 epochs on the same photos: images/s of the engine, eager and compiled, and the twin
    local name args
    for name in torch engine compiled; do
        case $name in
        torch) args=(--backend torch) ;; engine) args=(--backend engine) ;; compiled) args=(--backend engine --compile) ;;
        esac
        timeout 60 $py -m examples.noise2noise train --device cuda --epochs 10 --images .gpu/photos \
            --data-dir /tmp/n2n-cache --out "/tmp/n2n-$name" "${args[@]}" >"$OUT/n2n-$name.log" 2>&1
        echo "n2n $name (exit $?)" | tee -a "$summary"
        cp "/tmp/n2n-$name/metrics.csv" "$OUT/n2n-$name.csv" 2>/dev/null
    done
    $py - "$OUT" <<'EOF' | tee -a "$summary"
import csv, statistics, sys
from pathlib import Path

for name in ("torch", "engine", "compiled"):
    path = Path(sys.argv[1]) / f"n2n-{name}.csv"
    if path.exists():
        rows = list(csv.DictReader(path.open()))
        rate = statistics.median(float(r["images_per_s"]) for r in rows[1:] or rows)  # epoch 1 warms up
        print(f"n2n {name}: {len(rows)} epochs, median {rate:,.0f} images/s, last val {rows[-1].get('val_psnr')}")
EOF
}

case ${1:-} in
prepare) prepare ;;
run) run ;;
*) echo "usage: $0 prepare|run" >&2 && exit 2 ;;
esac
