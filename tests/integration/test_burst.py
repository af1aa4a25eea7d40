"""Thirty days uploaded within seconds: each loaded exactly once, none lost to
CrawlerRunningException or ConcurrentRunsExceededException (an execution that finds a crawl
running waits for it and looks for its partition again; the job start is retried with jittered
backoff; the crawler and MaxConcurrentRuns serialise the work)."""

from __future__ import annotations

from datetime import date, timedelta

from tests.support.pipeline import assert_burst_loads_each_day_once

DAYS = [date(2016, 3, 1) + timedelta(days) for days in range(30)]


def test_thirty_days_at_once_are_each_loaded_exactly_once(with_airports, tmp_path):
    assert_burst_loads_each_day_once(with_airports, DAYS, tmp_path)
