-- The original registry's SQLite schema (its RegistryDatabase._init_db), verbatim:
-- mreg.compat.model_registry's SQL view is made with it, and the CLI tests
-- build the original's databases with it (tests/cli/bulk.sh).
CREATE TABLE IF NOT EXISTS models (
    model_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    description TEXT,
    model_type TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS versions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    model_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    stage TEXT NOT NULL,
    file_path TEXT NOT NULL,
    file_hash TEXT NOT NULL,
    file_size_bytes INTEGER NOT NULL,
    metrics_json TEXT,
    training_config_json TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    FOREIGN KEY (model_id) REFERENCES models(model_id),
    UNIQUE(model_id, version)
);
CREATE TABLE IF NOT EXISTS tags (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    model_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    tag TEXT NOT NULL,
    FOREIGN KEY (model_id) REFERENCES models(model_id),
    UNIQUE(model_id, version, tag)
);
CREATE TABLE IF NOT EXISTS stage_transitions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    model_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    from_stage TEXT,
    to_stage TEXT NOT NULL,
    reason TEXT,
    transitioned_by TEXT,
    transitioned_at TEXT NOT NULL,
    FOREIGN KEY (model_id) REFERENCES models(model_id)
);
CREATE TABLE IF NOT EXISTS comparisons (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    model_a_id TEXT NOT NULL,
    model_a_version INTEGER NOT NULL,
    model_b_id TEXT NOT NULL,
    model_b_version INTEGER NOT NULL,
    games_played INTEGER NOT NULL,
    model_a_wins INTEGER NOT NULL,
    model_b_wins INTEGER NOT NULL,
    draws INTEGER NOT NULL,
    elo_diff REAL,
    compared_at TEXT NOT NULL,
    notes TEXT
);
CREATE TABLE IF NOT EXISTS validations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    model_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    work_id TEXT,
    baselines TEXT,
    games_per_matchup INTEGER DEFAULT 50,
    results_json TEXT,
    started_at TEXT,
    completed_at TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    FOREIGN KEY (model_id) REFERENCES models(model_id),
    UNIQUE(model_id, version)
);
CREATE INDEX IF NOT EXISTS idx_versions_model ON versions(model_id);
CREATE INDEX IF NOT EXISTS idx_versions_stage ON versions(stage);
CREATE INDEX IF NOT EXISTS idx_tags_model ON tags(model_id, version);
CREATE INDEX IF NOT EXISTS idx_transitions_model ON stage_transitions(model_id, version);
CREATE INDEX IF NOT EXISTS idx_validations_status ON validations(status);
