"""The job's pure transforms on tiny files and frames, one behaviour each."""

from __future__ import annotations

from datetime import date

import pytest

from flightjob import airports, aws_io, flights, lines

HEADER = "Carrier,OriginAirportID,DestAirportID,DepDelay,ArrDelay"
SOURCE = "s3://bucket/daily_flights/date=2013-01-01/flights.csv"


@pytest.fixture
def parse(spark, tmp_path):
    """content -> the parsed rows of a file holding it, read as the job reads its files."""
    read: list[aws_io.DayLines] = []

    def parse(content: str):
        path = tmp_path / f"flights-{len(read)}.csv"
        path.write_bytes(content.encode("utf-8"))
        day = aws_io.read_lines(spark, [f"file://{path}"])
        read.append(day)
        return flights.parse_flights(lines.data_lines(day.numbered, day.layouts), day.layouts)

    yield parse
    for day in read:
        day.lines.unpersist()


def rows(frame, *columns):
    return [tuple(r[c] for c in columns) for r in frame.orderBy("line_number").collect()]


def test_threshold_is_inclusive_at_exactly_60(parse):
    parsed = parse(f"{HEADER}\nAA,1,2,59,0\nAA,1,2,60,0\nAA,1,2,61,0\n")
    assert sorted(r.dep_delay for r in flights.delayed(parsed).collect()) == [60, 61]


def test_threshold_is_a_parameter(parse):
    parsed = parse(f"{HEADER}\nAA,1,2,14,0\nAA,1,2,15,0\n")
    assert [r.dep_delay for r in flights.delayed(parsed, min_dep_delay=15).collect()] == [15]


def test_empty_and_na_delays_are_missing_not_delayed_and_not_zero(parse):
    parsed = parse(f"{HEADER}\nAA,1,2,,\nAA,1,2,NA,NA\nAA,1,2,90,\n")
    assert rows(parsed, "dep_delay", "arr_delay", "reason") == [
        (None, None, None),
        (None, None, None),
        (90, None, None),
    ]
    counts = flights.outcome_counts(parsed).first()
    assert (counts.rows_missing_delay, counts.rows_delayed) == (2, 1)


def test_columns_are_found_by_header_name_in_any_order_with_extras(parse):
    content = (
        "arrdelay,Extra,DEPDELAY, destairportid ,Carrier,OriginAirportID,more\n5,x,75,20,UA,10,y\n"
    )
    parsed = parse(content)
    assert rows(parsed, "carrier", "origin_id", "dest_id", "dep_delay", "arr_delay") == [
        ("UA", 10, 20, 75, 5)
    ]


def test_missing_required_column_names_it():
    with pytest.raises(lines.InputFileError, match="missing required column DepDelay"):
        lines.layout_for(
            SOURCE, "Carrier,OriginAirportID,DestAirportID,ArrDelay\n", flights.FLIGHT_COLUMNS
        )


def test_empty_file_has_no_header():
    with pytest.raises(lines.InputFileError, match="no header"):
        lines.layout_for(SOURCE, "\ufeff\r\n  \n", flights.FLIGHT_COLUMNS)


def test_bom_crlf_and_quoted_fields_are_handled(parse):
    content = f'\ufeff{HEADER}\r\n"AA","1","2","-3.00","4"\r\n"B6",3,4,"61.00",-2\r\n'
    parsed = parse(content)
    assert rows(parsed, "carrier", "dep_delay", "arr_delay", "reason") == [
        ("AA", -3, 4, None),
        ("B6", 61, -2, None),
    ]


def test_unparseable_rows_are_quarantined_with_line_reason_and_raw_text(parse):
    content = (
        f"{HEADER}\n"
        "AA,1,2,abc,0\n"  # line 2: non-numeric delay
        "AA,x1,2,70,0\n"  # line 3: non-numeric id
        "AA,1,2,70\n"  # line 4: too few fields
        "AA,1,2,70,0,9\n"  # line 5: too many fields
        "AA,1,2,7.5,0\n"  # line 6: fractional minutes
        '"AA,1,2,70,0\n'  # line 7: unbalanced quote
        ",1,2,70,0\n"  # line 8: missing carrier
        "AA,1,2,70,0"  # line 9: fine, no final newline
    )
    parsed = parse(content)
    bad = {r.line_number: (r.reason, r.raw) for r in flights.quarantined(parsed).collect()}
    assert bad == {
        2: ("DepDelay 'abc' is not a number", "AA,1,2,abc,0"),
        3: ("OriginAirportID 'x1' is not an airport id", "AA,x1,2,70,0"),
        4: ("4 fields, the header has 5", "AA,1,2,70"),
        5: ("6 fields, the header has 5", "AA,1,2,70,0,9"),
        6: ("DepDelay '7.5' is not a whole number of minutes", "AA,1,2,7.5,0"),
        7: ("unbalanced quote", '"AA,1,2,70,0'),
        8: ("Carrier is missing", ",1,2,70,0"),
    }
    counts = flights.outcome_counts(parsed).first()
    assert (counts.rows_read, counts.rows_quarantined, counts.rows_delayed) == (8, 7, 1)


def test_trailing_comma_and_blank_lines_are_tolerated(parse):
    parsed = parse(f"{HEADER}\n\nAA,1,2,70,0,\n   \nAA,1,2,80,1\n")
    assert rows(parsed, "line_number", "dep_delay", "reason") == [(3, 70, None), (5, 80, None)]


def test_counts_reconcile(parse):
    parsed = parse(f"{HEADER}\nAA,1,2,61,0\nAA,1,2,5,0\nAA,1,2,,\nAA,1,2,zz,0\n")
    c = flights.outcome_counts(parsed).first()
    assert (
        c.rows_read
        == c.rows_delayed + c.rows_below_threshold + c.rows_missing_delay + c.rows_quarantined
    )
    assert (c.rows_delayed, c.rows_below_threshold, c.rows_missing_delay, c.rows_quarantined) == (
        1,
        1,
        1,
        1,
    )


DIM = "s3://bucket/dim/airports.csv"


def test_enrich_joins_departure_and_arrival_and_keeps_unmatched(spark, parse):
    dim = airports.airports_frame(
        spark,
        airports.parse_airports(
            DIM,
            'airport_id,city,state,name\n1,"Kekaha, Kauai",HI,Barking Sands\n2,Boston,MA,Logan\n',
        ),
    )
    parsed = parse(f"{HEADER}\nAA,1,2,70,5\nAA,2,99,65,\n")
    fact = flights.enrich(flights.delayed(parsed), dim, date(2013, 1, 1))
    got = sorted(tuple(r) for r in fact.collect())
    assert got == [
        (
            "AA",
            1,
            2,
            "Barking Sands",
            "Logan",
            "Kekaha, Kauai",
            "Boston",
            "HI",
            "MA",
            70,
            5,
            date(2013, 1, 1),
        ),
        ("AA", 2, 99, "Logan", None, "Boston", None, "MA", None, 65, None, date(2013, 1, 1)),
    ]
    assert flights.fact_counts(fact).first().asDict() == {
        "rows_loaded": 2,
        "rows_unmatched_airports": 1,
    }


def test_day_counts_are_the_outcome_and_fact_counts_in_one_aggregation(spark, parse):
    dim = airports.airports_frame(spark, [(1, "A", "AA", "One"), (2, "B", "BB", "Two")])
    parsed = parse(
        f"{HEADER}\nAA,1,2,70,5\nAA,1,99,65,\nAA,1,2,5,0\nAA,1,2,,\nAA,1,2,zz,0\nAA,3,2,20,0\n"
    )
    fact = flights.enrich(flights.delayed(parsed), dim, date(2013, 1, 1))

    counts = flights.day_counts(parsed, dim).collect()
    assert len(counts) == 1
    assert counts[0].asDict() == {
        **flights.outcome_counts(parsed).first().asDict(),
        **flights.fact_counts(fact).first().asDict(),
    }
    assert counts[0].asDict() == {
        "rows_read": 6,
        "rows_delayed": 2,
        "rows_below_threshold": 2,
        "rows_missing_delay": 1,
        "rows_quarantined": 1,
        "rows_loaded": 2,
        "rows_unmatched_airports": 1,
    }


def test_dimension_parses_by_header_name_with_bom_crlf_and_quoted_commas():
    content = (
        "\ufeffname,airport_id,state,city\r\n"
        '"Barking Sands",10644,HI,"Kekaha, Kauai"\r\n'
        "Nowhere,7,,\r\n"
    )
    assert airports.parse_airports(DIM, content) == [
        (10644, "Kekaha, Kauai", "HI", "Barking Sands"),
        (7, None, None, "Nowhere"),
    ]


def test_dimension_with_duplicate_ids_is_rejected_naming_them():
    with pytest.raises(lines.InputFileError, match=r"duplicate airport_id 1, 2$"):
        airports.parse_airports(
            DIM, "airport_id,city,state,name\n1,A,AA,One\n2,B,BB,Two\n1,C,CC,Uno\n2,D,DD,Dos\n"
        )


def test_dimension_with_bad_rows_is_rejected_naming_the_lines():
    content = 'airport_id,city,state,name\nabc,A,AA,One\n3,B,BB\n4,"C,CC,Four\n5,E,EE,\n'
    with pytest.raises(lines.InputFileError) as raised:
        airports.parse_airports(DIM, content)
    assert str(raised.value) == (
        f"{DIM}: line 2: airport_id 'abc' is not an airport id; "
        "line 3: 3 fields, the header has 4; line 4: unbalanced quote; line 5: name is missing"
    )


# Lines without a quote or a backslash: empty fields, blanks kept, too few and too many fields,
# a trailing comma, tabs, non-ASCII text, and a line with no comma at all.
PLAIN_LINES = [
    "AA,1,2,3,4",
    ",,,,",
    "AA,,2,,",
    " AA , 1 ,2, 3 ,4 ",
    "AA,1",
    "AA,1,2,3,4,5,6,7",
    "AA,1,2,3,4,",
    "\tAA,1\t,2,3,4",
    "Zürich,é,ü,\u2013,\u2026",
    "nothing",
]


def test_a_line_without_quotes_is_split_as_spark_csv_parser_reads_it(spark):
    """The tokeniser's fast path (``split``) against ``from_csv`` itself, field by field, with
    the field count against the count the quoted path uses."""
    from pyspark.sql import functions as F

    width = 6
    schema = ", ".join(f"f{i} STRING" for i in range(width))
    frame = spark.createDataFrame([(line,) for line in PLAIN_LINES], "text STRING")
    tokens = flights._tokens(F.col("text"), width)
    parser = F.from_csv(F.col("text"), schema, {"mode": "PERMISSIVE"})
    got = frame.select(
        "text",
        F.array(*[flights._field(tokens, i) for i in range(width)]).alias("fast"),
        F.array(*[parser[f"f{i}"] for i in range(width)]).alias("parser"),
        F.size(tokens).alias("count"),
        flights._field_count(F.col("text")).alias("counted"),
    ).collect()
    assert len(got) == len(PLAIN_LINES)
    for row in got:
        assert row["fast"] == row["parser"], row["text"]
        assert row["count"] == row["counted"], row["text"]


def test_a_line_with_a_quote_or_a_backslash_goes_through_the_csv_parser(parse):
    parsed = parse(f'{HEADER}\n"A,A",1,2,61,0\nA\\A,1,2,61,0\n')
    assert rows(parsed, "line_number", "carrier", "reason") == [
        (2, "A,A", None),
        (3, "A\\A", None),
    ]


def test_rows_frame_keeps_every_value_exactly(spark):
    """Rows reach Spark as one JSON literal (``rows_frame``): text of any kind and whole numbers
    across BIGINT's range come back as they went in, nulls as nulls, in order."""
    rows = [
        (9_223_372_036_854_775_807, "quote ' and \" and \\ backslash", None),
        (-9_223_372_036_854_775_808, "line\nbreak\r\ttab \x01 and ; % {} [] ,", "é ü 東京 🛫"),
        (0, "", "\ufeffBOM"),
    ]
    fields = (("id", "BIGINT"), ("text", "STRING"), ("other name", "STRING"))

    frame = lines.rows_frame(spark, rows, fields)

    assert frame.columns == ["id", "text", "other name"]
    assert [tuple(row) for row in frame.collect()] == rows
    assert lines.rows_frame(spark, [], fields).collect() == []
    assert frame.rdd.getNumPartitions() == 1
