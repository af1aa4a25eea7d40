-- Flights delayed past the threshold, one row per flight, with both airports denormalised.
-- Loads and most queries are per day: distribute evenly (a DISTKEY on the date would put a whole
-- day, the unit of every load, on one slice) and sort by date so a day's delete and scan touch
-- only its blocks.
CREATE TABLE IF NOT EXISTS airlines.daily_flights_fact (
    carrier VARCHAR(10) NOT NULL,
    dep_airport_id BIGINT NOT NULL,
    arr_airport_id BIGINT NOT NULL,
    dep_airport VARCHAR(200),
    arr_airport VARCHAR(200),
    dep_city VARCHAR(100),
    arr_city VARCHAR(100),
    dep_state VARCHAR(100),
    arr_state VARCHAR(100),
    dep_delay BIGINT NOT NULL,
    arr_delay BIGINT,
    flight_date DATE NOT NULL
)
DISTSTYLE EVEN
COMPOUND SORTKEY (flight_date, carrier);
