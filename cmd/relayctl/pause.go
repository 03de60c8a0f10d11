package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/holdrelay/relay/admin"
	"github.com/spf13/cobra"
)

type pauseOptions struct {
	common
	Credential string
	For        *time.Duration // nil: until resumed
	Reason     string
}

func newPauseCommand(g *globals, runF func(*pauseOptions) error) *cobra.Command {
	o := &pauseOptions{}
	cmd := &cobra.Command{
		Use:   "pause [--credential NAME] [--for DURATION] [--reason TEXT]",
		Short: "Stop delivery, for one credential or all",
		Long: `Stop delivery, for one credential or for all of them. Accepting goes on:
messages that were waiting, and those that arrive, are held until the
pause ends. A message being sent finishes its attempt. The pause ends with
relayctl resume, or by itself after --for.`,
		Example: `  relayctl pause --credential shop --reason "bad template"
  relayctl pause --for 15m --reason "upstream maintenance"`,
		Args: argNames(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.common = g.common(cmd)
			if o.For != nil && *o.For == 0 {
				return usageErrorf("--for 0s: want a positive duration, or leave --for out to pause until resumed")
			}
			if runF != nil {
				return runF(o)
			}
			return runPause(cmd.Context(), o)
		},
	}
	cmd.Flags().StringVar(&o.Credential, "credential", "", "pause only this credential (default: all)")
	cmd.Flags().Var(durationFlag{&o.For}, "for", "end the pause by itself after DURATION, e.g. 15m (default: until resumed)")
	cmd.Flags().StringVar(&o.Reason, "reason", "", "why, for status, the held messages' history and the audit log")
	return cmd
}

func runPause(ctx context.Context, o *pauseOptions) error {
	c, err := o.client()
	if err != nil {
		return err
	}
	req := admin.PauseRequest{Credential: o.Credential, Reason: o.Reason}
	if o.For != nil {
		req.For = o.For.String()
	}
	res, err := c.Pause(ctx, req)
	if err != nil {
		return err
	}
	return o.out.print(res, func(w io.Writer) {
		until := "until resumed"
		if res.Pause.Until != nil {
			until = "until " + when(*res.Pause.Until)
		}
		fmt.Fprintf(w, "Paused %s %s; %d %s held.\n", pauseScope(res.Pause.Credential), until, res.Held, plural(res.Held, "message"))
	})
}

type resumeOptions struct {
	common
	Credential string
	Reason     string
}

func newResumeCommand(g *globals, runF func(*resumeOptions) error) *cobra.Command {
	o := &resumeOptions{}
	cmd := &cobra.Command{
		Use:   "resume [--credential NAME]",
		Short: "End a pause",
		Long: `End a pause, for one credential or the global one, and put the messages
it held back on their schedule: those whose hold window is over are sent
at once. Messages that another pause still covers stay held.`,
		Example: `  relayctl resume --credential shop
  relayctl resume`,
		Args: argNames(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.common = g.common(cmd)
			if runF != nil {
				return runF(o)
			}
			return runResume(cmd.Context(), o)
		},
	}
	cmd.Flags().StringVar(&o.Credential, "credential", "", "resume this credential's pause (default: the global pause)")
	cmd.Flags().StringVar(&o.Reason, "reason", "", "why, for the messages' history and the audit log")
	return cmd
}

func runResume(ctx context.Context, o *resumeOptions) error {
	c, err := o.client()
	if err != nil {
		return err
	}
	res, err := c.Resume(ctx, admin.ResumeRequest{Credential: o.Credential, Reason: o.Reason})
	if err != nil {
		return err
	}
	return o.out.print(res, func(w io.Writer) {
		fmt.Fprintf(w, "Resumed %s; %d %s released.\n", pauseScope(res.Credential), res.Released, plural(res.Released, "message"))
	})
}

func pauseScope(credential string) string {
	if credential == "" {
		return "delivery for every credential"
	}
	return "delivery for credential " + credential
}
