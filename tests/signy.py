"""A tiny itsdangerous-like project (src layout, a signer and a real pytest suite) for the gate's tests.

Its tests import `signy` from `src/`, so they need `PYTHONPATH=src` (or an install) to collect at all;
BREAK_SIGNER makes the signature check accept anything, which breaks five of its eight tests.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from tests.helpers import LEAN_PYTEST_ADDOPTS

SIGNER = '''\
import hashlib
import hmac


class BadSignature(Exception):
    """The signature does not match the value."""


class Signer:
    def __init__(self, key):
        self.key = key.encode() if isinstance(key, str) else key

    def get_signature(self, value):
        return hmac.new(self.key, value, hashlib.sha256).hexdigest().encode()

    def sign(self, value):
        return value + b"." + self.get_signature(value)

    def verify_signature(self, value, sig):
        return hmac.compare_digest(sig, self.get_signature(value))

    def unsign(self, signed):
        value, _, sig = signed.rpartition(b".")
        if not self.verify_signature(value, sig):
            raise BadSignature(f"signature {sig!r} does not match")
        return value
'''
TESTS = """\
import pytest

from signy import BadSignature, Signer


class TestSigner:
    def test_round_trip(self):
        assert Signer("k").unsign(Signer("k").sign(b"v")) == b"v"

    def test_broken_signature(self):
        with pytest.raises(BadSignature):
            Signer("k").unsign(b"v.0000")

    def test_wrong_key(self):
        with pytest.raises(BadSignature):
            Signer("other").unsign(Signer("k").sign(b"v"))

    @pytest.mark.parametrize("value", [b"a", b"b.c", b""])
    def test_tampered(self, value):
        with pytest.raises(BadSignature):
            Signer("k").unsign(Signer("k").sign(value) + b"x")


def test_signature_is_hex():
    assert Signer("k").get_signature(b"v").isalnum()


def test_empty_key_still_signs():
    assert Signer("").sign(b"v").startswith(b"v.")
"""
FILES = {
    "pyproject.toml": '[project]\nname = "signy"\nversion = "0.1"\n',
    "src/signy/__init__.py": "from signy.signer import BadSignature, Signer\n",
    "src/signy/signer.py": SIGNER,
    "tests/test_signy/test_signer.py": TESTS,
    "Makefile": "test:\n\tPYTHONPATH=src python -m pytest -q -p no:cacheprovider\n",
    "scripts/test.sh": '#!/bin/sh\nPYTHONPATH=src exec python -m pytest -q -p no:cacheprovider "$@"\n',
    ".gitignore": "__pycache__/\n*.pyc\n.pytest_cache/\n",
}
BROKEN = (
    "tests/test_signy/test_signer.py::TestSigner::test_broken_signature",
    "tests/test_signy/test_signer.py::TestSigner::test_tampered[]",
    "tests/test_signy/test_signer.py::TestSigner::test_tampered[a]",
    "tests/test_signy/test_signer.py::TestSigner::test_tampered[b.c]",
    "tests/test_signy/test_signer.py::TestSigner::test_wrong_key",
)
# The run's command for a run that breaks the signer (like replacing itsdangerous's compare_digest check).
BREAK_SIGNER = (
    "sed -i 's/return hmac.compare_digest(sig, self.get_signature(value))/return True/' src/signy/signer.py"
)


def make_executable(repo: Path) -> None:
    """scripts/test.sh is run as `scripts/test.sh` too."""
    (repo / "scripts" / "test.sh").chmod(0o755)


def environment(**extra: str) -> dict[str, str]:
    """This environment with the test interpreter's bin first on PATH (`pytest`, `python`), no PYTHONPATH,
    and only the lean PYTEST_ADDOPTS (tests/conftest.py)."""
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    env["PYTEST_ADDOPTS"] = LEAN_PYTEST_ADDOPTS
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", os.defpath)])
    return env | extra
