package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"path/filepath"
	"strings"
	"time"
	"unicode"

	"github.com/holdrelay/relay/spool"
	"github.com/holdrelay/relay/spool/pg"
)

// minNodeLease is the shortest --node-lease: a node's heartbeats, a few
// per lease, must survive a slow commit or a reconnection without its
// deliveries being taken over while it is alive.
const minNodeLease = 3 * time.Second

// pgOpenTimeout bounds connecting to a PostgreSQL spool and upgrading its
// schema: a start that cannot reach the database says so rather than hang.
const pgOpenTimeout = 10 * time.Second

// spoolURL is --spool taken apart.
type spoolURL struct {
	bolt string // the bbolt file's path; "" for PostgreSQL
	pg   string // the PostgreSQL URL, as given (with its password)
	// where names the spool in messages and logs: never a password.
	where string
}

// parseSpool reads --spool. Its errors never repeat a password.
func parseSpool(raw string) (spoolURL, error) {
	if path, ok := strings.CutPrefix(raw, "bolt:"); ok {
		if path == "" {
			return spoolURL{}, errors.New("--spool bolt: needs a file's path, e.g. bolt:/var/lib/relay/spool.db")
		}
		return spoolURL{bolt: path, where: raw}, nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		// url's error quotes the whole value, password and all.
		return spoolURL{}, errors.New("--spool: not a URL; want bolt:PATH or postgres://user@host/db")
	}
	if u.Scheme != "postgres" && u.Scheme != "postgresql" {
		return spoolURL{}, fmt.Errorf("--spool %s: want bolt:PATH or postgres://user@host/db (or postgresql://)", pg.Redact(raw))
	}
	return spoolURL{pg: raw, where: pg.Redact(raw)}, nil
}

// resolveSpool defaults and checks --spool, --node-name and --node-lease.
func (c *config) resolveSpool() error {
	if c.Spool == "" {
		c.Spool = "bolt:" + filepath.Join(c.Data, "spool.db")
	}
	if _, err := parseSpool(c.Spool); err != nil {
		return err
	}
	if c.NodeName == "" {
		c.NodeName = hostname()
	}
	if !validNodeName(c.NodeName) {
		return fmt.Errorf("--node-name %q: want 1 to 253 characters, without spaces or control characters", c.NodeName)
	}
	if c.NodeLease < minNodeLease {
		return fmt.Errorf("--node-lease %v: must be at least %v", c.NodeLease, minNodeLease)
	}
	return nil
}

// validNodeName: a host name fits; what would garble a status line does not.
func validNodeName(s string) bool {
	return s != "" && len(s) <= 253 && !strings.ContainsFunc(s, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r) || r == unicode.ReplacementChar
	})
}

// openSpool opens the spool --spool names. A PostgreSQL spool registers
// this relayd as a node (see spool/pg).
func openSpool(ctx context.Context, cfg config, log *slog.Logger) (*spool.Spool, error) {
	where, err := parseSpool(cfg.Spool)
	if err != nil {
		return nil, usageError{err}
	}
	if where.bolt != "" {
		return spool.Open(where.bolt)
	}
	ctx, cancel := context.WithTimeout(ctx, pgOpenTimeout)
	defer cancel()
	db, err := pg.Open(ctx, where.pg, pg.Options{Node: cfg.NodeName, Lease: cfg.NodeLease, Version: version, Log: log})
	if err != nil {
		return nil, spoolError(where, err)
	}
	sp, err := spool.New(db)
	if err != nil {
		db.Close()
		return nil, spoolError(where, err)
	}
	return sp, nil
}

// spoolError names the spool in err, once, and makes sure no password
// comes through, whatever the driver put in its message.
func spoolError(where spoolURL, err error) error {
	msg := err.Error()
	if !strings.Contains(msg, where.where) {
		msg = "spool " + where.where + ": " + msg
	}
	if u, perr := url.Parse(where.pg); perr == nil {
		for _, pw := range passwords(u) {
			msg = strings.ReplaceAll(msg, pw, "xxxxx")
		}
	}
	return errors.New(msg)
}

// passwords lists the secrets a PostgreSQL URL may hold.
func passwords(u *url.URL) []string {
	var out []string
	if pw, ok := u.User.Password(); ok && pw != "" {
		out = append(out, pw)
	}
	q := u.Query()
	for _, k := range []string{"password", "sslpassword"} {
		if v := q.Get(k); v != "" {
			out = append(out, v)
		}
	}
	return out
}
