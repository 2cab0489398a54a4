"""The package list is found, not kept by hand: every folder under core/, gui/ and templates/
with an ``__init__.py`` is installed as ``layerforge.<folder>`` (see ``package-dir`` in
pyproject.toml for the mapping; the rest of the metadata lives there)."""

from setuptools import find_packages, setup

FOLDERS = ("core", "gui", "templates")

setup(packages=["layerforge"] + [
    f"layerforge.{name}" for name in find_packages(include=[f"{f}*" for f in FOLDERS])
])
