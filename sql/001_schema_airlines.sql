-- Schema holding every object of the flight pipeline.
CREATE SCHEMA IF NOT EXISTS airlines;
