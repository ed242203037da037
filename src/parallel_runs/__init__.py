"""parallel-runs: many independent runs against one git repository, each in its own worktree."""

from __future__ import annotations

__all__: list[str] = []
__version__ = "0.1.0"
