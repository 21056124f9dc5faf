"""The app: cold start to first answer, and /predict latency through gradio_client, alone and with 8
concurrent clients (median, p95, errors).

    python bench/app_latency.py [--calls 40] [--clients 8]
"""
from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from fmnist.views import example_paths  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_client(url: str, calls: int, image: str) -> tuple[list[float], int]:
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


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--calls", type=int, default=40)
    p.add_argument("--clients", type=int, default=8)
    a = p.parse_args()
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    env = {**os.environ, "GRADIO_SERVER_PORT": str(port)}
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    image = example_paths()[7]
    try:
        from gradio_client import Client, handle_file

        while True:
            try:
                Client(url, verbose=False).predict(handle_file(image), api_name="/predict")
                break
            except Exception:
                if proc.poll() is not None or time.perf_counter() - t0 > 180:
                    raise SystemExit("the app did not start")
                time.sleep(0.25)
        cold = time.perf_counter() - t0
        print(f"cold start to first /predict answer: {cold:.1f} s")
        print("| clients | calls | median ms | p95 ms | errors |\n|---|---|---|---|---|")
        for clients in (1, a.clients):
            with ThreadPoolExecutor(clients) as pool:
                res = list(pool.map(lambda _: run_client(url, a.calls, image), range(clients)))
            times = [t for r in res for t in r[0]]
            errors = sum(r[1] for r in res)
            print(f"| {clients} | {clients * a.calls} | {np.median(times):.0f} | {np.percentile(times, 95):.0f} | {errors} |")
    finally:
        proc.terminate()
        proc.wait(timeout=20)


if __name__ == "__main__":
    main()
