-- Airports dimension (BTS AirportID -> city, state, name), replaced whole on each upload of dim/airports.csv.
-- Small and joined on every query: a full copy on each node (DISTSTYLE ALL).
CREATE TABLE IF NOT EXISTS airlines.airports_dim (
    airport_id BIGINT NOT NULL,
    city VARCHAR(100),
    state VARCHAR(100),
    name VARCHAR(200),
    PRIMARY KEY (airport_id)
)
DISTSTYLE ALL
SORTKEY (airport_id);
