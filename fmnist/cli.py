"""Command line: python -m fmnist {train,evaluate,models,download} ... (each with --help)."""
from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from pathlib import Path

from .augment import parse_spec
from .checkpoints import (CHECKPOINT_DIR, CheckpointError, load_checkpoint, read_metadata, resolve_path, save_result,
                          shipped_names)
from .data import CLASSES, DataFormatError, DataNotFoundError, load_fashion_mnist
from .models import count_macs, count_parameters, create_model, list_models
from .recipes import RECIPES
from .recipes import config as recipe_config
from .config import GROUPS, Knob, TrainConfig, knobs
from .training import fit


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m fmnist", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train one architecture and save a checkpoint",
                       description="Train one architecture (default: the original study's recipe, --recipe study). "
                       "Options marked (recipe) default to the chosen recipe's value; any given one wins.",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog="recipes:\n" + "\n".join(f"  {r.name:6} {r.summary}" for r in RECIPES.values()))
    t.add_argument("--recipe", choices=list(RECIPES), default="study",
                   help="a preset of the options below (quick, fast: end with an upright phase, a departure "
                        "from the study's augmentations; study: the original recipe)")
    _add_knob_options(t)
    t.add_argument("--out", default=None, help="where to save (default runs/<arch>-<time>.safetensors)")
    t.add_argument("--tensorboard", default=None, metavar="DIR", help="also log to TensorBoard in DIR")
    t.add_argument("--quiet", action="store_true", help="no progress bar; one line per epoch")
    t.add_argument("--overwrite-shipped", action="store_true", help=argparse.SUPPRESS)

    e = sub.add_parser("evaluate", help="evaluate checkpoints on the 10,000 test images",
                       description="Evaluate checkpoints on the test set: study-layout table, intervals, McNemar.")
    e.add_argument("--models", nargs="+", default=None,
                   help="shipped names (simple, sa, gated, drawings/<arch>) or checkpoint paths (default: every shipped model)")
    e.add_argument("--json", action="store_true", help="print one JSON object keyed by model name")
    e.add_argument("--no-tta", action="store_true", help="skip the flip test-time-augmentation figures")
    e.add_argument("--data-dir", default=None)

    sub.add_parser("models", help="list the architectures with parameters and multiply-adds")
    sub.add_parser("download", help="fetch Fashion-MNIST with torchvision into ~/.cache/fmnist")
    return p


def _knob_option(k: Knob) -> dict:
    """argparse keywords for one knob (fmnist.config): a recipe's knob defaults to None, so the recipe's
    value is used unless the option is given."""
    if k.kind == "flag":
        return {"action": argparse.BooleanOptionalAction, "default": k.default, "help": k.help}
    kw = {"default": None if k.recipe or k.optional else k.default,
          "help": k.help + (" (recipe)" if k.recipe else "")}
    if k.kind == "switch":
        kw["choices"] = ["auto", "on", "off"]
        kw["default"] = None if k.recipe else "auto"
    elif k.kind in ("int", "float"):
        kw["type"] = int if k.kind == "int" else float
    elif k.kind == "choice":
        kw["choices"] = list(k.allowed())
    elif k.kind == "widths":
        kw["type"] = k.parse
    elif k.kind == "ops":
        kw["type"] = parse_spec
    return kw


def _add_knob_options(parser: argparse.ArgumentParser) -> None:
    """One option per TrainConfig knob, under its group's heading in --help."""
    groups = {key: parser.add_argument_group(title) for key, title in GROUPS.items()}
    for name, k in knobs().items():
        groups[k.group].add_argument(k.flag or "--" + name.replace("_", "-"), dest=name, **_knob_option(k))


def _config_from_args(a) -> TrainConfig:
    """The recipe's config with every knob given on the command line on top (a time budget of 0: none)."""
    given = {}
    for name, k in knobs().items():
        value = getattr(a, name)
        if value is None:
            continue
        if k.kind == "switch":
            value = k.parse(value)
        if k.optional and value == 0 and k.kind in ("int", "float"):
            value = None
        given[name] = value
    return recipe_config(a.recipe, **given)


def _is_shipped(path: Path) -> bool:
    try:
        path.resolve().relative_to(CHECKPOINT_DIR.resolve())
        return True
    except ValueError:
        return False


def cmd_train(a) -> int:
    cfg = _config_from_args(a)
    out = Path(a.out or f"runs/{cfg.arch}-{time.strftime('%Y%m%d-%H%M%S')}.safetensors")
    if _is_shipped(out) and not a.overwrite_shipped:
        print(f"error: {out} is inside the shipped checkpoints folder {CHECKPOINT_DIR}; choose another --out",
              file=sys.stderr)
        return 2
    stop = threading.Event()

    def on_sigint(signum, frame):
        if stop.is_set():
            raise KeyboardInterrupt
        print("\nstopping after this step (Ctrl-C again to abort without saving)...", file=sys.stderr)
        stop.set()

    signal.signal(signal.SIGINT, on_sigint)
    listeners = [ProgressPrinter(quiet=a.quiet)]
    if a.tensorboard:
        from .tblog import TensorBoardLogger

        listeners.append(TensorBoardLogger(a.tensorboard))
    for event in fit(cfg, stop=stop):
        for listen in listeners:
            listen(event)
    result = event["result"]
    if result.status == "stopped" and out.exists():
        # a partial run never replaces a finished checkpoint: it goes beside it
        out = out.with_name(out.stem + ".partial" + (out.suffix or ""))
    path = save_result(result, out)
    test = result.test_metrics
    print(f"\n{result.label}; best validation accuracy {result.val_metrics['val_acc']:.4f}")
    if test:
        print(f"test accuracy {test['accuracy']:.4f} (95% CI {test['accuracy_ci95'][0]:.4f}-"
              f"{test['accuracy_ci95'][1]:.4f}), macro-F1 {test['macro_f1']:.4f}")
        for c in CLASSES:
            m = test["per_class"][c]
            print(f"  {c:12s} P {m['precision']:.3f}  R {m['recall']:.3f}  F1 {m['f1']:.3f}")
    print(f"checkpoint saved to {path}")
    return 0


class ProgressPrinter:
    """Listener: a tqdm bar over all steps, with loss, accuracy, validation accuracy and ETA."""

    def __init__(self, quiet: bool = False):
        self.quiet, self.bar, self.val = quiet, None, None

    def __call__(self, ev: dict) -> None:
        kind = ev["event"]
        if kind == "start":
            print(f"training {ev['arch']} ({ev['params']:,} parameters) on {ev['train_size']:,} images, "
                  f"validating on {ev['val_size']:,}; device {ev['device']}, bf16 {'on' if ev['bf16'] else 'off'}"
                  f"{', fused CPU kernels' if ev.get('fused') else ''}")
            if not self.quiet:
                from tqdm import tqdm

                total = (ev["epochs"] - ev["start_epoch"]) * ev["steps_per_epoch"]
                self.bar = tqdm(total=total, unit="step", dynamic_ncols=True)
        elif kind == "step" and self.bar is not None:
            done = round(ev["progress"] * self.bar.total)
            self.bar.update(done - self.bar.n)
            self.bar.set_postfix_str(f"ep {ev['epoch']} loss {ev['loss']:.3f} acc {ev['acc']:.2f}"
                                     + (f" val {self.val:.4f}" if self.val is not None else ""))
        elif kind == "epoch":
            self.val = ev["val_acc"]
            line = (f"epoch {ev['epoch']}: train loss {ev['train_loss']:.4f} acc {ev['train_acc']:.4f} | "
                    f"val loss {ev['val_loss']:.4f} acc {ev['val_acc']:.4f}{' *' if ev['is_best'] else ''} | "
                    f"{ev['images_per_sec']:.0f} img/s")
            (self.bar.write if self.bar is not None else print)(line)
        elif kind == "end" and self.bar is not None:
            self.bar.close()


def _report_keys(names: list[str]) -> dict[str, str]:
    """Report key -> model: the shipped name or the file's stem, or the path as given where stems collide
    (runs/a/sa-s0.safetensors beside runs/b/sa-s0.safetensors), so no model's report replaces another's."""
    names = list(dict.fromkeys(names))
    stems = [n if n in shipped_names() else Path(n).stem for n in names]
    return {s if stems.count(s) == 1 else n: n for s, n in zip(stems, names)}


def _evaluate_all(names: list[str], data_dir: str | None, tta: bool) -> tuple[dict, dict, object]:
    from .evaluate import evaluate_model

    ds = load_fashion_mnist(data_dir)
    reports, checkpoints = {}, {}
    for key, name in _report_keys(names).items():
        ckpt = load_checkpoint(name)
        checkpoints[key] = ckpt
        reports[key] = evaluate_model(ckpt.model, ds.test_images, ds.test_labels, tta=tta)
    return reports, checkpoints, ds


def cmd_evaluate(a) -> int:
    from .evaluate import compare_pairs, format_interval, study_table

    reports, _, ds = _evaluate_all(a.models or shipped_names(), a.data_dir, not a.no_tta)
    if a.json:
        keep = ("accuracy", "macro_f1", "per_class", "accuracy_ci95", "macro_f1_ci95", "tta_flips")
        print(json.dumps({k: {f: r[f] for f in keep if f in r} for k, r in reports.items()}, indent=1))
        return 0
    print(study_table(reports))
    print()
    for k, r in reports.items():
        print(f"{k:15s} accuracy {format_interval(r['accuracy'], r['accuracy_ci95'])}  "
              f"macro-F1 {format_interval(r['macro_f1'], r['macro_f1_ci95'])}"
              + (f"  (flip TTA {r['tta_flips']['accuracy']:.4f})" if "tta_flips" in r else ""))
    pairs, holm = compare_pairs(ds.test_labels.numpy(), {k: r["predictions"] for k, r in reports.items()},
                                {k: r["accuracy"] for k, r in reports.items()})
    for line in pairs + ([holm] if holm else []):
        print(line)
    return 0


def cmd_models(a) -> int:
    """Each architecture at its default widths (what `train` builds) and as shipped in checkpoints/."""
    print(f"{'name':8s} {'class':22s} {'':9s} {'widths':13s} {'parameters':>11s} {'MACs/image':>11s}")
    for name in list_models():
        rows = [("default", create_model(name))]
        path = resolve_path(CHECKPOINT_DIR / name)  # the shipped folder's model.safetensors
        try:  # the header only: no weights are read
            rows.append(("shipped", create_model(name, **read_metadata(path)["init_args"])))
        except (CheckpointError, OSError, KeyError, TypeError) as e:
            rows.append(("shipped", f"none ({e.__class__.__name__}: {e})" if path.exists() else "none"))
        for which, m in rows:
            if isinstance(m, str):
                print(f"{name:8s} {'':22s} {which:9s} {m}")
            else:
                w = "-".join(map(str, m.widths))
                print(f"{name:8s} {type(m).__name__:22s} {which:9s} {w:13s} {count_parameters(m):>11,} "
                      f"{count_macs(m):>11,}")
    return 0


def cmd_download(a) -> int:
    ds = load_fashion_mnist(download=True)
    print(f"Fashion-MNIST ready in {ds.source} ({len(ds.train_labels):,} train, {len(ds.test_labels):,} test)")
    return 0


def main(argv: list[str] | None = None) -> int:
    a = get_args_parser().parse_args(argv)
    try:
        return {"train": cmd_train, "evaluate": cmd_evaluate, "models": cmd_models, "download": cmd_download}[
            a.command](a)
    except (DataNotFoundError, DataFormatError, CheckpointError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
