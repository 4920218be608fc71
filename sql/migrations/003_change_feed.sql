-- The change feed: every statement that writes customers, products or transactions takes a new data version
-- and announces it on the channel marketpulse_data_changed when its transaction commits. Gateways LISTEN
-- there and stop serving cached answers computed from older data (src/cache/).

-- A sequence, not a counter row: writers never wait on each other for a version, and a rolled-back
-- transaction only leaves a gap, since its NOTIFY is discarded with it.
CREATE SEQUENCE data_version_seq;

CREATE FUNCTION mp_data_version() RETURNS bigint
  LANGUAGE sql STABLE
  AS $$ SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM data_version_seq $$;

CREATE FUNCTION mp_announce_change() RETURNS trigger
  LANGUAGE plpgsql
  AS $$
BEGIN
  PERFORM pg_notify('marketpulse_data_changed',
                    json_build_object('version', nextval('data_version_seq'), 'table', TG_TABLE_NAME)::text);
  RETURN NULL;
END
$$;

CREATE TRIGGER customers_announce_change AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON customers
  FOR EACH STATEMENT EXECUTE FUNCTION mp_announce_change();
CREATE TRIGGER products_announce_change AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON products
  FOR EACH STATEMENT EXECUTE FUNCTION mp_announce_change();
CREATE TRIGGER transactions_announce_change AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON transactions
  FOR EACH STATEMENT EXECUTE FUNCTION mp_announce_change();
