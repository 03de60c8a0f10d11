package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/holdrelay/relay/admin"
)

func newBrakeCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "brake",
		Short: "The runaway brake: list braked credentials, release one",
		Long: `The runaway brake holds all the mail of a credential that loops (one
recipient gets the same Subject and body more than --brake-duplicates
times in 10 minutes) or floods (more than --brake-rate messages in 60
seconds, announced batches aside). Its clients still get 250. Nothing of
it leaves until an operator acts: brake release lets it go, drop
--credential NAME throws it away.`,
		Example: `  relayctl brake ls
  relayctl brake release shop --reason "checked: a real campaign"`,
		Args: argNames(),
	}
	cmd.AddCommand(newBrakeLsCommand(g, nil), newBrakeReleaseCommand(g, nil))
	return cmd
}

type brakeLsOptions struct{ common }

func newBrakeLsCommand(g *globals, runF func(*brakeLsOptions) error) *cobra.Command {
	o := &brakeLsOptions{}
	return &cobra.Command{
		Use:   "ls",
		Short: "List braked credentials with trigger, time, counts and a sample",
		Long: `List the credentials the runaway brake holds: which trigger fired and
when, the count that went over the threshold within its window, how
many of its messages the brake holds now, and a sample (the recipient
and subject of the message that tripped it).`,
		Example: `  relayctl brake ls
  relayctl brake ls -o json`,
		Args: argNames(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.common = g.common(cmd)
			if runF != nil {
				return runF(o)
			}
			return runBrakeLs(cmd.Context(), o)
		},
	}
}

func runBrakeLs(ctx context.Context, o *brakeLsOptions) error {
	c, err := o.client()
	if err != nil {
		return err
	}
	bs, err := c.Brakes(ctx)
	if err != nil {
		return err
	}
	return o.out.print(bs, func(w io.Writer) { brakeTable(w, bs) })
}

func brakeTable(w io.Writer, bs []admin.Brake) {
	if len(bs) == 0 {
		fmt.Fprintln(w, "No credential is braked.")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CREDENTIAL\tTRIGGER\tSINCE\tCOUNT\tHELD\tSAMPLE")
	for _, b := range bs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\n", clean(b.Credential), b.Trigger, when(b.Since), brakeCount(b), b.Held, brakeSample(b))
	}
	tw.Flush()
}

// brakeCount says what went over what: "6 > 5 in 10m0s".
func brakeCount(b admin.Brake) string {
	return fmt.Sprintf("%d > %d in %s", b.Count, b.Threshold, b.Window)
}

func brakeSample(b admin.Brake) string {
	return fmt.Sprintf("to %s: %q", dash(clean(b.Recipient)), clean(b.Subject))
}

type brakeReleaseOptions struct {
	common
	Name   string
	Reason string
}

func newBrakeReleaseCommand(g *globals, runF func(*brakeReleaseOptions) error) *cobra.Command {
	o := &brakeReleaseOptions{}
	cmd := &cobra.Command{
		Use:   "release NAME [--reason TEXT]",
		Short: "Take the brake off a credential: its held mail goes on schedule",
		Long: `Take the brake off a credential. The messages the brake held go back on
their schedule (those whose hold window is over are sent at once); one an
operator, a pause or a disable holds stays held. The brake re-arms with
fresh counts: the same runaway trips it again. To throw the mail away
instead, run relayctl drop --credential NAME first.`,
		Example: `  relayctl brake release shop --reason "template fixed, mail is legitimate"`,
		Args:    argNames("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.common = g.common(cmd)
			o.Name = args[0]
			if runF != nil {
				return runF(o)
			}
			return runBrakeRelease(cmd.Context(), o)
		},
	}
	cmd.Flags().StringVar(&o.Reason, "reason", "", "why, for the messages' history and the audit log")
	return cmd
}

func runBrakeRelease(ctx context.Context, o *brakeReleaseOptions) error {
	c, err := o.client()
	if err != nil {
		return err
	}
	res, err := c.ReleaseBrake(ctx, o.Name, admin.BrakeReleaseRequest{Reason: o.Reason})
	if err != nil {
		return err
	}
	return o.out.print(res, func(w io.Writer) {
		fmt.Fprintf(w, "Released the brake on %s (%s trigger, %s); %d %s back on schedule",
			clean(res.Brake.Credential), res.Brake.Trigger, brakeCount(res.Brake), res.Released, plural(res.Released, "message"))
		if res.StillHeld > 0 {
			fmt.Fprintf(w, ", %d still held by others", res.StillHeld)
		}
		fmt.Fprintln(w, ".")
	})
}
