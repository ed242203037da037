"""What the run page shows beyond its attempts: a piece of one attempt's log (followed by polling),
the change as diff lines from changes.patch, and the files to download. All read through `Records`.

Following a log costs each poll what it returns, not the whole log: a piece names where its part
begins (`start`), the next request hands it back, and one line read there confirms it is still the
attempt's header; only a request without it (the first) reads the log through to find the part.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import BinaryIO

from parallel_runs.core.runlog import LogPart, header_attempt, log_parts
from parallel_runs.errors import NotFoundError
from parallel_runs.files import ANSI
from parallel_runs.log_reader import choose_part
from parallel_runs.store.artifacts import ArtifactInfo
from parallel_runs.store.records import AttemptRunning, Records

__all__ = ["LOG_CHUNK", "MAX_PATCH", "DiffLine", "LogPiece", "diff_lines", "listed_artifact", "log_piece"]

LOG_CHUNK = 256 * 1024  # bytes of log one poll returns at most: the page asks again for the rest
_HEADER_LINE = 64 * 1024  # the most of the line at a cursor read to check it is the attempt's header
MAX_PATCH = 2 * 1024 * 1024  # a bigger changes.patch is offered as a download only
PATCH = "changes.patch"


@dataclass(frozen=True, slots=True, kw_only=True)
class LogPiece:
    """Some of an attempt's output from `offset` (within its part), and whether more can come."""

    text: str
    offset: int  # where the next piece starts
    over: bool  # the attempt ended and everything was read
    note: str | None = None  # why there is no output here (yet)
    start: int | None = None  # where the part begins in the log: the next request's cursor

    def to_json(self) -> dict[str, object]:
        """As the log endpoint returns it."""
        return {
            "text": self.text,
            "offset": self.offset,
            "start": self.start,
            "over": self.over,
            "note": self.note,
        }


def _locate(stream: BinaryIO, attempt: int | None, start: int | None) -> LogPart | None:
    """The attempt's part: at `start` when the line there is its header (one line read), else found
    by reading the log through. A part found at `start` has no known end: the next header ends it."""
    if start is not None and attempt is not None:
        stream.seek(start)
        if header_attempt(stream.readline(_HEADER_LINE)) == attempt:
            return LogPart(attempt, start, None)
    stream.seek(0)
    return choose_part(log_parts(stream), attempt)


def log_piece(
    records: Records, *, run_id: str, batch_id: str, attempt: int, offset: int, start: int | None = None
) -> LogPiece:
    """Up to LOG_CHUNK bytes of the attempt's part of run.log from `offset`, cut at a line's end;
    `start`: where an earlier piece said the part begins."""
    try:
        log = records.run_log(run_id, batch_id=batch_id, attempt=attempt)
    except AttemptRunning as running:
        return LogPiece(
            text="", offset=offset, over=False, note=f"{running}: its run.log is stored when it ends"
        )
    with log.stream as stream:
        part = _locate(stream, log.attempt, start)
        if part is None:
            return LogPiece(text="", offset=offset, over=log.watch(log.attempt)(), note="no output yet")
        over = log.watch(part.attempt)()  # asked before reading: what was written before it ended is read
        size = None if part.end is None else part.end - part.start
        stream.seek(part.start + offset)
        data = stream.read(LOG_CHUNK if size is None else max(0, min(LOG_CHUNK, size - offset)))
    exhausted = len(data) < LOG_CHUNK or (size is not None and offset + len(data) >= size)
    if size is None:  # the last part: a retry may have begun since, after this attempt's output
        kept = _before_next_header(data, at_start=offset == 0)
        exhausted, data = exhausted or len(kept) < len(data), kept
    if not over:
        cut = data.rfind(b"\n") + 1
        if cut or len(data) < LOG_CHUNK:  # a whole chunk without a newline is one long line: sent as is
            data = data[:cut]  # the line being written comes with a later piece
    text = ANSI.sub("", data.decode("utf-8", errors="replace"))
    return LogPiece(text=text, offset=offset + len(data), over=over and exhausted, start=part.start)


def _before_next_header(data: bytes, *, at_start: bool) -> bytes:
    """`data` up to the next attempt's header line (the first line is this part's own header)."""
    position = 0
    for line in data.splitlines(keepends=True):
        if not (at_start and position == 0) and header_attempt(line) is not None:
            return data[:position]
        position += len(line)
    return data


@dataclass(frozen=True, slots=True)
class DiffLine:
    """One line of a patch and how to show it: file, hunk, add, del or context."""

    kind: str
    text: str


def diff_lines(patch: str) -> list[DiffLine]:
    """The patch's lines, each classified for colouring (the template escapes the text)."""
    lines = []
    for text in patch.splitlines():
        if text.startswith(("diff --git", "+++ ", "--- ", "index ", "new file", "deleted file", "rename ")):
            kind = "file"
        elif text.startswith("@@"):
            kind = "hunk"
        elif text.startswith("+"):
            kind = "add"
        elif text.startswith("-"):
            kind = "del"
        else:
            kind = "context"
        lines.append(DiffLine(kind, text))
    return lines


def listed_artifact(records: Records, *, run_id: str, batch_id: str, attempt: int, name: str) -> ArtifactInfo:
    """The attempt's listed file of that name (so no path outside its artifacts can be asked for)."""
    for info in records.artifacts(run_id, batch_id=batch_id, attempt=attempt):
        if info.name == name and not info.skipped:
            return info
    raise NotFoundError(f"attempt {attempt} of run {run_id!r} has no artifact {name!r}")


def read_patch(records: Records, artifacts: list[ArtifactInfo]) -> list[DiffLine] | None:
    """The attempt's changes.patch as diff lines; None when it has none or it is too big to show."""
    info = next((a for a in artifacts if a.name == PATCH and not a.skipped), None)
    if info is None or info.size > MAX_PATCH:
        return None
    with records.open_artifact(info) as stream:
        return diff_lines(stream.read(MAX_PATCH).decode("utf-8", errors="replace"))
