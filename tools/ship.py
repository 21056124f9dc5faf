"""Install trained runs as the shipped checkpoints: checkpoints/<arch>/model.safetensors + config.json.

    python tools/ship.py runs/release/simple-s0.safetensors [runs/release/sa-s0.safetensors ...]

The file is re-validated (loaded, rebuilt) before it replaces the shipped one, atomically. A run resumed
from another (a warm restart) carries the configs of the runs before it, so the recipe stays readable.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from fmnist.checkpoints import CHECKPOINT_DIR, load_checkpoint, read_metadata, save_checkpoint  # noqa: E402
from fmnist.training import previous_run_chain  # noqa: E402

KEEP_FROM_FILE = ("format", "arch", "init_args", "classes")  # rewritten by save_checkpoint itself

for run in sys.argv[1:]:
    ckpt = load_checkpoint(run)
    meta = {k: v for k, v in ckpt.meta.items() if k not in KEEP_FROM_FILE}
    meta["shipped_from"] = Path(run).name
    resumed = (meta.get("config") or {}).get("resume")
    if resumed and "previous_runs" not in meta and Path(resumed).is_file():  # trained before runs recorded it
        meta["previous_runs"] = previous_run_chain(read_metadata(Path(resumed)))
    path = save_checkpoint(ckpt.model, CHECKPOINT_DIR / ckpt.model.arch, **meta)
    print(f"{run} -> {path} (test accuracy {meta['test_metrics']['accuracy']:.4f})")
