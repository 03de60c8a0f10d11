package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/holdrelay/relay/admin"
	"github.com/spf13/cobra"
)

type rotateOptions struct {
	common
	Name   string
	Grace  *time.Duration // nil: the old password fails at once
	Reason string
}

func newRotateCommand(g *globals, runF func(*rotateOptions) error) *cobra.Command {
	o := &rotateOptions{}
	cmd := &cobra.Command{
		Use:   "password-rotate NAME [--grace DURATION]",
		Short: "Give a credential a new password, printed once",
		Long: `Give a credential a new, generated password. It is printed once, here,
and never again: relayd keeps only its hash.

Without --grace the old password fails at once, and relayd closes the
SMTP sessions that logged in with it: a client in the middle of a session
cannot send another message. With --grace, the old password keeps working,
and those sessions stay open, until the grace period ends, so that the
application can be given the new one first; relayctl credential show
says until when. Rotating again during a grace period ends it: only the
newest old password is kept.`,
		Example: `  relayctl password-rotate shop
  relayctl password-rotate shop --grace 1h
  relayctl password-rotate ci -o json`,
		Args: argNames("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.common = g.common(cmd)
			o.Name = args[0]
			if runF != nil {
				return runF(o)
			}
			return runRotate(cmd.Context(), o)
		},
	}
	cmd.Flags().Var(durationFlag{&o.Grace}, "grace", "keep the old password working this long, e.g. 10m or 24h (default: none)")
	cmd.Flags().StringVar(&o.Reason, "reason", "", "why, for the audit log")
	return cmd
}

func runRotate(ctx context.Context, o *rotateOptions) error {
	c, err := o.client()
	if err != nil {
		return err
	}
	req := admin.RotateRequest{Reason: o.Reason}
	if o.Grace != nil {
		req.Grace = o.Grace.String()
	}
	res, err := c.RotatePassword(ctx, o.Name, req)
	if err != nil {
		return err
	}
	return o.out.print(res, func(w io.Writer) {
		passwordLines(w, res.Name, res.Password, res.APIKey)
		if res.GraceUntil != nil {
			fmt.Fprintf(w, "The old password keeps working until %s; then it fails, and sessions that logged in with it are closed.\n",
				when(*res.GraceUntil))
			return
		}
		fmt.Fprintf(w, "The old password no longer works; sessions that logged in with it were closed.\n")
	})
}
