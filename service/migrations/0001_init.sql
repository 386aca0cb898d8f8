-- One schema for SQLite and PostgreSQL: only TEXT, BIGINT, DOUBLE PRECISION
-- and BYTEA (SQLite stores the bytes as a blob), timestamps as BIGINT unix
-- milliseconds, booleans as BIGINT 0/1, ids as TEXT (no autoincrement).

CREATE TABLE submitters (
    name TEXT PRIMARY KEY,
    created_ms BIGINT NOT NULL,
    max_per_day BIGINT NOT NULL,
    max_concurrent BIGINT NOT NULL,
    max_wasm_bytes BIGINT NOT NULL
);

-- Bearer tokens, stored as the sha256 (hex) of the token.
CREATE TABLE tokens (
    sha256 TEXT PRIMARY KEY,
    submitter TEXT NOT NULL REFERENCES submitters (name),
    created_ms BIGINT NOT NULL
);

-- One row per submission; it is also the job queue. `attempts` counts
-- claims and doubles as the lease token: completion is conditional on it.
CREATE TABLE submissions (
    id TEXT PRIMARY KEY,
    submitter TEXT NOT NULL REFERENCES submitters (name),
    name TEXT NOT NULL,
    task TEXT NOT NULL,
    suite BIGINT NOT NULL,
    config TEXT NOT NULL,
    wasm BYTEA NOT NULL,
    wasm_sha256 TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    lease_owner TEXT,
    lease_until_ms BIGINT,
    created_ms BIGINT NOT NULL,
    started_ms BIGINT,
    finished_ms BIGINT,
    error TEXT,
    report TEXT,
    summary TEXT
);

CREATE INDEX submissions_by_status ON submissions (status, created_ms);
CREATE INDEX submissions_by_submitter ON submissions (submitter, created_ms);

-- The standard errors are NULL when undefined (a single seed).
-- Written by a worker from the scorer's figures in the report, in the same
-- transaction that completes the job; never from anything a submitter sends.
CREATE TABLE leaderboard (
    submission_id TEXT PRIMARY KEY REFERENCES submissions (id),
    task TEXT NOT NULL,
    name TEXT NOT NULL,
    submitter TEXT NOT NULL,
    private_pgr_mean DOUBLE PRECISION NOT NULL,
    private_pgr_se DOUBLE PRECISION,
    private_student_acc DOUBLE PRECISION NOT NULL,
    public_pgr_mean DOUBLE PRECISION NOT NULL,
    public_pgr_se DOUBLE PRECISION,
    public_student_acc DOUBLE PRECISION NOT NULL,
    finished_ms BIGINT NOT NULL
);

CREATE INDEX leaderboard_by_task ON leaderboard (task);
