"""Time to accuracy: wall time from a cold start until the validation accuracy first reaches the study's
test accuracy (0.893), read from the per-epoch history stored in each checkpoint (elapsed_s), or from
a fresh run with --train (one architecture at a time, stops at the target or after --max-minutes; the
release recipe of tools/train_release.py, whose cosine schedule follows the clock over --max-minutes).

    python bench/time_to_accuracy.py [checkpoints...]          # from stored histories
    python bench/time_to_accuracy.py --train --max-minutes 10   # fresh runs with the release recipe
    python bench/time_to_accuracy.py --train --max-minutes 38 simple   # one architecture
    python bench/time_to_accuracy.py --train --max-minutes 3 --augment hflip   # ... upright images only
    python bench/time_to_accuracy.py --train --max-minutes 15 --lr 1e-3 simple  # a higher peak rate
    python bench/time_to_accuracy.py --recipe fast [--bf16 off] [simple sa gated]  # a preset, run to its end

With --recipe a preset of fmnist.recipes runs from a cold start to its end for each architecture (it is
not stopped at the target): the table gives when validation first reached 0.893, the final validation
and test accuracy and the training time. Targets for `fast`: 0.893 in under 2 minutes of training and
a test accuracy of at least 0.925 within 5 minutes, on a 2-core CPU.

The study's augmentations (vertical flips, rotations up to 90 degrees) make the upright test set harder
to fit; --augment shows what the trainer does without them (same recipe otherwise).
"""
from __future__ import annotations

import argparse
import threading

from fmnist.augment import parse_spec
from fmnist.checkpoints import load_checkpoint
from fmnist.models import list_models
from fmnist.recipes import RECIPES
from fmnist.recipes import config as recipe_config
from fmnist.reference import STUDY_LEVEL
from fmnist.training import TrainConfig, first_reaching, fit


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoints", nargs="*", default=list_models(), help="checkpoints, or with --train architectures")
    p.add_argument("--train", action="store_true")
    p.add_argument("--max-minutes", type=float, default=10)
    p.add_argument("--augment", default="seed", help="with --train: seed (the study's), none, or ops like hflip")
    p.add_argument("--lr", type=float, default=3e-4, help="with --train: peak learning rate (the study's 3e-4)")
    p.add_argument("--recipe", choices=list(RECIPES), help="run this preset to its end for each architecture")
    p.add_argument("--bf16", choices=["auto", "off"], default="auto", help="with --recipe: off as on a CPU without bf16")
    a = p.parse_args()
    if a.recipe:
        print(f"recipe {a.recipe}: {RECIPES[a.recipe].summary}\n")
        print(f"| model | bf16 | reached val acc {STUDY_LEVEL} after | epoch | final val acc | test acc | training time |"
              "\n|---|---|---|---|---|---|---|")
        for name in a.checkpoints:  # architectures here
            cfg = recipe_config(a.recipe, arch=name, bf16="auto" if a.bf16 == "auto" else False, val_checks=0)
            for ev in fit(cfg):
                pass
            r = ev["result"]
            t, ep = first_reaching(r.history)
            when = f"{t / 60:.2f} min" if t is not None else "not reached"
            print(f"| {name} | {'on' if r.bf16 else 'off'} | {when} | {ep or '-'} | {r.val_metrics['val_acc']:.4f} | "
                  f"{r.test_metrics['accuracy']:.4f} | {r.train_time_s / 60:.2f} min |", flush=True)
        return
    augment = parse_spec(a.augment)
    print(f"| model | reached val acc {STUDY_LEVEL} after | epoch | best val acc seen |\n|---|---|---|---|")
    for name in a.checkpoints:
        if a.train:
            stop = threading.Event()
            cfg = TrainConfig(arch=name, epochs=300, augment=augment, lr=a.lr, schedule="cosine", warmup_epochs=1, weight_decay=0.05,
                              label_smoothing=0.1, ema=0.999, time_budget_s=a.max_minutes * 60, evaluate_test=False)
            history = []
            for ev in fit(cfg, stop=stop):
                if ev["event"] == "epoch":
                    history.append(ev)
                    if ev["val_acc"] >= STUDY_LEVEL:
                        stop.set()
        else:
            history = load_checkpoint(name).meta["history"]
        t, ep = first_reaching(history)
        best = max((h["val_acc"] for h in history), default=float("nan"))
        when = f"{t / 60:.1f} min" if t is not None else f"not reached in {history[-1]['elapsed_s'] / 60:.1f} min" if history else "-"
        print(f"| {name} | {when} | {ep or '-'} | {best:.4f} |")


if __name__ == "__main__":
    main()
