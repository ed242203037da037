"""`parallel-runs dashboard`: a live web UI over any store, read through the one read side
(`store.open_records`). Starlette and uvicorn are loaded by that command only.

`app.py` builds the ASGI app and its safety (token, loopback hosts, CSRF, redaction); `api.py` is the
JSON API; `pages.py` the HTML pages; `source.py` the cached reads; `run_detail.py` logs, diffs and
downloads. The views, templates and static assets it shares with the report's HTML format (a static
snapshot of the batch page) live in `report/` (`views.py`, `timeline.py`, `templating.py`, `templates/`,
`static/`).
"""
