"""core/ must work where PySide6 cannot be imported (servers, CI jobs without Qt)."""

import subprocess
import sys

BLOCKER = """
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('PySide6', 'shiboken6'):
            raise ImportError('Qt is blocked for this test')
sys.meta_path.insert(0, Block())
import pkgutil, importlib
import layerforge.core as core
names = [i.name for i in pkgutil.walk_packages(core.__path__, 'layerforge.core.')]
assert len(names) > 40, names
for name in names:
    importlib.import_module(name)
from layerforge.core.io.templates import load_template
from layerforge.core.analysis.shapes import ShapeEngine
doc = load_template('sequential-mlp')
print(ShapeEngine(doc).total_params())
"""


def test_core_imports_and_runs_without_qt():
    out = subprocess.run([sys.executable, "-c", BLOCKER], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == str(64 * 32 + 32 + 32 * 32 + 32 + 32 * 10 + 10)
