-- API keys for services (x-api-key): only the SHA-256 of each key is kept. Read by src/auth/authenticate.ts,
-- written by `npm run api-key` (src/cli/api-key.ts). A revoked key keeps its row, for the record.

CREATE TABLE api_keys (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name        text NOT NULL,
  role        text NOT NULL CHECK (role IN ('viewer', 'analyst', 'admin')),
  key_hash    text NOT NULL UNIQUE,
  created_at  timestamptz NOT NULL DEFAULT now(),
  revoked_at  timestamptz
);

-- One live key per name, so that `revoke --name` means one key.
CREATE UNIQUE INDEX api_keys_live_name ON api_keys (name) WHERE revoked_at IS NULL;
