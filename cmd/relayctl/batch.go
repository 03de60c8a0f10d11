package main

import (
	"context"
	"fmt"
	"io"

	"github.com/holdrelay/relay/admin"
	"github.com/holdrelay/relay/internal/names"
	"github.com/spf13/cobra"
)

func newBatchCommand(g *globals) *cobra.Command {
	cmd := group(&cobra.Command{
		Use:   "batch",
		Short: "Pause, resume or cancel batches of scheduled mail",
		Long: `A batch is every message that names the same batch ID in its X-SMTPAPI
batch_id or X-Relay-Batch header. Pausing a batch holds its messages, and
those that arrive later, until it is resumed; cancelling drops them, and
those that arrive later, with the same truthful answer as drop. Any number
of batches may be paused or cancelled, at any time.

Support staff may pause and cancel; resuming is the operator's.`,
		Example: `  relayctl batch create spring-sale
  relayctl batch pause spring-sale --reason "wrong price in template"
  relayctl batch show spring-sale
  relayctl batch resume spring-sale
  relayctl batch cancel spring-sale --dry-run`,
	})
	cmd.AddCommand(
		newBatchCreateCommand(g),
		newBatchListCommand(g),
		newBatchShowCommand(g),
		newBatchChangeCommand(g, "pause", "Hold a batch's messages, now and later",
			`Hold the batch's pending messages, and every message of it that arrives
later, until relayctl batch resume. A message being sent finishes its attempt.
A batch ID nobody has used yet may be paused in advance.`, (*admin.Client).PauseBatch),
		newBatchChangeCommand(g, "resume", "Lift a batch's pause or cancel",
			`Lift the batch's pause or cancel: held messages go back on their schedule,
later arrivals are sent as usual. Messages a cancel dropped stay dropped.`, (*admin.Client).ResumeBatch),
		newBatchChangeCommand(g, "cancel", "Drop a batch's messages, now and later",
			`Drop the batch's pending messages, and every message of it that arrives
later. A message being sent is cut off before the end of its data; cancel
answers once each outcome is known, and reports a message the upstream had
already taken as "already delivered", never as dropped. --dry-run reports
what would be dropped.`, (*admin.Client).CancelBatch),
	)
	return cmd
}

func newBatchCreateCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "create [ID]",
		Short: "Register a batch ID (made up when not given)",
		Long: `Register a batch ID, as SendGrid's POST /v3/mail/batch does; without ID,
relayd makes one up. Messages may also name a batch nobody created: it is
registered when the first one arrives.`,
		Example: `  relayctl batch create spring-sale
  relayctl batch create -o json`,
		Args: func(c *cobra.Command, args []string) error {
			if len(args) > 1 {
				return usageErrorf("%s: unexpected argument %q", c.CommandPath(), args[1])
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			o := g.common(cmd)
			var req admin.CreateBatchRequest
			if len(args) == 1 {
				if err := checkBatchArg(args[0]); err != nil {
					return err
				}
				req.ID = args[0]
			}
			c, err := o.client()
			if err != nil {
				return err
			}
			b, err := c.CreateBatch(cmd.Context(), req)
			if err != nil {
				return err
			}
			return o.out.print(b, func(w io.Writer) { fmt.Fprintf(w, "Created batch %s.\n", b.ID) })
		},
	}
}

// batchClient checks a command's batch ID, then connects.
func batchClient(g *globals, cmd *cobra.Command, id string) (common, *admin.Client, error) {
	if err := checkBatchArg(id); err != nil {
		return common{}, nil, err
	}
	o := g.common(cmd)
	c, err := o.client()
	return o, c, err
}

func checkBatchArg(id string) error {
	if !names.BatchID(id) {
		return usageErrorf("batch ID %q: want 1 to %d letters, digits, '.', '_' or '-'", id, names.MaxBatchID)
	}
	return nil
}

func newBatchListCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "ls",
		Short: "List batches",
		Long: `List every batch relayd knows, with its status (active, paused or
cancelled), how many messages on record name it, and its last change.`,
		Example: `  relayctl batch ls
  relayctl batch ls -o json`,
		Args: argNames(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			o := g.common(cmd)
			c, err := o.client()
			if err != nil {
				return err
			}
			bs, err := c.Batches(cmd.Context())
			if err != nil {
				return err
			}
			return o.out.print(bs, func(w io.Writer) {
				fmt.Fprintln(w, "BATCH\tSTATUS\tMESSAGES\tCHANGED\tBY\tREASON")
				for _, b := range bs {
					changed := "-"
					if b.Updated != nil {
						changed = when(*b.Updated)
					}
					fmt.Fprintf(w, "%s\t%s\t%d\t%s\t%s\t%s\n", b.ID, b.Status, b.Messages, changed, dash(b.Actor), dash(clean(b.Reason)))
				}
			})
		},
	}
}

func newBatchShowCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "show ID",
		Short: "Show a batch and its messages' states",
		Long: `Show one batch: its status, who changed it last and why, and how many
of its messages are in each state. relayctl queue ls --batch ID lists them.`,
		Example: `  relayctl batch show spring-sale
  relayctl queue ls --batch spring-sale --state held`,
		Args: argNames("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			o, c, err := batchClient(g, cmd, args[0])
			if err != nil {
				return err
			}
			d, err := c.Batch(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return o.out.print(d, func(w io.Writer) {
				fmt.Fprintf(w, "batch:\t%s\nstatus:\t%s\ncreated:\t%s\n", d.ID, d.Status, when(d.Created))
				if d.Updated != nil {
					fmt.Fprintf(w, "changed:\t%s by %s\n", when(*d.Updated), dash(d.Actor))
				}
				if d.Reason != "" {
					fmt.Fprintf(w, "reason:\t%s\n", clean(d.Reason))
				}
				fmt.Fprintf(w, "messages:\t%d\n", d.Messages)
				for _, st := range admin.States {
					fmt.Fprintf(w, "  %s\t%d\n", st, d.Counts[st])
				}
			})
		},
	}
}

type batchCall func(c *admin.Client, ctx context.Context, id string, req admin.BatchChangeRequest) (admin.BatchChanged, error)

func newBatchChangeCommand(g *globals, verb, short, long string, call batchCall) *cobra.Command {
	var req admin.BatchChangeRequest
	example := "  relayctl batch " + verb + " spring-sale --reason \"wrong price\""
	if verb == "cancel" {
		example += "\n  relayctl batch cancel spring-sale --dry-run"
	}
	cmd := &cobra.Command{
		Use:     verb + " ID",
		Short:   short,
		Long:    long,
		Example: example,
		Args:    argNames("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			o, c, err := batchClient(g, cmd, args[0])
			if err != nil {
				return err
			}
			res, err := call(c, cmd.Context(), args[0], req)
			if err != nil {
				return err
			}
			return o.out.print(res, func(w io.Writer) { batchChangedTable(w, verb, args[0], res) })
		},
	}
	cmd.Flags().StringVar(&req.Reason, "reason", "", "why, for the messages' history and the audit log")
	if verb == "cancel" {
		cmd.Flags().BoolVar(&req.DryRun, "dry-run", false, "report what would be dropped, and change nothing")
	}
	return cmd
}

func batchChangedTable(w io.Writer, verb, id string, res admin.BatchChanged) {
	switch {
	case res.Dropped != nil:
		if !res.Dropped.DryRun {
			fmt.Fprintf(w, "Cancelled batch %s: its later messages will be dropped too.\n", id)
		}
		resultTable(w, *res.Dropped)
	case verb == "pause":
		fmt.Fprintf(w, "Paused batch %s; %d %s held.\n", id, res.Held, plural(res.Held, "message"))
	default:
		fmt.Fprintf(w, "Resumed batch %s; %d %s released.\n", id, res.Released, plural(res.Released, "message"))
	}
}
