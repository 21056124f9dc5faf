"""The app's capacity: cold start to first answer, then /predict through gradio_client, with 1 client and
with N concurrent clients (answers per second in all, median, p95, errors); optionally for several
commits in one run, so that the figures compare on the same machine at the same hour.

    python bench/app_latency.py [--calls 40] [--clients 1 12] [--commits 25d93d6 HEAD] [--http]

Each commit is checked out into a temporary git worktree and its `app.py` started with this
interpreter; the working tree itself is measured when --commits is not given (or names "WORKTREE").
"""
from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = "fmnist/assets/examples"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_client(url: str, calls: int, image: str) -> tuple[list[float], int]:
    """gradio_client, as the README shows: it spends ~90 ms of its own CPU per call on a 2-core box."""
    from gradio_client import Client, handle_file

    c = Client(url, verbose=False)
    times, errors = [], 0
    for _ in range(calls):
        s = time.perf_counter()
        try:
            out = c.predict(handle_file(image), api_name="/predict")
            assert len(out) >= 1
            times.append((time.perf_counter() - s) * 1000)
        except Exception:
            errors += 1
    return times, errors


def run_http_client(url: str, calls: int, image: str) -> tuple[list[float], int]:
    """The same call over Gradio's documented HTTP API (upload, POST /call/predict, read the answer), as
    curl or a small script would: what the server sustains, without gradio_client's own cost."""
    import json

    import httpx

    data = Path(image).read_bytes()
    times, errors = [], 0
    with httpx.Client(timeout=60) as h:
        for _ in range(calls):
            s = time.perf_counter()
            try:
                path = h.post(f"{url}gradio_api/upload", files={"files": ("x.png", data)}).json()[0]
                event = h.post(f"{url}gradio_api/call/predict",
                                json={"data": [{"path": path, "meta": {"_type": "gradio.FileData"}}]}).json()["event_id"]
                text = h.get(f"{url}gradio_api/call/predict/{event}").text
                assert "event: complete" in text, text[:200]
                out = json.loads(text.split("event: complete", 1)[1].split("data:", 1)[1].strip().splitlines()[0])
                assert len(out[0]) >= 1
                times.append((time.perf_counter() - s) * 1000)
            except Exception:
                errors += 1
    return times, errors


def measure(src: Path, label: str, calls: int, client_counts: list[int], image: str, http: bool = False) -> list[str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    env = {**os.environ, "GRADIO_SERVER_PORT": str(port), "GRADIO_SERVER_NAME": "127.0.0.1"}
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=src, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    rows = []
    try:
        from gradio_client import Client, handle_file

        while True:
            try:
                Client(url, verbose=False).predict(handle_file(image), api_name="/predict")
                break
            except Exception:
                if proc.poll() is not None or time.perf_counter() - t0 > 180:
                    raise SystemExit(f"{label}: the app did not start")
                time.sleep(0.25)
        rows.append(f"{label}: cold start to first /predict answer {time.perf_counter() - t0:.1f} s")
        for clients in client_counts:
            start = time.perf_counter()
            with ThreadPoolExecutor(clients) as pool:
                res = list(pool.map(lambda _: (run_http_client if http else run_client)(url, calls, image),
                                    range(clients)))
            wall = time.perf_counter() - start
            times = [t for r in res for t in r[0]]
            errors = sum(r[1] for r in res)
            rows.append(f"| {label} | {clients} | {clients * calls} | {len(times) / wall:.1f} | {np.median(times):.0f} "
                        f"| {np.percentile(times, 95):.0f} | {errors} |")
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--calls", type=int, default=40, help="calls per client")
    p.add_argument("--clients", type=int, nargs="+", default=[1, 12])
    p.add_argument("--commits", nargs="+", default=["WORKTREE"])
    p.add_argument("--http", action="store_true", help="clients over the HTTP API instead of gradio_client")
    a = p.parse_args()
    image = str(sorted((ROOT / EXAMPLE).glob("*.png"))[7])
    lines = ["| commit | clients | calls | answers/s | median ms | p95 ms | errors |", "|---|---|---|---|---|---|---|"]
    notes = []
    with tempfile.TemporaryDirectory() as tmp:
        for commit in a.commits:
            if commit == "WORKTREE":
                src, label = ROOT, "working tree"
            else:
                src = Path(tmp) / commit
                subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-f", str(src), commit],
                               check=True, capture_output=True)
                label = subprocess.run(["git", "-C", str(src), "rev-parse", "--short", "HEAD"], check=True,
                                       capture_output=True, text=True).stdout.strip()
            try:
                rows = measure(src, label + (" (HTTP)" if a.http else ""), a.calls, a.clients, image, a.http)
            finally:
                if commit != "WORKTREE":
                    subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(src)],
                                   capture_output=True)
            notes.append(rows[0])
            lines += rows[1:]
            print(rows[0], flush=True)
    print("\n".join(notes + [""] + lines))


if __name__ == "__main__":
    main()
