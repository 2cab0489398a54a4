"""The package list is found, not kept by hand: every folder under core/, gui/ and templates/
with an ``__init__.py`` is installed as ``layerforge.<folder>`` (``package-dir`` in
pyproject.toml maps the repository root to ``layerforge``; the rest of the metadata lives
there)."""

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

FOLDERS = ("core", "gui", "templates")


class BuildPy(build_py):
    """The root is the ``layerforge`` package, so this script would be installed in it."""

    def find_package_modules(self, package: str, package_dir: str) -> list[tuple[str, str, str]]:
        modules = super().find_package_modules(package, package_dir)
        return [m for m in modules if (m[0], m[1]) != ("layerforge", "setup")]


setup(
    packages=["layerforge"] + [
        f"layerforge.{name}" for name in find_packages(include=[f"{f}*" for f in FOLDERS])
    ],
    cmdclass={"build_py": BuildPy},
)
