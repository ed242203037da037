"""`parallel-runs dashboard`: a live web UI over any store, read through the one read side
(`store.open_records`). Starlette, uvicorn and Jinja2 are loaded by that command only.

`app.py` builds the ASGI app and its safety (token, loopback hosts, CSRF, redaction); `api.py` is the
JSON API; `pages.py` the HTML pages; `views.py` the pure filtering, sorting, paging and timeline;
`source.py` the cached reads; `run_detail.py` logs, diffs and downloads; `render.py` the templates,
which the report's HTML format renders too (a static snapshot of the batch page).
"""
