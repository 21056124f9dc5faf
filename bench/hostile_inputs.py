"""The worst images the app accepts: prepare()'s time and the memory it takes, each case in a fresh
process (so the peak belongs to the case), for the file that reaches prepare() after the gate.

    python bench/hostile_inputs.py [--repeat 3]

Cases: a 1-px line on a white canvas (the stroke-thickening path) at 1024 and 6000 px; the largest
accepted images (40 MP) as 16-bit grey PNG, RGBA PNG, and RGB JPEG; an ordinary 560x560 sketch.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
W, H = 6400, 6250  # 40 MP: the largest accepted


def make_cases(folder: Path) -> dict[str, Path]:
    cases = {}

    def save(name, img, fmt="PNG", **kw):
        path = folder / f"{name}.{fmt.lower()}"
        img.save(path, fmt, **kw)
        cases[name] = path

    for side in (1024, 6000):
        line = Image.new("L", (side, side), 255)
        line.paste(0, (side // 10, side // 2, side - side // 10, side // 2 + 1))
        save(f"1-px line on a {side}-px canvas", line)
    save("40 MP 16-bit grey PNG", Image.fromarray(np.tile(np.linspace(0, 65535, W).astype(np.uint16), (H, 1))))
    rgba = Image.new("RGBA", (W, H), (255, 255, 255, 0))
    rgba.paste((0, 0, 0, 255), (1000, 1000, 5000, 5000))
    save("40 MP RGBA PNG", rgba)
    photo = Image.new("RGB", (W, H), (250, 250, 250))
    photo.paste((40, 40, 90), (1500, 800, 4900, 5400))
    save("40 MP RGB JPEG", photo, "JPEG", quality=90)
    sketch = Image.new("L", (560, 560), 255)
    sketch.paste(0, (100, 100, 460, 112))
    sketch.paste(0, (100, 100, 112, 460))
    save("560x560 sketch", sketch)
    return cases


CHILD = """
import json, resource, sys, time
from fmnist.preprocess import prepare
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
times = []
for _ in range({repeat}):
    s = time.perf_counter(); prepare({path!r}); times.append(time.perf_counter() - s)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({{"ms": sorted(times)[len(times) // 2] * 1000, "mib": (peak - base) / 1024}}))
"""


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeat", type=int, default=3)
    a = p.parse_args()
    print("| input | file | prepare() median ms | memory above the process's start, MiB |\n|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for name, path in make_cases(Path(tmp)).items():
            out = subprocess.run([sys.executable, "-c", CHILD.format(root=str(ROOT), path=str(path), repeat=a.repeat)],
                                 capture_output=True, text=True, check=True)
            r = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"| {name} | {path.stat().st_size / 1024:,.0f} KiB | {r['ms']:.0f} | {r['mib']:.0f} |", flush=True)


if __name__ == "__main__":
    main()
