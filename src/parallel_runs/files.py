"""Small file helpers shared by the engine and the test gate: atomic JSON documents, appended logs."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Mapping
from pathlib import Path

__all__ = ["append_log", "write_json"]


def write_json(path: Path, document: Mapping[str, object]) -> None:
    """Write a JSON file atomically: readers see the old document or the new one, never a part."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.partial")
    try:
        partial.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)  # never left behind, taking the space a later write needs
        raise


def append_log(path: Path, text: str) -> None:
    """Append a line of our own to a log the test commands also write to."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as stream:
        stream.write(text)
