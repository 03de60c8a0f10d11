package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/holdrelay/relay/admin"
	"github.com/spf13/cobra"
)

type statusOptions struct {
	common
}

func newStatusCommand(g *globals, runF func(*statusOptions) error) *cobra.Command {
	o := &statusOptions{}
	return &cobra.Command{
		Use:   "status",
		Short: "Show message counts, hold window, upstream and pauses",
		Long: `Show what relayd is doing: how many messages are in each state
(waiting, held, queued, sending, deferred, delivered, failed, dropped,
maybe_delivered),
the global hold window, the upstream it delivers to, how many credentials
exist, and the pauses: "delivery: paused" while a global pause stops
everything, then each pause with its credential ("all" for the global
one), since when, until when, and why. A pause, batch or freeze record
relayd cannot read is listed as UNREADABLE: it holds the mail it may
cover until resumed, set or enabled again.

The nodes section lists the relayd nodes sharing the spool (a relayd on
its own spool file is the only one): each node's name, alive or dead
(unseen for longer than its lease: the others take over its deliveries),
when it was last seen by relayd's clock, and when it started; "(this
node)" marks the one that answered.`,
		Example: `  relayctl status
  relayctl status -o json`,
		Args: argNames(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.common = g.common(cmd)
			if runF != nil {
				return runF(o)
			}
			return runStatus(cmd.Context(), o)
		},
	}
}

func runStatus(ctx context.Context, o *statusOptions) error {
	c, err := o.client()
	if err != nil {
		return err
	}
	st, err := c.Status(ctx)
	if err != nil {
		return err
	}
	return o.out.print(st, func(w io.Writer) { statusTable(w, st) })
}

func statusTable(w io.Writer, st admin.Status) {
	fmt.Fprintf(w, "version:\t%s\n", st.Version)
	fmt.Fprintf(w, "started:\t%s\n", when(st.Started))
	fmt.Fprintf(w, "upstream:\t%s\n", st.Upstream)
	if st.UpstreamFallback != "" {
		fmt.Fprintf(w, "fallback:\t%s\n", st.UpstreamFallback)
	}
	fmt.Fprintf(w, "hold:\t%s\n", short(st.Hold))
	fmt.Fprintf(w, "credentials:\t%d\n", st.Credentials)
	fmt.Fprintf(w, "delivery:\t%s\n", delivery(st.Pauses))
	fmt.Fprintf(w, "brake:\t%s\n", brakeStatus(st))
	if len(st.Unreadable) > 0 {
		fmt.Fprintf(w, "UNREADABLE:\t%s (held until set again)\n", strings.Join(st.Unreadable, ", "))
	}
	nodesTable(w, st)
	if len(st.Pauses) > 0 {
		fmt.Fprintf(w, "\nPAUSED\tSINCE\tUNTIL\tREASON\n")
		for _, p := range st.Pauses {
			until := "-"
			if p.Until != nil {
				until = when(*p.Until)
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", pausedWhat(p.Credential), when(p.Since), until, dash(clean(p.Reason)))
		}
	}
	if len(st.Batches) > 0 {
		fmt.Fprintf(w, "\nBATCH\tSTATUS\tMESSAGES\tREASON\n")
		for _, b := range st.Batches {
			fmt.Fprintf(w, "%s\t%s\t%d\t%s\n", b.ID, b.Status, b.Messages, dash(clean(b.Reason)))
		}
	}
	if len(st.Braked) > 0 {
		fmt.Fprintf(w, "\nBRAKED\tTRIGGER\tSINCE\tCOUNT\tHELD\n")
		for _, b := range st.Braked {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\n", clean(b.Credential), b.Trigger, when(b.Since), brakeCount(b), b.Held)
		}
	}
	if len(st.Routes) > 0 {
		fmt.Fprintf(w, "\nROUTE\tUPSTREAM\tFALLBACK\n")
		for _, r := range st.Routes {
			fmt.Fprintf(w, "credential %s\t%s\t%s\n", r.Credential, routeOrGlobal(r.Upstream), routeOrGlobal(r.UpstreamFallback))
		}
	}
	fmt.Fprintf(w, "\nSTATE\tMESSAGES\n")
	for _, s := range stateOrder(st.Counts) {
		fmt.Fprintf(w, "%s\t%d\n", s, st.Counts[s])
	}
}

// delivery sums up the pauses: "paused" when a global pause stops
// everything, else "running", naming the credentials paused.
func delivery(pauses []admin.Pause) string {
	var creds []string
	for _, p := range pauses {
		if p.Credential == "" {
			return "paused"
		}
		creds = append(creds, p.Credential)
	}
	if len(creds) == 0 {
		return "running"
	}
	return "running, paused for " + strings.Join(creds, ", ")
}

func pausedWhat(credential string) string {
	if credential == "" {
		return "all"
	}
	return credential
}

// stateOrder lists the states in life order, then any this relayctl does
// not know (from a newer relayd) by name.
func stateOrder(counts map[string]int) []string {
	order := slices.Clone(admin.States)
	var extra []string
	for s := range counts {
		if !slices.Contains(order, s) {
			extra = append(extra, s)
		}
	}
	slices.Sort(extra)
	return append(order, extra...)
}

// brakeStatus sums up the brake: its global thresholds and how many
// credentials it holds.
func brakeStatus(st admin.Status) string {
	limit := func(n int, unit string) string {
		if n == 0 {
			return unit + " off"
		}
		return fmt.Sprintf("%s > %d", unit, n)
	}
	s := limit(st.BrakeDuplicates, "copies/10m") + ", " + limit(st.BrakeRate, "messages/60s")
	if n := len(st.Braked); n > 0 {
		s += fmt.Sprintf("; %d %s BRAKED (relayctl brake ls)", n, plural(n, "credential"))
	}
	return s
}

// routeOrGlobal names a credential's own upstream, or says the global
// one applies.
func routeOrGlobal(u string) string {
	if u == "" {
		return "(global)"
	}
	return u
}

// nodesTable lists the nodes sharing the spool.
func nodesTable(w io.Writer, st admin.Status) {
	if len(st.Nodes) == 0 {
		return // a relayd from before nodes were listed
	}
	now := st.Now
	if now.IsZero() {
		now = time.Now()
	}
	fmt.Fprintf(w, "\nNODE\tSTATE\tLAST SEEN\tSTARTED\n")
	for _, n := range st.Nodes {
		name, state := clean(n.Name), "dead"
		if n.Self {
			name += " (this node)"
		}
		if n.Alive {
			state = "alive"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", name, state, ago(now.Sub(n.LastSeen)), when(n.Started))
	}
}

// ago writes how long ago something was, in its largest whole unit.
func ago(d time.Duration) string {
	d = max(d, 0) // a node's clock a little ahead of relayd's
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d/time.Minute))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d/time.Hour))
	}
	return fmt.Sprintf("%dd ago", int(d/(24*time.Hour)))
}
