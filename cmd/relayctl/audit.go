package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/holdrelay/relay/admin"
	"github.com/spf13/cobra"
)

func newAuditCommand(g *globals) *cobra.Command {
	cmd := group(&cobra.Command{
		Use:   "audit",
		Short: "Read the audit log of administrative changes",
		Long: `Read the audit log: every change made through the admin API (flush,
drop, hold, release, purge, pause, resume, credential changes) with its
time, actor ("uid:N" on the unix socket, "token:NAME" on TCP), the
selector, the result and the reason. Dry runs change nothing and are
not logged.`,
		Example: `  relayctl audit ls
  relayctl audit ls --limit 200 -o json`,
	})
	cmd.AddCommand(newAuditListCommand(g, nil))
	return cmd
}

type auditListOptions struct {
	common
	Limit  int
	Before uint64
	again  string
}

func newAuditListCommand(g *globals, runF func(*auditListOptions) error) *cobra.Command {
	o := &auditListOptions{}
	cmd := &cobra.Command{
		Use:     "ls [--limit N]",
		Aliases: []string{"list"},
		Short:   "List audit entries, newest first",
		Long: `List audit entries, newest first: TIME, ACTOR, ACTION, SELECTOR, RESULT
(the count of each outcome) and REASON. When older entries follow, a hint
on stderr gives the command for the next page.`,
		Example: `  relayctl audit ls
  relayctl audit ls --limit 10`,
		Args: argNames(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.common = g.common(cmd)
			if o.Limit < 1 || o.Limit > admin.MaxLimit {
				return usageErrorf("--limit %d: want 1 to %d", o.Limit, admin.MaxLimit)
			}
			o.again = commandLine(cmd, "before")
			if runF != nil {
				return runF(o)
			}
			return runAuditList(cmd.Context(), o)
		},
	}
	cmd.Flags().IntVar(&o.Limit, "limit", admin.DefaultLimit, "how many entries per page")
	cmd.Flags().Uint64Var(&o.Before, "before", 0, "only entries older than this sequence number, from the hint of the previous page")
	return cmd
}

func runAuditList(ctx context.Context, o *auditListOptions) error {
	c, err := o.client()
	if err != nil {
		return err
	}
	list, err := c.Audit(ctx, o.Limit, o.Before)
	if err != nil {
		return err
	}
	if list.Entries == nil {
		list.Entries = []admin.AuditEntry{}
	}
	err = o.out.print(list, func(w io.Writer) { auditTable(w, list.Entries) })
	if err == nil && list.NextBefore != 0 && o.out.format == formatTable {
		fmt.Fprintf(o.errOut, "(more: %s --before %d)\n", o.again, list.NextBefore)
	}
	return err
}

func auditTable(w io.Writer, entries []admin.AuditEntry) {
	if len(entries) == 0 {
		fmt.Fprintln(w, "No audit entries.")
		return
	}
	fmt.Fprintln(w, "TIME\tACTOR\tACTION\tSELECTOR\tRESULT\tREASON")
	for _, e := range entries {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", when(e.Time), e.Actor, e.Action, dash(clean(e.Selector)),
			auditResult(e), dash(clean(e.Reason)))
	}
}

// auditResult words an entry's counts, "dropped 2, already delivered 1",
// then its detail: a credential's new settings, a rotation's grace.
func auditResult(e admin.AuditEntry) string {
	var parts []string
	order := outcomeOrder(e.Counts)
	if strings.HasPrefix(e.Action, "credential disable") {
		order = disableOrder(e.Counts)
	}
	for _, o := range order {
		parts = append(parts, fmt.Sprintf("%s %d", outcomeLabel(e.Action, o), e.Counts[o]))
	}
	if e.Detail != "" {
		parts = append(parts, clean(e.Detail))
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ", ")
}

// disableOrder lists a disable's counts in the order its answer prints
// them, then any this relayctl does not know.
func disableOrder(counts map[string]int) []string {
	known := []string{"held", "already_held", "delivered_during", "failed_during", "in_flight", "already_delivered"}
	var order, extra []string
	for _, k := range known {
		if _, ok := counts[k]; ok {
			order = append(order, k)
		}
	}
	for k := range counts {
		if !slices.Contains(known, k) {
			extra = append(extra, k)
		}
	}
	slices.Sort(extra)
	return append(order, extra...)
}
