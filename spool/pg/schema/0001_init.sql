-- The kv buckets: one row each, holding its kv.Bucket sequence. Each
-- bucket's pairs live in a table kv_NAME, made at run time by the
-- transaction that creates the bucket.
CREATE TABLE buckets (name text PRIMARY KEY, seq bigint NOT NULL DEFAULT 0);

-- The nodes of the cluster, one row per node name, holding its current boot.
CREATE TABLE nodes (
  name      text PRIMARY KEY,
  boot      text NOT NULL,
  started   timestamptz NOT NULL,
  heartbeat timestamptz NOT NULL,   -- the database's clock, never a node's
  lease_ms  bigint NOT NULL,
  version   text NOT NULL DEFAULT '',
  reaped    text NOT NULL DEFAULT ''); -- the boot another node took over
