"""`layerforge --help` and `layerforge templates` wall time (TensorFlow must not load).

Median of 5 runs each, beside `python -c pass` (the interpreter's own start) for scale.
Target: <= 1 s each.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

LAYERFORGE = Path(sys.executable).parent / "layerforge"


def wall(cmd: list[str], runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> int:
    base = wall([sys.executable, "-c", "pass"])
    print(f"python -c pass: median {base * 1000:.0f} ms")
    for args in (["--help"], ["templates"]):
        t = wall([str(LAYERFORGE), *args])
        verdict = "PASS" if t <= 1.0 else "FAIL"
        print(f"layerforge {' '.join(args)}: median {t * 1000:.0f} ms "
              f"({t / base:.1f}x python start; target <= 1 s: {verdict})")
    probe = "import sys; from layerforge.core.cli import main as cli; cli.main(['templates']); " \
            "print('tensorflow' in sys.modules, 'keras' in sys.modules, file=sys.stderr)"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    print(f"TensorFlow/Keras imported by `templates`: {out.stderr.strip().splitlines()[-1]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
