"""The batch page's templates (`templates/`, Jinja2 with autoescape on: whatever a run wrote is text)
and static assets (`static/`), shared by the dashboard's live pages and the report's static HTML
snapshot (`html.py`); they live here so the dashboard imports the report, never the reverse."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from importlib.resources import files

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from parallel_runs.core.durations import format_duration
from parallel_runs.core.policy import describe_exit_code
from parallel_runs.report.rows import test_failures, tests_problem, web_link

__all__ = ["STATIC_CSS", "environment", "render_template"]

STATIC_CSS = "dashboard.css"


def _when(moment: datetime | None) -> str:
    return "-" if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _duration(seconds: float | None) -> str:
    return format_duration(seconds)


def _exit(code: int | None) -> str:
    return describe_exit_code(code)


@cache
def environment() -> Environment:
    """The one Jinja2 environment: autoescape for every template, undefined names are errors."""
    env = Environment(
        loader=PackageLoader("parallel_runs.report", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(when=_when, duration=_duration, exit=_exit, web_link=web_link)
    env.globals.update(tests_problem=tests_problem, test_failures=test_failures)
    return env


def render_template(template: str, **context: object) -> str:
    """One template rendered to text."""
    return environment().get_template(template).render(**context)


@cache
def inline_css() -> str:
    """The stylesheet's text, for a page that must stand alone (the report's snapshot)."""
    return (files("parallel_runs.report") / "static" / STATIC_CSS).read_text(encoding="utf-8")
