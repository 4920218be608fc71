-- The audit trail of customer-level reads: one row per GraphQL request that read customer data (who, role,
-- operation, which customers). Written in batches by src/modules/audit/audit-writer.ts; read by
-- Query.auditTrail (admin only, src/modules/audit/audit.resolver.ts).

CREATE TABLE audit_log (
  id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  occurred_at     timestamptz NOT NULL,
  request_id      text NOT NULL,
  principal       text NOT NULL,
  role            text NOT NULL CHECK (role IN ('viewer', 'analyst', 'admin')),
  client_ip       text,
  operation_name  text,
  customer_count  integer NOT NULL CHECK (customer_count >= 0),
  customer_ids    bigint[] NOT NULL
);

-- The trail is read newest first, overall or for one principal; "who saw customer 42" goes through the GIN index.
CREATE INDEX audit_log_occurred_at ON audit_log (occurred_at DESC, id);
CREATE INDEX audit_log_principal ON audit_log (principal, occurred_at DESC, id);
CREATE INDEX audit_log_customer_ids ON audit_log USING gin (customer_ids);
