"""Install trained runs as the shipped checkpoints: checkpoints/<arch>/model.safetensors + config.json.

    python tools/ship.py runs/release/simple-s0.safetensors [runs/release/sa-s0.safetensors ...]

The file is re-validated (loaded, rebuilt) before it replaces the shipped one, atomically.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from fmnist.checkpoints import CHECKPOINT_DIR, load_checkpoint, save_checkpoint  # noqa: E402

KEEP_FROM_FILE = ("format", "arch", "init_args", "classes")  # rewritten by save_checkpoint itself

for run in sys.argv[1:]:
    ckpt = load_checkpoint(run)
    meta = {k: v for k, v in ckpt.meta.items() if k not in KEEP_FROM_FILE}
    meta["shipped_from"] = Path(run).name
    path = save_checkpoint(ckpt.model, CHECKPOINT_DIR / ckpt.model.arch, **meta)
    print(f"{run} -> {path} (test accuracy {meta['test_metrics']['accuracy']:.4f})")
