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

// action is one of the commands that change the messages named by IDs
// and selectors: flush, drop, hold, release.
type action struct {
	name, short, long, example string
	call                       func(c *admin.Client, ctx context.Context, req admin.ActionRequest) (admin.ActionResult, error)
}

// changeHelp ends the --help of every command that changes messages.
const changeHelp = `Without IDs or selectors it refuses to run, unless --all is given.
--dry-run reports what would change and changes nothing. The answer is
a count per outcome; -o json adds the IDs of each. An ID that names no
message makes the command exit 1, naming it on stderr, after the others
are dealt with and the answer printed.`

var (
	flushAction = action{
		name:  "flush",
		short: "Deliver messages now",
		long: `Deliver the selected messages now: waiting, deferred and operator-held
messages become due at once, and relayd starts their delivery within a
second. Messages held by a pause stay held: resume the pause instead.`,
		example: `  relayctl flush 0c5v3k2s8f9ga
  relayctl flush --credential shop --state waiting,held --dry-run`,
		call: (*admin.Client).Flush,
	}
	dropAction = action{
		name:  "drop",
		short: "Never deliver messages",
		long: `Drop the selected pending messages: they will never be sent. A message
being sent at that moment is cut off before the end of its data; drop
answers once the outcome of each such message is known, and reports a
message the upstream had already taken as "already delivered", never as
dropped. A message an earlier attempt of which was cut short by a crash
(relayd killed during the transfer) may have reached the upstream: it is
never sent again, and reported, counted and shown as maybe_delivered.`,
		example: `  relayctl drop 0c5v3k2s8f9ga 0c5v3k2s8f9gb
  relayctl drop --credential shop --older-than 10m --reason "bad template"`,
		call: (*admin.Client).Drop,
	}
	holdAction = action{
		name:  "hold",
		short: "Hold messages until released",
		long: `Hold the selected messages until they are released: the clock never
sends a held message. A message being sent at that moment is cut off
before the end of its data and held; hold answers once the outcome of each
such message is known, and reports one the upstream had already taken as
"already delivered".`,
		example: `  relayctl hold 0c5v3k2s8f9ga --reason "customer asked"
  relayctl hold --to @example.org --state waiting`,
		call: (*admin.Client).Hold,
	}
	releaseAction = action{
		name:  "release",
		short: "Put held messages back on their schedule",
		long: `Release the selected operator-held messages: each goes back to its
schedule, and is sent at once if its hold window is over. Messages held
by a pause stay held: resume the pause instead.`,
		example: `  relayctl release 0c5v3k2s8f9ga
  relayctl release --credential shop --state held`,
		call: (*admin.Client).Release,
	}
)

type actionOptions struct {
	common
	changeOptions
	Action   action
	IDs      []string
	Selector selectorOptions
}

func newActionCommand(g *globals, a action, runF func(*actionOptions) error) *cobra.Command {
	o := &actionOptions{Action: a}
	cmd := &cobra.Command{
		Use:     a.name + " [ID...] [selectors]",
		Short:   a.short,
		Long:    a.long + "\n\n" + selectorHelp + "\n\n" + changeHelp,
		Example: a.example,
		Args:    cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.common = g.common(cmd)
			o.IDs = args
			if err := requireSelection(cmd, o.Selector.wire(o.IDs)); err != nil {
				return err
			}
			if runF != nil {
				return runF(o)
			}
			return runAction(cmd.Context(), o)
		},
	}
	addSelectorFlags(cmd.Flags(), &o.Selector)
	addChangeFlags(cmd.Flags(), &o.changeOptions)
	return cmd
}

func runAction(ctx context.Context, o *actionOptions) error {
	c, err := o.client()
	if err != nil {
		return err
	}
	req := admin.ActionRequest{Selector: o.Selector.wire(o.IDs), DryRun: o.DryRun, Reason: o.Reason,
		CountsOnly: o.out.format != formatJSON} // the table prints counts, and not_found's IDs if any
	res, err := o.Action.call(c, ctx, req)
	if err != nil {
		return err
	}
	if err := o.out.print(res, func(w io.Writer) { resultTable(w, res) }); err != nil {
		return err
	}
	return notFound(res)
}

// notFound fails a change that named IDs relayd does not hold, after its
// answer is printed: a script must not be told that a message it named
// was dropped or held when there is no such message.
func notFound(res admin.ActionResult) error {
	ids := res.IDs[admin.OutcomeNotFound]
	if len(ids) == 0 {
		return nil
	}
	return fmt.Errorf("%s: no such message: %s", res.Action, strings.Join(ids, ", "))
}

// resultTable prints one line per outcome with its count, in the order
// of admin.Outcomes, then any outcome this relayctl does not know.
func resultTable(w io.Writer, res admin.ActionResult) {
	if res.DryRun {
		fmt.Fprintln(w, "Dry run: nothing was changed. Had it run:")
	}
	for _, o := range outcomeOrder(res.Counts) {
		fmt.Fprintf(w, "%s\t%d\n", outcomeLabel(res.Action, o), res.Counts[o])
	}
}

func outcomeOrder(counts map[string]int) []string {
	var known, extra []string
	for _, o := range admin.Outcomes {
		if _, ok := counts[o]; ok {
			known = append(known, o)
		}
	}
	for o := range counts {
		if !slices.Contains(admin.Outcomes, o) {
			extra = append(extra, o)
		}
	}
	slices.Sort(extra)
	return append(known, extra...)
}

// verbs name what "changed" means for each action, in the audit log too.
var verbs = map[string]string{
	"flush": "flushed", "drop": "dropped", "hold": "held", "release": "released",
	"purge": "dropped", "pause": "held", "batch cancel": "dropped", "batch pause": "held", "batch resume": "released", "resume": "released", "credential enable": "released",
}

// outcomeLabel words an outcome for people.
func outcomeLabel(action, outcome string) string {
	switch outcome {
	case admin.OutcomeChanged:
		if v, ok := verbs[action]; ok {
			return v
		}
	case admin.OutcomeInFlight:
		return "in flight"
	case admin.OutcomeDelivered:
		return "already delivered"
	case admin.OutcomeMaybeDelivered:
		return "dropped, maybe delivered"
	case admin.OutcomeFinished:
		return "already finished"
	case admin.OutcomeDisabled:
		return "credential disabled (enable it)"
	case admin.OutcomeBraked:
		return "braked (relayctl brake release, or name it by ID)"
	case admin.OutcomePaused:
		return "paused (resume it)"
	case admin.OutcomeNotFound:
		return "not found"
	}
	return strings.ReplaceAll(outcome, "_", " ")
}
