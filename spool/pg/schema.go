package pg

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
)

// The migrations, applied in order: schema/NNNN_what.sql is version NNNN.
// A file once released is never changed; a change of schema is a new file.
//
//go:embed schema/*.sql
var schemaFiles embed.FS

// migrateLock is the advisory lock that lets one starter at a time look at
// and upgrade the schema.
const migrateLock = 7224610001

type migration struct {
	version int
	name    string
	sql     string
}

// migrations reads the embedded files, numbered 1, 2, ... without a gap.
func migrations() ([]migration, error) {
	names, err := fs.Glob(schemaFiles, "schema/*.sql")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	var ms []migration
	for i, name := range names {
		base := strings.TrimPrefix(name, "schema/")
		n, err := strconv.Atoi(strings.SplitN(base, "_", 2)[0])
		if err != nil || n != i+1 {
			return nil, fmt.Errorf("schema file %s: want version %d first in its name", base, i+1)
		}
		b, err := schemaFiles.ReadFile(name)
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: n, name: base, sql: string(b)})
	}
	return ms, nil
}

// migrate brings the schema to the newest version this binary knows, and
// refuses one newer: an older relayd must not write to tables it does not
// understand.
func (d *DB) migrate(ctx context.Context) error {
	ms, err := migrations()
	if err != nil {
		return err
	}
	c, err := d.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer c.Release()
	if _, err := c.Exec(ctx, "SELECT pg_advisory_lock($1)", int64(migrateLock)); err != nil {
		return err
	}
	err = d.migrateLocked(ctx, c.Conn(), ms)
	if _, uerr := c.Exec(ctx, "SELECT pg_advisory_unlock($1)", int64(migrateLock)); uerr != nil {
		// A session lock left behind would hold every other starter:
		// closing the connection lets it go, and the pool drops it.
		c.Conn().Close(context.Background())
	}
	return err
}

func (d *DB) migrateLocked(ctx context.Context, c *pgx.Conn, ms []migration) error {
	_, err := c.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_version (
		only_row bool PRIMARY KEY DEFAULT true CHECK (only_row),
		version  int NOT NULL,
		upgraded timestamptz NOT NULL DEFAULT now(),
		by_node  text NOT NULL)`)
	if err != nil {
		return err
	}
	var have int
	err = c.QueryRow(ctx, "SELECT version FROM schema_version").Scan(&have)
	if err != nil && err != pgx.ErrNoRows {
		return err
	}
	if have > len(ms) {
		return fmt.Errorf("spool schema version %d is newer than this relayd knows (%d): upgrade relayd", have, len(ms))
	}
	for _, m := range ms[have:] {
		if err := d.apply(ctx, c, m); err != nil {
			return fmt.Errorf("upgrading the spool schema to version %d (%s): %w", m.version, m.name, err)
		}
		d.log.Info("spool schema upgraded", "version", m.version, "file", m.name)
	}
	return nil
}

// apply runs one migration and records it in one transaction: a failed
// file leaves the schema at the version before it.
func (d *DB) apply(ctx context.Context, c *pgx.Conn, m migration) error {
	return pgx.BeginFunc(ctx, c, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, m.sql); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO schema_version (version, by_node) VALUES ($1, $2)
			ON CONFLICT (only_row) DO UPDATE
			SET version = EXCLUDED.version, upgraded = now(), by_node = EXCLUDED.by_node`,
			m.version, d.opts.Node)
		return err
	})
}
