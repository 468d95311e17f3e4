-- Statements written in SQL rather than built with SQLAlchemy, each under a `-- name --` line
-- and the comment that says why it has this shape; shared.sql loads them by name. Parameters are
-- psycopg's (`%(name)s`): these queries are run with `exec_driver_sql`.

-- paid_batch --
-- PostgreSQL, shared.credits: a batch's debits, job rows and ledger rows in one autocommitted
-- statement, one round trip. The rows travel as one JSON array read back as `jobs` records, so
-- the statement is the same for any batch size: a statement per row cost three times the CPU,
-- most of it round trips, and arrays per column cost as much again in psycopg's Python array
-- dumper. Accounts are locked in id order (`locked`), as `_debit_accounts` does on SQLite, so
-- two gateways' batches cannot deadlock; only the jobs of accounts whose debit matched are
-- written. A column missing from the JSON would be NULL, not its default: rows come whole from
-- new_job_row. Parameters: `accounts` (ids, sorted), `totals` (each one's debit), `jobs` (the
-- rows, a JSON array). Returns the ids of the jobs written.
WITH locked AS MATERIALIZED (
    SELECT id FROM accounts WHERE id = ANY(%(accounts)s::VARCHAR[]) ORDER BY id FOR UPDATE
), debit AS (
    UPDATE accounts SET credits = accounts.credits - owed.total
    FROM unnest(%(accounts)s::VARCHAR[], %(totals)s::BIGINT[]) AS owed (id, total)
    WHERE accounts.id = owed.id AND accounts.id IN (SELECT id FROM locked)
        AND accounts.credits >= owed.total
    RETURNING accounts.id
), job AS (
    INSERT INTO jobs
    SELECT * FROM json_populate_recordset(NULL::jobs, %(jobs)s::JSON)
    WHERE account_id IN (SELECT id FROM debit)
    RETURNING id, account_id, credits_charged, created_at
), ledger AS (
    INSERT INTO ledger (account_id, job_id, kind, amount, created_at)
    SELECT account_id, id, 'debit', credits_charged, created_at FROM job
)
SELECT id FROM job
