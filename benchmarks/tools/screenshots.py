"""Headless-browser check of the published pages, offline (issue #21): serve the html
directory on 127.0.0.1, open the benchmark grid and one benchmark's graph in headless Chromium
with every other host unresolvable, check what rendered, and save a screenshot of each.

    python benchmarks/tools/screenshots.py [--html-dir .asv/html] [--out benchmarks/screenshots]
                                           [--graph BENCHMARK] [--chromium PATH]

Checks (exit status 1 if one fails): neither page is asv's error page ("Can not determine
continental origin of swallow"), the grid lists benchmarks, the graph page drew its plot
(flot's canvas and axis labels) for a benchmark with at least two commits. Debian: ``apt-get
install -y chromium``. ``nox -s benchmarks_screenshots`` runs it (CI does not).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import http.server
import json
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ERROR_TEXT = "continental origin of swallow"


@contextlib.contextmanager
def serve(directory: Path):
    """An HTTP server for ``directory`` on a free loopback port, in a thread."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def chromium_command(binary: str, profile: str, height: int = 1000) -> list[str]:
    return [
        binary,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--hide-scrollbars",
        f"--window-size=1400,{height}",
        # offline: every host but the loopback one fails to resolve, so a CDN script would fail
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        # let the page's scripts run (they fetch JSON, then draw) before the capture
        "--virtual-time-budget=20000",
        f"--user-data-dir={profile}",
    ]


def capture(binary: str, url: str, png: Path, height: int = 1000) -> str:
    """The page's DOM after its scripts ran, and a screenshot of it in ``png``."""
    with tempfile.TemporaryDirectory() as profile:
        base = chromium_command(binary, profile, height)
        dom = subprocess.run(
            [*base, "--dump-dom", url], capture_output=True, text=True, timeout=180, check=True
        ).stdout
    with tempfile.TemporaryDirectory() as profile:
        base = chromium_command(binary, profile, height)
        png.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [*base, f"--screenshot={png}", url], capture_output=True, timeout=180, check=True
        )
    return dom


def pick_graph(html_dir: Path) -> str:
    """A benchmark with points at the most commits (a time_ one first), from the published
    index.json."""
    index = json.loads((html_dir / "index.json").read_text())
    counts: dict[str, int] = {}
    for path in (html_dir / "graphs").rglob("*.json"):
        name = path.stem
        if name in index["benchmarks"] and not name.startswith("summary"):
            points = [p for p in json.loads(path.read_text()) if p[1] is not None]
            counts[name] = max(counts.get(name, 0), len(points))
    if not counts:
        raise SystemExit(f"no graph data under {html_dir}/graphs: run asv and publish first")
    return max(counts, key=lambda n: (counts[n], n.rsplit(".", 1)[-1].startswith("time_"), n))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--html-dir", default=str(ROOT / ".asv" / "html"))
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "screenshots"))
    parser.add_argument("--graph", help="benchmark to open (default: the one with most points)")
    parser.add_argument("--chromium", default=shutil.which("chromium") or "chromium")
    args = parser.parse_args(argv)
    html_dir, out = Path(args.html_dir), Path(args.out)
    if not (html_dir / "index.html").exists():
        raise SystemExit(f"{html_dir}/index.html missing: nox -s benchmarks first")
    if shutil.which(args.chromium) is None:
        raise SystemExit("chromium not found (Debian: apt-get install -y chromium)")
    graph = args.graph or pick_graph(html_dir)
    failures = []
    with serve(html_dir) as url:
        # tall enough for every module's row of thumbnails (asv draws those in view)
        grid = capture(args.chromium, url, out / "grid.png", height=1500)
        if ERROR_TEXT in grid:
            failures.append("grid: asv's error page (a script failed to load)")
        if "benchmark-container" not in grid and graph.split(".")[0] not in grid:
            failures.append("grid: no benchmark listed")
        page = capture(args.chromium, f"{url}#{graph}", out / "graph.png")
        if ERROR_TEXT in page:
            failures.append("graph: asv's error page")
        if "flot-base" not in page or "flot-tick-label" not in page:
            failures.append(f"graph: no plot drawn for {graph}")
    for name in ("grid.png", "graph.png"):
        size = (out / name).stat().st_size if (out / name).exists() else 0
        print(f"{out / name}: {size:,} bytes")
    print(f"graph: {graph}")
    for failure in failures:
        print(f"FAILED {failure}")
    print("pages render offline" if not failures else "")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
