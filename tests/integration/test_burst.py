"""Thirty days uploaded within seconds: each loaded exactly once, none lost to
CrawlerRunningException or ConcurrentRunsExceededException (an execution that finds a crawl
running waits for it and looks for its partition again; the job start is retried with jittered
backoff; the crawler and MaxConcurrentRuns serialise the work)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta

import psycopg
import pytest

from flightpipe.e2e import FACT_COLUMNS, expected_fact_rows
from flightpipe.generate import generate_day
from tests.conftest import REPO
from tests.integration.helpers import finished, upload

pytestmark = pytest.mark.integration

DAYS = [date(2016, 3, 1) + timedelta(days) for days in range(30)]


def test_thirty_days_at_once_are_each_loaded_exactly_once(with_airports, tmp_path):
    stack = with_airports
    for day in DAYS:
        generate_day(
            tmp_path / "daily_flights" / f"date={day}" / "flights.csv",
            day,
            60,
            seed=day.toordinal(),
        )

    def put(day: date) -> tuple[str, str]:
        key = f"daily_flights/date={day}/flights.csv"
        return key, upload(stack, key, (tmp_path / key).read_bytes())

    with ThreadPoolExecutor(max_workers=8) as pool:
        uploads = list(pool.map(put, DAYS))

    statuses = {key: finished(stack, key, etag)["status"] for key, etag in uploads}
    assert set(statuses.values()) == {"SUCCEEDED"}, statuses
    with psycopg.connect(stack.database_url) as conn:
        loaded = conn.execute(
            f"SELECT {', '.join(FACT_COLUMNS)} FROM airlines.daily_flights_fact "
            "WHERE flight_date = ANY(%s)",
            (DAYS,),
        ).fetchall()
        runs = conn.execute(
            "SELECT flight_date, count(*) FROM airlines.pipeline_runs WHERE flight_date = ANY(%s) "
            "GROUP BY 1",
            (DAYS,),
        ).fetchall()
    expected = expected_fact_rows(
        str(tmp_path / "daily_flights" / "date=*" / "flights.csv"),
        REPO / "sample_data" / "airports.csv",
    )
    assert sorted(loaded, key=repr) == sorted(expected, key=repr)
    assert sorted(runs) == [(day, 1) for day in DAYS]
