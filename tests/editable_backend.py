"""A PEP 660 build backend of the standard library only, copied into test projects as `backend/`.

This environment has no `wheel` for setuptools' own editable builds, so this one writes the two forms
setuptools does: for a src layout, one `.pth` naming the checkout's src/; for a flat layout, a meta
path finder module with a MAPPING of the package to its directory, installed by a `.pth`. pip
installs its editable wheel for real, offline (--no-build-isolation --no-index). The project's name
is `signy`.
"""

import base64
import hashlib
import os
import zipfile

DIST = "signy-0.1.dist-info"
METADATA = "Metadata-Version: 2.1\nName: signy\nVersion: 0.1\n"
WHEEL = "Wheel-Version: 1.0\nGenerator: editable_backend\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
FINDER = """\
import sys
from importlib.machinery import PathFinder
from importlib.util import spec_from_file_location

MAPPING = {"signy": %r}


class _EditableFinder:
    @classmethod
    def find_spec(cls, fullname, path=None, target=None):
        if fullname in MAPPING:
            where = MAPPING[fullname]
            init = where + "/__init__.py"
            return spec_from_file_location(fullname, init, submodule_search_locations=[where])
        parent = fullname.rpartition(".")[0]
        if parent in MAPPING:
            return PathFinder.find_spec(fullname, path=[MAPPING[parent]])
        return None


def install():
    if _EditableFinder not in sys.meta_path:
        sys.meta_path.append(_EditableFinder)
"""
PYPROJECT = """\
[project]
name = "signy"
version = "0.1"

[build-system]
requires = []
build-backend = "editable_backend"
backend-path = ["backend"]
"""


def get_requires_for_build_editable(config_settings=None):
    return []


def prepare_metadata_for_build_editable(metadata_directory, config_settings=None):
    os.makedirs(os.path.join(metadata_directory, DIST), exist_ok=True)
    with open(os.path.join(metadata_directory, DIST, "METADATA"), "w") as stream:
        stream.write(METADATA)
    return DIST


def _row(name, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}\n"


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    if os.path.isdir("src"):
        files = {"__editable__.signy-0.1.pth": (os.path.abspath("src") + "\n").encode()}
    else:
        finder = "__editable___signy_0_1_finder"
        files = {
            "__editable__.signy-0.1.pth": f"import {finder}; {finder}.install()\n".encode(),
            finder + ".py": (FINDER % os.path.abspath("signy")).encode(),
        }
    files.update({DIST + "/METADATA": METADATA.encode(), DIST + "/WHEEL": WHEEL.encode()})
    record = "".join(_row(name, data) for name, data in files.items()) + DIST + "/RECORD,,\n"
    with zipfile.ZipFile(os.path.join(wheel_directory, "signy-0.1-py3-none-any.whl"), "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
        archive.writestr(DIST + "/RECORD", record)
    return "signy-0.1-py3-none-any.whl"
