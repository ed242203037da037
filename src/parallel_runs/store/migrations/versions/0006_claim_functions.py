"""The claim and finish statements become PL/pgSQL functions, so each server session plans them once (P6).

Planning the claim path's statements had become the larger part of what PostgreSQL spends on a
run (0.52 of 0.87 ms): a PL/pgSQL function keeps its statements' plans for the session. Prepared
statements would do the same, but PgBouncer's transaction pooling cannot carry them; a function is
only a name. Each statement in them keeps the snapshot and locks it had when sent alone (a volatile
function's statement takes a fresh snapshot, as a statement of its own does): `parallel_runs_claim`
runs the search, then the take, as two statements, the take's snapshot after the search's locks. The
chaos-proof fault switches (`testing_faults`) are arguments: the faults break the same SQL.

The SQL is frozen here, as a migration must be: a change to it is a new migration.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# A lease has surely lapsed a TTL past its last renewal and a TTL past the database's start (a
# lease that ran out in an outage counts from the restart); `restart_grace` false: the first only.
_LAPSED = (
    "greatest({lease}.expires_at, CASE WHEN p_restart_grace THEN pg_postmaster_start_time()"
    " + ({lease}.expires_at - {lease}.heartbeat_at) END) <= clock_timestamp()"
)


def _candidates(where: str) -> str:
    """Lock the first p_limit matching runs of the batch (and their `runs` rows) nobody else locks."""
    return f"""
      SELECT l.run_id::text, l.state::text, l.attempt, r.slug::text
      FROM batch_runs l JOIN runs r ON r.run_id = l.run_id
      WHERE l.batch_id = p_batch AND {where} AND NOT (l.run_id = ANY(p_skip))
      ORDER BY l.position LIMIT p_limit FOR UPDATE SKIP LOCKED"""  # noqa: S608 (this module's own constant SQL)


_EXPIRED = f"l.state = 'claimed' AND (p_live_lapses OR {_LAPSED.format(lease='l')})"

# Expired leases first, then pending runs (two index walks, not one OR); p_run: that run only.
_NEXT_RUNS = f"""
CREATE OR REPLACE FUNCTION parallel_runs_next_runs(
  p_batch text, p_run text, p_skip text[], p_limit integer, p_live_lapses boolean, p_restart_grace boolean)
RETURNS TABLE (run_id text, state text, attempt integer, slug text)
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
#variable_conflict use_column
BEGIN
  IF p_run IS NULL THEN
    RETURN QUERY
    WITH expired AS ({_candidates(_EXPIRED)}
    ), pending AS ({_candidates("l.state = 'pending'")}
    )
    SELECT * FROM expired UNION ALL SELECT * FROM pending LIMIT p_limit;
  ELSE
    RETURN QUERY {_candidates(f"l.run_id = p_run AND (l.state = 'pending' OR ({_EXPIRED}))")};
  END IF;
END $$
"""  # noqa: S608 (this module's own constant SQL)

# Take the locked candidates' leases and record the claims: arrays, one element a claim. Another
# batch's live claim of a run refuses it; another batch's lapsed claim is fenced and requeued.
_TAKE_CLAIMS = f"""
CREATE OR REPLACE FUNCTION parallel_runs_take_claims(
  p_batch text, p_runs text[], p_keys text[], p_hosts text[], p_pids integer[], p_workers text[],
  p_ttls float8[], p_branches text[], p_kinds text[], p_notes text[], p_reasons text[],
  p_fence_batches boolean, p_restart_grace boolean)
RETURNS TABLE (run_id text, fencing_token bigint, attempt integer, expires_at timestamptz,
  claimed_at timestamptz, base_sha text)
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
#variable_conflict use_column
BEGIN
  RETURN QUERY
  WITH wanted AS (
    SELECT * FROM unnest(p_runs, p_keys, p_hosts, p_pids, p_workers, p_ttls, p_branches, p_kinds,
      p_notes, p_reasons) AS w(run_id, claim_key, host, pid, worker, ttl, branch, kind, note, reason)
  ), taken AS (
    UPDATE batch_runs SET state = 'claimed', outcome = 'running',
      attempt = (SELECT coalesce(max(a.attempt), 0) + 1 FROM attempts a WHERE a.run_id = batch_runs.run_id),
      attempts = batch_runs.attempts + 1, fencing_token = batch_runs.fencing_token + 1,
      claim_key = w.claim_key, owner_host = w.host, owner_pid = w.pid, owner_worker = w.worker,
      claimed_at = clock_timestamp(), heartbeat_at = clock_timestamp(),
      expires_at = clock_timestamp() + make_interval(secs => w.ttl), finished_at = NULL
    FROM wanted w
    WHERE batch_runs.batch_id = p_batch AND batch_runs.run_id = ANY(p_runs) AND batch_runs.run_id = w.run_id
      AND NOT EXISTS (
        SELECT 1 FROM batch_runs other_lease WHERE other_lease.run_id = batch_runs.run_id
          AND other_lease.batch_id <> batch_runs.batch_id AND other_lease.state = 'claimed'
          AND NOT ({_LAPSED.format(lease="other_lease")}))
    RETURNING batch_runs.run_id, batch_runs.fencing_token, batch_runs.attempt, batch_runs.expires_at,
      batch_runs.claimed_at,
      (SELECT b.base_sha FROM batches b WHERE b.batch_id = batch_runs.batch_id) AS base_sha
  ), fenced AS (
    UPDATE batch_runs SET state = 'pending', outcome = 'abandoned', claim_key = NULL,
      fencing_token = batch_runs.fencing_token + 1
    WHERE batch_runs.run_id IN (SELECT t.run_id FROM taken t) AND batch_runs.batch_id <> p_batch
      AND batch_runs.state = 'claimed' AND p_fence_batches
  ), abandoned AS (
    UPDATE attempts SET status = 'abandoned', finished_at = clock_timestamp(), error = w.reason
    FROM taken JOIN wanted w ON w.run_id = taken.run_id
    WHERE attempts.run_id = taken.run_id AND attempts.status = 'running' AND attempts.attempt < taken.attempt
  ), new_attempt AS (
    INSERT INTO attempts (run_id, attempt, batch_id, status, started_at, base_sha, branch, host, pid)
    SELECT taken.run_id, taken.attempt, p_batch, 'running', taken.claimed_at, taken.base_sha, w.branch,
      w.host, w.pid FROM taken JOIN wanted w ON w.run_id = taken.run_id
  ), event AS (
    INSERT INTO events (run_id, attempt, at, kind, message)
    SELECT taken.run_id, taken.attempt, clock_timestamp(), w.kind,
      'token ' || taken.fencing_token || ', ' || w.note
    FROM taken JOIN wanted w ON w.run_id = taken.run_id
  )
  SELECT t.run_id::text, t.fencing_token, t.attempt, t.expires_at, t.claimed_at, t.base_sha::text
  FROM taken t;
END $$
"""  # noqa: S608 (this module's own constant SQL)

# A group's claims of one batch in one call: lock as many candidates as asks are left, take them
# (parallel_runs_take_claims), and search again past each candidate another batch runs right now,
# for the asks it leaves. Each ask (arrays: key, owner, its description) is paired with a candidate in
# order; each claim taken is returned with its ask's key, and the attempt it took over, if any.
_CLAIM = """
CREATE OR REPLACE FUNCTION parallel_runs_claim(
  p_batch text, p_run text, p_skip text[], p_keys text[], p_hosts text[], p_pids integer[],
  p_workers text[], p_ttls float8[], p_owners text[], p_branch_prefix text,
  p_live_lapses boolean, p_fence_batches boolean, p_restart_grace boolean)
RETURNS TABLE (claim_key text, run_id text, slug text, abandoned integer, fencing_token bigint,
  attempt integer, expires_at timestamptz, base_sha text)
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
#variable_conflict use_column
DECLARE
  asks integer[] := ARRAY(SELECT generate_subscripts(p_keys, 1));  -- the asks still without a claim
  skip text[] := p_skip;
  runs text[]; slugs text[]; states text[]; attempts integer[]; paired integer[]; taken text[];
  n integer;
  k integer;
  took record;
BEGIN
  WHILE cardinality(asks) > 0 LOOP
    SELECT array_agg(c.run_id ORDER BY c.n), array_agg(c.slug ORDER BY c.n), array_agg(c.state ORDER BY c.n),
      array_agg(c.attempt ORDER BY c.n)
      INTO runs, slugs, states, attempts
      FROM parallel_runs_next_runs(p_batch, p_run, skip, cardinality(asks), p_live_lapses, p_restart_grace)
        WITH ORDINALITY AS c(run_id, state, attempt, slug, n);
    EXIT WHEN runs IS NULL;
    n := cardinality(runs);
    paired := asks[1:n];
    taken := '{}';
    FOR took IN SELECT * FROM parallel_runs_take_claims(p_batch, runs,
        ARRAY(SELECT p_keys[paired[i]] FROM generate_series(1, n) i ORDER BY i),
        ARRAY(SELECT p_hosts[paired[i]] FROM generate_series(1, n) i ORDER BY i),
        ARRAY(SELECT p_pids[paired[i]] FROM generate_series(1, n) i ORDER BY i),
        ARRAY(SELECT p_workers[paired[i]] FROM generate_series(1, n) i ORDER BY i),
        ARRAY(SELECT p_ttls[paired[i]] FROM generate_series(1, n) i ORDER BY i),
        ARRAY(SELECT p_branch_prefix || slugs[i] FROM generate_series(1, n) i ORDER BY i),
        ARRAY(SELECT CASE WHEN states[i] = 'claimed' THEN 'taken_over' ELSE 'claimed' END
          FROM generate_series(1, n) i ORDER BY i),
        ARRAY(SELECT p_owners[paired[i]] || CASE WHEN states[i] = 'claimed'
            THEN ', attempt ' || attempts[i] || ' abandoned' ELSE '' END
          FROM generate_series(1, n) i ORDER BY i),
        ARRAY(SELECT 'lease expired; taken over by ' || p_owners[paired[i]]
          FROM generate_series(1, n) i ORDER BY i),
        p_fence_batches, p_restart_grace)
    LOOP
      k := array_position(runs, took.run_id);
      taken := taken || took.run_id;
      claim_key := p_keys[paired[k]];
      run_id := took.run_id;
      slug := slugs[k];
      abandoned := CASE WHEN states[k] = 'claimed' THEN attempts[k] END;
      fencing_token := took.fencing_token;
      attempt := took.attempt;
      expires_at := took.expires_at;
      base_sha := took.base_sha;
      RETURN NEXT;
    END LOOP;
    -- a candidate another batch runs right now: searched past, its ask waits for the next round
    skip := skip || ARRAY(SELECT runs[i] FROM generate_series(1, n) i WHERE NOT (runs[i] = ANY(taken)));
    asks := ARRAY(SELECT paired[i] FROM generate_series(1, n) i WHERE NOT (runs[i] = ANY(taken)) ORDER BY i)
      || asks[n + 1:];
  END LOOP;
END $$
"""

# Finish each lease whose token is current (p_token_fenced false: any) and record its attempt's
# result; each lease finished says whether its attempt had a row to record into.
_FINISH_CLAIMS = """
CREATE OR REPLACE FUNCTION parallel_runs_finish_claims(
  p_batch text, p_runs text[], p_tokens bigint[], p_attempts integer[], p_statuses text[],
  p_exit_codes integer[], p_started timestamptz[], p_finished timestamptz[], p_head_shas text[],
  p_errors text[], p_error_tails text[], p_changed integer[], p_tests json[], p_token_fenced boolean)
RETURNS TABLE (run_id text, recorded boolean)
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
#variable_conflict use_column
BEGIN
  RETURN QUERY
  WITH wanted AS (
    SELECT * FROM unnest(p_runs, p_tokens, p_attempts, p_statuses, p_exit_codes, p_started, p_finished,
      p_head_shas, p_errors, p_error_tails, p_changed, p_tests)
      AS w(run_id, token, attempt, status, exit_code, started_at, finished_at, head_sha, error, error_tail,
        changed_files, tests)
  ), lease AS (
    UPDATE batch_runs SET
      state = CASE WHEN w.status = 'abandoned' THEN 'pending' ELSE 'finished' END,
      fencing_token = batch_runs.fencing_token + CASE WHEN w.status = 'abandoned' THEN 1 ELSE 0 END,
      claim_key = CASE WHEN w.status = 'abandoned' THEN NULL ELSE batch_runs.claim_key END,
      outcome = w.status, finished_at = clock_timestamp()
    FROM wanted w
    WHERE batch_runs.batch_id = p_batch AND batch_runs.run_id = ANY(p_runs) AND batch_runs.run_id = w.run_id
      AND (batch_runs.fencing_token = w.token OR NOT p_token_fenced)
    RETURNING batch_runs.run_id
  ), recorded AS (
    UPDATE attempts SET status = w.status, exit_code = w.exit_code, started_at = w.started_at,
      finished_at = w.finished_at, head_sha = w.head_sha, error = w.error, error_tail = w.error_tail,
      changed_files = w.changed_files, tests = w.tests
    FROM lease JOIN wanted w ON w.run_id = lease.run_id
    WHERE attempts.run_id = lease.run_id AND attempts.attempt = w.attempt
    RETURNING attempts.run_id
  )
  SELECT lease.run_id::text, recorded.run_id IS NOT NULL
  FROM lease LEFT JOIN recorded ON recorded.run_id = lease.run_id;
END $$
"""

_FUNCTIONS = (
    "parallel_runs_claim(text, text, text[], text[], text[], integer[], text[], float8[], text[], text,"
    " boolean, boolean, boolean)",
    "parallel_runs_next_runs(text, text, text[], integer, boolean, boolean)",
    "parallel_runs_take_claims(text, text[], text[], text[], integer[], text[], float8[], text[], text[],"
    " text[], text[], boolean, boolean)",
    "parallel_runs_finish_claims(text, text[], bigint[], integer[], text[], integer[], timestamptz[],"
    " timestamptz[], text[], text[], text[], integer[], json[], boolean)",
)


def upgrade() -> None:
    """Create the functions."""
    for function in (_NEXT_RUNS, _TAKE_CLAIMS, _CLAIM, _FINISH_CLAIMS):
        op.execute(function)


def downgrade() -> None:
    """Drop them (0005's code sends the statements themselves)."""
    for signature in _FUNCTIONS:
        op.execute(f"DROP FUNCTION IF EXISTS {signature}")
