"""Install trained runs as the shipped checkpoints: checkpoints/<arch>/model.safetensors + config.json.

    python tools/ship.py runs/release/simple-s0.safetensors [runs/release/sa-s0.safetensors ...]
    python tools/ship.py --drawings runs/more/simple [runs/more/gated ...]   # checkpoints/drawings/<arch>/

The file is re-validated (loaded, rebuilt) before it replaces the shipped one, atomically. A run resumed
from another (a warm restart) carries the configs of the runs before it, so the recipe stays readable.
`--drawings` installs drawing-aware runs (tools/train_drawings.py --out ...) as the Sketch tab's models;
they must carry their calibration and recipe.
"""
import sys
from pathlib import Path

from fmnist.checkpoints import CHECKPOINT_DIR, DRAWING_DIR, load_checkpoint, read_metadata, save_checkpoint
from fmnist.training import previous_run_chain

KEEP_FROM_FILE = ("format", "arch", "init_args", "classes")  # rewritten by save_checkpoint itself

args = sys.argv[1:]
drawings = "--drawings" in args
runs = [r for r in args if r != "--drawings"]
if not runs:
    sys.exit(__doc__)
for run in runs:
    ckpt = load_checkpoint(run)
    meta = {k: v for k, v in ckpt.meta.items() if k not in KEEP_FROM_FILE}
    if drawings and not (meta.get("calibration") and meta.get("recipe")):
        sys.exit(f"{run}: no calibration or recipe; train it with tools/train_drawings.py")
    meta["shipped_from"] = Path(run).name if Path(run).suffix else f"{Path(run).parent.name}/{Path(run).name}"
    resumed = (meta.get("config") or {}).get("resume")
    if resumed and "previous_runs" not in meta and Path(resumed).is_file():  # trained before runs recorded it
        meta["previous_runs"] = previous_run_chain(read_metadata(Path(resumed)))
    path = save_checkpoint(ckpt.model, (DRAWING_DIR if drawings else CHECKPOINT_DIR) / ckpt.model.arch, **meta)
    print(f"{run} -> {path} (test accuracy {meta['test_metrics']['accuracy']:.4f})")
