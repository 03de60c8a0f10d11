package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/holdrelay/relay/admin"
	"github.com/spf13/cobra"
)

type purgeOptions struct {
	common
	changeOptions
	Selector selectorOptions
	Yes      bool
}

func newPurgeCommand(g *globals, runF func(*purgeOptions) error) *cobra.Command {
	o := &purgeOptions{}
	cmd := &cobra.Command{
		Use:   "purge [selectors]",
		Short: "Drop every pending message matched, after asking",
		Long: `Drop every pending message the selectors match, or every pending message
in the spool with no selector. This is for support staff stopping a flood:
purge first counts the messages, shows the count and asks for a "y" on
its input; anything else, or no input at all, changes nothing. --yes
skips the question. Dropping works as in drop: messages being sent are
cut off before the end of their data, and one the upstream already took
is reported as already delivered. Messages that arrive between the count
and the answer are dropped too if they match.

` + selectorHelp + `

--dry-run only counts. The answer is a count per outcome; -o json adds
the IDs of each.`,
		Example: `  relayctl purge --credential shop
  relayctl purge --from @spam.example --yes --reason "spam run"
  relayctl purge --dry-run`,
		Args: argNames(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.common = g.common(cmd)
			if runF != nil {
				return runF(o)
			}
			return runPurge(cmd.Context(), o)
		},
	}
	addSelectorFlags(cmd.Flags(), &o.Selector)
	addChangeFlags(cmd.Flags(), &o.changeOptions)
	cmd.Flags().BoolVarP(&o.Yes, "yes", "y", false, "do not ask: drop at once")
	return cmd
}

// errAborted is the answer to anything but yes: exit 1, nothing dropped.
var errAborted = errors.New("purge aborted: nothing was dropped")

func runPurge(ctx context.Context, o *purgeOptions) error {
	c, err := o.client()
	if err != nil {
		return err
	}
	sel := o.Selector.wire(nil)
	if sel.Empty() {
		sel.All = true
	}
	req := admin.ActionRequest{Selector: sel, DryRun: true, Reason: o.Reason}
	if !o.DryRun && !o.Yes {
		count, err := c.Purge(ctx, req)
		if err != nil {
			return err
		}
		n := count.Counts[admin.OutcomeChanged] + count.Counts[admin.OutcomeMaybeDelivered] + count.Counts[admin.OutcomeInFlight]
		if n == 0 {
			return o.out.print(count, func(w io.Writer) {
				fmt.Fprintf(w, "Nothing to purge: no pending message matches (selector %s).\n", sel)
			})
		}
		fmt.Fprintf(o.errOut, "This will drop %d pending %s (selector %s). Continue? [y/N] ", n, plural(n, "message"), sel)
		if !confirm(o.in, o.errOut) {
			return errAborted
		}
	}
	req.DryRun = o.DryRun
	res, err := c.Purge(ctx, req)
	if err != nil {
		return err
	}
	return o.out.print(res, func(w io.Writer) { resultTable(w, res) })
}

// confirm reads one line from in and reports whether it says yes. No
// input (EOF, or stdin not a terminal and empty) is a no. A line that
// did not end in a newline gets one on errOut, so that what follows the
// question starts on a line of its own.
func confirm(in io.Reader, errOut io.Writer) bool {
	line, err := bufio.NewReader(in).ReadString('\n')
	if err != nil {
		fmt.Fprintln(errOut)
	}
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return true
	}
	return false
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}
