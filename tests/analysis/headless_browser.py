"""A real headless Chromium for the report tests: find or install it, load a local file, and
return its screenshot pixels, console messages and the network requests the page made.

A plain module (not conftest) so test files import it by a name no other conftest shares."""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path

FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
    "--enable-logging=stderr", "--v=0", "--hide-scrollbars",
)


def find_or_install_chromium() -> tuple[str | None, str]:
    """(path, '') or (None, why not). Installs Debian's `chromium` where apt-get can."""
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path, ""
    if not shutil.which("apt-get") or os.geteuid() != 0:
        return None, "chromium is not installed and apt-get (as root) is not available"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "chromium"]):
        try:
            done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
        except subprocess.TimeoutExpired:
            return None, f"{' '.join(command)} timed out"
        if done.returncode != 0:
            return None, f"{' '.join(command)} failed: {done.stderr.strip().splitlines()[-1:]}"
    path = shutil.which("chromium")
    return (path, "") if path else (None, "apt-get installed chromium but it is not on PATH")


@dataclass(frozen=True)
class PageLoad:
    width: int
    height: int
    pixels: bytes  # RGB, row-major
    console: list[str]
    page_requests: list[str]  # URLs the page itself requested (not the browser's own traffic)

    def count_color(self, rgb: tuple[int, int, int], tolerance: int = 6, box=None) -> int:
        x0, y0, x1, y1 = box or (0, 0, self.width, self.height)
        count = 0
        for y in range(y0, min(y1, self.height)):
            row = self.pixels[y * self.width * 3 : (y + 1) * self.width * 3]
            for x in range(x0, min(x1, self.width)):
                r, g, b = row[3 * x : 3 * x + 3]
                if abs(r - rgb[0]) <= tolerance and abs(g - rgb[1]) <= tolerance and abs(b - rgb[2]) <= tolerance:
                    count += 1
        return count


def load(chromium: str, page: Path, width: int = 1280, height: int = 2400) -> PageLoad:
    with tempfile.TemporaryDirectory(prefix="patflow-chromium-") as scratch:
        shot = Path(scratch) / "shot.png"
        net_log = Path(scratch) / "net.json"
        done = subprocess.run(
            [chromium, *FLAGS, f"--user-data-dir={scratch}/profile", f"--log-net-log={net_log}",
             f"--screenshot={shot}", f"--window-size={width},{height}", page.resolve().as_uri()],
            capture_output=True, text=True, timeout=120,
        )
        if not shot.exists():
            raise RuntimeError(f"chromium made no screenshot (exit {done.returncode}): {done.stderr[-500:]}")
        console = [line for line in done.stderr.splitlines() if ":CONSOLE" in line]
        w, h, pixels = decode_png(shot.read_bytes())
        return PageLoad(w, h, pixels, console, page_requests(net_log))


def page_requests(net_log: Path) -> list[str]:
    """URLs requested on behalf of a file:// page: the browser's own update and account traffic
    is started with no origin and is not the page's doing."""
    try:
        events = json.loads(net_log.read_text())["events"]
    except (OSError, ValueError, KeyError):
        text = net_log.read_text() if net_log.exists() else ""
        events = json.loads(text.rstrip().rstrip(",") + "]}")["events"] if text else []
    urls = set()
    by_source: dict[int, str] = {}
    for event in events:
        params = event.get("params") or {}
        if "url" in params:
            by_source[event["source"]["id"]] = params["url"]
        key = params.get("network_isolation_key", "")
        if "file://" in key or params.get("initiator") in ("null", "file://"):
            url = by_source.get(event["source"]["id"], params.get("url", ""))
            if url and not url.startswith(("file:", "data:", "blob:")):
                urls.add(url)
    return sorted(urls)


def decode_png(data: bytes) -> tuple[int, int, bytes]:
    """8-bit RGB or RGBA, non-interlaced PNG (what Chromium writes) -> (width, height, RGB)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    position, chunks, header = 8, [], None
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind = data[position + 4 : position + 8]
        body = data[position + 8 : position + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            chunks.append(body)
        position += 12 + length
    width, height, depth, color, _, _, interlace = header
    assert depth == 8 and color in (2, 6) and interlace == 0, header
    channels = 3 if color == 2 else 4
    raw = zlib.decompress(b"".join(chunks))
    stride = width * channels
    previous = bytearray(stride)
    out = bytearray()
    for y in range(height):
        filter_type = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up = previous[i]
            upper_left = previous[i - channels] if i >= channels else 0
            if filter_type == 1:
                line[i] = (line[i] + left) & 0xFF
            elif filter_type == 2:
                line[i] = (line[i] + up) & 0xFF
            elif filter_type == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif filter_type == 4:
                estimate = left + up - upper_left
                pa, pb, pc = abs(estimate - left), abs(estimate - up), abs(estimate - upper_left)
                predictor = left if pa <= pb and pa <= pc else up if pb <= pc else upper_left
                line[i] = (line[i] + predictor) & 0xFF
        for x in range(width):
            out += line[x * channels : x * channels + 3]
        previous = line
    return width, height, bytes(out)
