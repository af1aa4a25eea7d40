-- One row per pipeline run of a day: input object, outcome and row counts, for audit and replay.
-- rows_read = rows_loaded + rows_below_threshold + rows_missing_delay + rows_quarantined.
CREATE TABLE IF NOT EXISTS airlines.pipeline_runs (
    run_id VARCHAR(128) NOT NULL,
    flight_date DATE NOT NULL,
    input_object VARCHAR(1024),
    status VARCHAR(16) NOT NULL,
    rows_read BIGINT,
    rows_loaded BIGINT,
    rows_below_threshold BIGINT,
    rows_missing_delay BIGINT,
    rows_quarantined BIGINT,
    rows_unmatched_airports BIGINT,
    min_dep_delay BIGINT,
    started_at TIMESTAMP NOT NULL,
    finished_at TIMESTAMP,
    error_message VARCHAR(4096),
    PRIMARY KEY (run_id)
)
DISTSTYLE EVEN
SORTKEY (started_at);
