-- The dashboard role's limits (DESIGN §9, issue 9), whoever connects with it (the dashboard, Grafana, a psql):
-- * statement_timeout 15 s, the dashboard engine's own (data_access/engine.py sets it per connection too): a
--   query that runs away is cancelled by the server even from a client that does not set it;
-- * at most 30 connections: one dashboard process pools 5 + 5 overflow, Grafana's datasource up to 10
--   (deploy/grafana), and 10 for people and tools. Beyond, the server refuses the connection ("too many
--   connections for role") instead of the reader exhausting max_connections (100) that ingestion also needs.
-- Roles are cluster-wide: this applies to every database of the server; repeating it is harmless.
ALTER ROLE madinina_reader SET statement_timeout = '15s';
ALTER ROLE madinina_reader CONNECTION LIMIT 30;
