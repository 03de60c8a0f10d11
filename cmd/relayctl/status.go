package main

import (
	"context"
	"fmt"
	"io"
	"slices"

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
(waiting, held, queued, sending, deferred, delivered, failed, dropped),
the global hold window, the upstream it delivers to, any pauses, and how
many credentials exist.`,
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
	fmt.Fprintf(w, "hold:\t%s\n", short(st.Hold))
	fmt.Fprintf(w, "credentials:\t%d\n", st.Credentials)
	if len(st.Pauses) == 0 {
		fmt.Fprintf(w, "delivery:\trunning\n")
	}
	for _, p := range st.Pauses {
		fmt.Fprintf(w, "delivery:\t%s\n", pauseText(p))
	}
	fmt.Fprintf(w, "\nSTATE\tMESSAGES\n")
	for _, s := range stateOrder(st.Counts) {
		fmt.Fprintf(w, "%s\t%d\n", s, st.Counts[s])
	}
}

func pauseText(p admin.Pause) string {
	s := "paused for every credential"
	if p.Credential != "" {
		s = "paused for credential " + p.Credential
	}
	if p.Until != nil {
		s += " until " + when(*p.Until)
	}
	if p.Reason != "" {
		s += ": " + p.Reason
	}
	return s
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
