"""The shim: starts a run's commands, kills each at its lease deadline, and leaves nothing behind.

Started by `process.run_command` (`shim/client.py`) as `python -I -S -c "...from parallel_runs.shim.serve
import serve; serve(CONTROL_FD)"` (imported, so its bytecode is cached), in its own session. Its
modules (`tree`, `command`, `serve`; not `client`, the supervisor's side) import only the standard
library, so it starts in milliseconds and keeps working while the supervisor is frozen, hung or dead. It
runs the commands sent on CONTROL_FD (a Unix socket) one at a time, so a worker thread starts one shim
for all its runs (an interpreter's start cost about 12 ms a run) until it closes its end:

- Each request carries the command's argv, cwd, environment and grace, and three file descriptors:
  FEED, REPORT and the run log (the command's stdout and stderr, and the shim's own messages). The
  shim answers once the command is in its own process group: the supervisor says the command
  started (and may stop it) only then. It answers "retired" instead, and exits, when a command
  changed what the next would inherit of it (limits, niceness, OOM score, CPUs); after a command
  whose processes it could not all kill, it exits once it has reported.
- It is a child subreaper: whatever the command starts, whatever it does to its environment, cwd,
  session or process group, its orphans are re-parented here, so a /proc walk from here finds them.
- FEED carries absolute CLOCK_MONOTONIC deadlines, one a line (each lease renewal moves it on).
  Past the deadline the command is not started, or the whole tree is killed: the lease is about to
  lapse and another worker may take the run. End of file means the supervisor is gone: same.
- SIGTERM stops the running command's tree (TERM, KILL after the grace); SIGUSR1 kills it at once.
  Between commands they do nothing. Each command starts with SIGINT, SIGPIPE and SIGXFSZ at their
  defaults, as a shell starts it (Python ignores the last two, and the shim SIGINT).
- When the command ends, every process left is killed. REPORT gets one JSON object: the
  command's status (128+N for signal N), why it never started, whether the deadline killed it, and
  the processes that had left its process group. While a command runs, the shim's cwd is the
  command's (`recover` finds a dead holder's shim by it).

A request's `broken` faults (`watchdog`, `contain`) come only from `make chaos-proof` (testing_faults).
"""
