"""`benchmarks/turns.py --profile`: py-spy samples the causette server's process while it
runs one offered load, and the samples are summed by function.

py-spy (the `bench` extra) attaches from outside, so the server runs exactly as measured;
`--nonblocking` reads its stacks without pausing it. Idle samples (the loop waiting in
`select`) are left out by py-spy: shares are of the time the process was on the CPU.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SAMPLE_RATE = 250
"""Samples per second: py-spy's default is 100; more resolves short frames better."""
TOP = 25
_FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^()]*?)(?::\d+)?\)$")


def py_spy() -> str | None:
    """The py-spy executable: the virtualenv's, else on PATH; None when not installed."""
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


@dataclass
class Profile:
    samples: int = 0
    seconds: float = 0.0
    own: Counter[str] = field(default_factory=Counter)
    """Samples where the function was running (the leaf)."""
    total: Counter[str] = field(default_factory=Counter)
    """Samples where the function was on the stack (counted once per sample)."""
    error: str | None = None

    @property
    def busy(self) -> float:
        """The share of the window the process spent on the CPU (non-idle samples)."""
        return self.samples / (self.seconds * SAMPLE_RATE) if self.seconds else 0.0

    def top(self, which: str) -> list[tuple[str, float]]:
        counts = self.own if which == "own" else self.total
        return [(name, count / self.samples) for name, count in counts.most_common(TOP)]

    def to_json(self) -> dict[str, Any]:
        if self.error is not None:
            return {"error": self.error}
        return {
            "sampler": f"py-spy record --nonblocking --rate {SAMPLE_RATE}",
            "samples": self.samples,
            "seconds": round(self.seconds, 2),
            "busy_share": round(self.busy, 3),
            "top_own": [{"function": n, "share": round(s, 4)} for n, s in self.top("own")],
            "top_total": [{"function": n, "share": round(s, 4)} for n, s in self.top("total")],
        }


def frame_name(frame: str) -> str:
    """`function (path/to/module.py:12)` as `module.py:function`, the line dropped so that a
    function's samples add up."""
    found = _FRAME.match(frame)
    if found is None:
        return frame
    return f"{Path(found['file']).name}:{found['function']}"


def parse_collapsed(text: str) -> tuple[int, Counter[str], Counter[str]]:
    """py-spy's raw output (`frame;frame;frame count` per line): samples, own and total."""
    samples, own, total = 0, Counter[str](), Counter[str]()
    for line in text.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [frame_name(frame) for frame in stack.split(";")]
        # The first frame is the thread ("process 12:..." or "thread ..."), not code.
        code = [frame for frame in frames if not frame.startswith(("process ", "thread "))]
        if not code:
            continue
        samples += count
        own[code[-1]] += count
        for name in set(code):
            total[name] += count
    return samples, own, total


class Sampler:
    """py-spy recording a process until `stop()` (or `seconds`), into `folder`."""

    def __init__(self, pid: int, folder: Path, seconds: float) -> None:
        self.pid, self.output, self.seconds = pid, folder / "py-spy.txt", seconds
        self.log = folder / "py-spy.log"
        self._child: asyncio.subprocess.Process | None = None

    async def start(self) -> str | None:
        """Start sampling; an error text when py-spy is missing or cannot attach."""
        executable = py_spy()
        if executable is None:
            return "py-spy not installed (pip install -e '.[bench]')"
        command = [executable, "record", "--pid", str(self.pid), "--format", "raw"]
        command += ["--rate", str(SAMPLE_RATE), "--nonblocking", "--output", str(self.output)]
        command += ["--duration", str(max(1, round(self.seconds)))]
        with self.log.open("wb") as log:
            self._child = await asyncio.create_subprocess_exec(*command, stdout=log, stderr=log)
        return None

    async def stop(self) -> Profile:
        child = self._child
        if child is None:
            return Profile(error="py-spy did not start")
        await child.wait()
        if child.returncode != 0 or not self.output.exists():
            tail = self.log.read_text(encoding="utf-8", errors="replace")[-500:]
            return Profile(error=f"py-spy exited with {child.returncode}: {tail.strip()}")
        samples, own, total = parse_collapsed(self.output.read_text(encoding="utf-8"))
        return Profile(samples, float(max(1, round(self.seconds))), own, total)
