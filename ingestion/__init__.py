"""Madinina Monitor ingestion: metric/sensor catalogue, simulator, validation, processors and the writer."""
