"""When the pipeline crawls, through the local stack: a day already in the Data Catalog goes
straight to the job, and executions that find a crawl running wait for it and look again
instead of queueing crawls of their own."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from itertools import pairwise

from tests.support.pipeline import fact_rows, finished, loaded_day, start_own_crawl, upload

HEADER = "Carrier,OriginAirportID,DestAirportID,DepDelay,ArrDelay"
# The local crawler samples up to 1 MiB of each object: a crawl of this many such objects in a new
# folder takes several seconds, long enough for executions started during it (an upload's event,
# the handler's cold start, the states before StartCrawler) to find it running.
SLOW_CRAWL_OBJECTS = 20
SAMPLE_ROW = "AA,10397,12478,61,0\n"


def states_entered(stack, execution_arn: str) -> list[str]:
    """The names of the states the execution entered, in order."""
    sfn = stack.client("stepfunctions")
    names = []
    for page in sfn.get_paginator("get_execution_history").paginate(executionArn=execution_arn):
        for event in page["events"]:
            if event["type"].endswith("StateEntered"):
                names.append(event["stateEnteredEventDetails"]["name"])
    return names


def crawls_started(states: list[str]) -> int:
    """How many crawls the execution started: StartCrawler followed by the wait for its own
    crawl (a running crawler leads to CrawlerBusy instead)."""
    return sum(1 for pair in pairwise(states) if pair == ("StartCrawler", "WaitForCrawler"))


@contextlib.contextmanager
def uploads_unheard(stack) -> Iterator[None]:
    """Uploads in the block start nothing: the data bucket sends no events to EventBridge.

    S3 decides whether an upload is notified when it stores the object, so nothing of the block
    is delivered later. (Disabling the upload rule would not do: EventBridge evaluates a rule
    when it delivers the event, which may be after the block; and LocalStack 4.13.1 itself
    delivers to a disabled rule's targets.)"""
    s3, bucket = stack.client("s3"), stack.pipeline.data_bucket
    configured = s3.get_bucket_notification_configuration(Bucket=bucket)
    configured.pop("ResponseMetadata", None)
    assert "EventBridgeConfiguration" in configured, "the bucket sends no events to EventBridge"
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={})
    try:
        yield
    finally:
        s3.put_bucket_notification_configuration(
            Bucket=bucket, NotificationConfiguration=configured
        )


def start_slow_crawl(stack, hold: str) -> None:
    """Start a crawl of our own that reads SLOW_CRAWL_OBJECTS objects of a new folder first.

    ``hold`` is an impossible date: the handler ignores its uploads (no execution), the crawler
    crawls it like any ``date=`` folder."""
    stack.quiesce()
    body = (HEADER + "\n" + SAMPLE_ROW * ((1 << 20) // len(SAMPLE_ROW))).encode()
    with uploads_unheard(stack):
        for index in range(SLOW_CRAWL_OBJECTS):
            upload(stack, f"daily_flights/date={hold}/part-{index:02d}.csv", body)
    start_own_crawl(stack)


def crawler_state(stack) -> str:
    return str(stack.client("glue").get_crawler(Name=stack.pipeline.crawler)["Crawler"]["State"])


def test_an_upload_to_a_known_day_starts_no_crawl(with_airports):
    stack, day = with_airports, "2014-07-01"
    loaded_day(stack, day, f"{HEADER}\nAA,10397,12478,61,0\n")
    key = f"daily_flights/date={day}/more.csv"

    etag = upload(stack, key, f"{HEADER}\nUA,10397,12478,90,0\n".encode())
    execution = finished(stack, key, etag)

    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    states = states_entered(stack, execution["executionArn"])
    assert "StartCrawler" not in states and "WaitForCrawler" not in states, states
    assert states[states.index("CheckPartition") + 1 :][:2] == ["WaitForTheDay", "RunJob"]
    assert fact_rows(stack, day) == [("AA", 61), ("UA", 90)]


def test_days_a_running_crawl_covers_wait_for_it_and_start_no_crawl(with_airports):
    """Both days' first objects are in S3 before the crawl starts (their uploads unheard); the
    uploads that start their executions come while it runs. Each execution finds the crawler
    running, waits for that crawl and then finds its partition: no crawl of its own."""
    stack, days = with_airports, ["2014-07-02", "2014-07-03"]
    keys = [f"daily_flights/date={day}/flights.csv" for day in days]
    bodies = [f"{HEADER}\nAA,10397,12478,{61 + i},0\n".encode() for i in range(len(days))]
    with uploads_unheard(stack):
        for key, body in zip(keys, bodies, strict=True):
            upload(stack, key, body)
    start_slow_crawl(stack, "1901-02-30")

    etags = [upload(stack, key, body) for key, body in zip(keys, bodies, strict=True)]
    assert crawler_state(stack) == "RUNNING", "the crawl ended before the uploads: make it slower"
    executions = [finished(stack, key, etag) for key, etag in zip(keys, etags, strict=True)]

    for execution in executions:
        assert execution["status"] == "SUCCEEDED", execution.get("cause")
        states = states_entered(stack, execution["executionArn"])
        assert "CrawlerBusy" in states, states
        assert crawls_started(states) == 0, states
    assert [fact_rows(stack, day) for day in days] == [[("AA", 61)], [("AA", 62)]]


def test_days_a_running_crawl_missed_start_one_crawl_between_them(with_airports):
    """Days uploaded after the running crawl listed the bucket: both wait for it, find no
    partition, and then one of them crawls while the other waits for that crawl."""
    stack, days = with_airports, ["2014-05-04", "2014-05-05"]
    start_slow_crawl(stack, "1902-02-30")
    keys = [f"daily_flights/date={day}/flights.csv" for day in days]
    etags = [
        upload(stack, key, f"{HEADER}\nAA,10397,12478,{70 + i},0\n".encode())
        for i, key in enumerate(keys)
    ]
    assert crawler_state(stack) == "RUNNING", "the crawl ended before the uploads: make it slower"
    executions = [finished(stack, key, etag) for key, etag in zip(keys, etags, strict=True)]

    started = 0
    for execution in executions:
        assert execution["status"] == "SUCCEEDED", execution.get("cause")
        states = states_entered(stack, execution["executionArn"])
        assert "CrawlerBusy" in states, states
        started += crawls_started(states)
    # One, unless the running crawl listed the bucket after the uploads (then none).
    assert started <= 1
    assert [fact_rows(stack, day) for day in days] == [[("AA", 70)], [("AA", 71)]]
