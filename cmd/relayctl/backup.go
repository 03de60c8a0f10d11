package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
)

type backupOptions struct {
	common
	path   string // "-": standard output
	stdout io.Writer
}

// backupResult is the answer of -o json.
type backupResult struct {
	Path  string `json:"path"`
	Bytes int64  `json:"bytes"`
}

func newBackupCommand(g *globals, runF func(*backupOptions) error) *cobra.Command {
	o := &backupOptions{}
	cmd := &cobra.Command{
		Use:   "backup FILE",
		Short: "Copy relayd's spool, consistent, while it runs",
		Long: `Copy relayd's spool file, as it is at one moment, into FILE (mode 0600;
- for standard output), while relayd goes on accepting and delivering mail.
The copy is a spool file: to restore it, stop relayd and put it in place of
<data>/spool.db. It holds every message, the credentials' password
hashes and upstream URLs (with their passwords), webhooks' secrets and
DKIM private keys, so it needs the operator role; keep it as private as
the spool (with -, set umask 077 first). FILE appears only once the whole copy is written, so
a copy cut short leaves no FILE behind.`,
		Example: `  relayctl backup /var/backups/relay/spool-$(date +%F).db
  (umask 077; relayctl --admin unix:/var/lib/relay/admin.sock backup - | gzip > spool.db.gz)`,
		Args: argNames("FILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.common = g.common(cmd)
			o.path, o.stdout = args[0], cmd.OutOrStdout()
			if runF != nil {
				return runF(o)
			}
			return runBackup(cmd.Context(), o)
		},
	}
	return cmd
}

func runBackup(ctx context.Context, o *backupOptions) error {
	c, err := o.client()
	if err != nil {
		return err
	}
	if o.path == "-" {
		_, err := c.Backup(ctx, o.stdout)
		return err
	}
	n, err := backupToFile(o.path, func(w io.Writer) (int64, error) { return c.Backup(ctx, w) })
	if err != nil {
		return err
	}
	r := backupResult{Path: o.path, Bytes: n}
	return o.out.print(r, func(w io.Writer) { fmt.Fprintf(w, "backup\t%d bytes written to %s\n", n, o.path) })
}

// backupToFile writes a temporary file beside path, syncs it and renames
// it to path, so that path is either the whole copy or absent.
func backupToFile(path string, copyTo func(io.Writer) (int64, error)) (int64, error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".partial-*")
	if err != nil {
		return 0, fmt.Errorf("backup: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // after the rename, nothing to remove
	n, err := copyTo(f)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		return n, fmt.Errorf("backup to %s: %w", path, err)
	}
	return n, nil
}
