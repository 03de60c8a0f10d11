package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/holdrelay/relay/admin"
	"github.com/spf13/cobra"
)

type credentialDisableOptions struct {
	common
	Name   string
	Reason string
}

func newCredentialDisableCommand(g *globals, runF func(*credentialDisableOptions) error) *cobra.Command {
	o := &credentialDisableOptions{}
	cmd := &cobra.Command{
		Use:   "disable NAME [--reason TEXT]",
		Short: "Stop a credential: refuse its logins, hold all its mail",
		Long: `Stop everything a credential sends, at once: the one command for a
runaway application. In this order, relayd
  1. refuses its logins and closes the SMTP sessions logged in with it;
  2. delivers none of its messages, and holds any that still arrives;
  3. holds every pending message of it. A message being sent is cut off
     before the end of its data and held, unless the upstream has taken
     it already.

disable answers once nothing of the credential can reach the upstream any
more, with the counts: held now; already held (by an operator, before);
delivered during the disable (being sent when it began, and taken by the
upstream); in flight (normally 0: still being sent when relayd stopped
waiting, held unless the upstream takes it); already delivered (before the
disable, still on record).

The credential keeps its password and settings. relayctl credential
enable NAME lets it log in again; its held messages stay held unless
enable is given --release, which releases those the disable held and
never one an operator held. relayctl drop --credential NAME drops them.`,
		Example: `  relayctl credential disable shop --reason "bad template"
  relayctl credential disable shop -o json`,
		Args: argNames("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.common = g.common(cmd)
			o.Name = args[0]
			if runF != nil {
				return runF(o)
			}
			return runCredentialDisable(cmd.Context(), o)
		},
	}
	cmd.Flags().StringVar(&o.Reason, "reason", "", "why, for the held messages' history and the audit log")
	return cmd
}

func runCredentialDisable(ctx context.Context, o *credentialDisableOptions) error {
	c, err := o.client()
	if err != nil {
		return err
	}
	res, err := c.DisableCredential(ctx, o.Name, admin.CredentialChangeRequest{Reason: o.Reason})
	if err != nil {
		return err
	}
	return o.out.print(res, func(w io.Writer) { disabledTable(w, o.Name, res) })
}

func disabledTable(w io.Writer, name string, res admin.CredentialDisabled) {
	fmt.Fprintf(w, "Disabled credential %s: logins refused, open sessions closed, its mail held.\n", name)
	fmt.Fprintf(w, "held\t%d\n", res.Held)
	if res.AlreadyHeld > 0 {
		fmt.Fprintf(w, "already held\t%d\n", res.AlreadyHeld)
	}
	fmt.Fprintf(w, "delivered during the disable\t%d\n", res.DeliveredDuring)
	if res.FailedDuring > 0 {
		fmt.Fprintf(w, "failed during the disable\t%d\n", res.FailedDuring)
	}
	fmt.Fprintf(w, "in flight\t%d\n", res.InFlight)
	fmt.Fprintf(w, "already delivered\t%d\n", res.AlreadyDelivered)
	if held := res.Held + res.AlreadyHeld; held > 0 {
		which := "them"
		if res.AlreadyHeld > 0 {
			which = "those the disable held (one an operator held stays held)"
		}
		fmt.Fprintf(w, "Its %d held %s held: relayctl credential enable %s --release sends %s, relayctl drop --credential %s drops them.\n",
			held, messagesStay(held), name, which, name)
	}
}

type credentialEnableOptions struct {
	common
	Name    string
	Release bool
	Reason  string
}

func newCredentialEnableCommand(g *globals, runF func(*credentialEnableOptions) error) *cobra.Command {
	o := &credentialEnableOptions{}
	cmd := &cobra.Command{
		Use:   "enable NAME [--release]",
		Short: "Let a disabled credential log in and send again",
		Long: `Let a disabled credential log in again, with the same password, and
accept its new messages on the usual schedule. Its held messages stay held
unless --release is given, which puts the messages its disable held back
on their schedule: those whose hold window is over are sent at once. A
message an operator held, before or after the disable, stays held until
released; one a pause covers stays held until the pause is resumed.`,
		Example: `  relayctl credential enable shop
  relayctl credential enable shop --release --reason "template fixed"`,
		Args: argNames("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.common = g.common(cmd)
			o.Name = args[0]
			if runF != nil {
				return runF(o)
			}
			return runCredentialEnable(cmd.Context(), o)
		},
	}
	cmd.Flags().BoolVar(&o.Release, "release", false, "release the messages its disable held too (not those an operator held)")
	cmd.Flags().StringVar(&o.Reason, "reason", "", "why, for the released messages' history and the audit log")
	return cmd
}

func runCredentialEnable(ctx context.Context, o *credentialEnableOptions) error {
	c, err := o.client()
	if err != nil {
		return err
	}
	res, err := c.EnableCredential(ctx, o.Name, admin.EnableCredentialRequest{Release: o.Release, Reason: o.Reason})
	if err != nil {
		return err
	}
	return o.out.print(res, func(w io.Writer) {
		fmt.Fprintf(w, "Enabled credential %s: it may log in and send again.\n", o.Name)
		if o.Release {
			fmt.Fprintf(w, "released\t%d\n", res.Released)
		}
		if res.Held > 0 {
			fmt.Fprintf(w, "Its %d held %s held: relayctl release --credential %s sends them.\n",
				res.Held, messagesStay(res.Held), o.Name)
		}
	})
}

type credentialRemoveOptions struct {
	common
	Name   string
	Yes    bool
	Reason string
}

func newCredentialRemoveCommand(g *globals, runF func(*credentialRemoveOptions) error) *cobra.Command {
	o := &credentialRemoveOptions{}
	cmd := &cobra.Command{
		Use:     "rm NAME [--yes]",
		Aliases: []string{"remove"},
		Short:   "Delete a credential, after asking",
		Long: `Delete a credential: applications using it can no longer log in, and
its sessions are closed. This cannot be undone: a credential added again
under the same name gets a new password.

Its messages stay in the spool: pending ones are delivered as scheduled,
held ones stay held. To stop them, drop them first with
relayctl drop --credential NAME (or disable the credential instead of
removing it).

rm shows the credential's pending messages and asks for a "y" on its
input; anything else, or no input at all, changes nothing. --yes skips
the question.`,
		Example: `  relayctl drop --credential old-shop --reason "retired" && relayctl credential rm old-shop
  relayctl credential rm old-shop --yes`,
		Args: argNames("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.common = g.common(cmd)
			o.Name = args[0]
			if runF != nil {
				return runF(o)
			}
			return runCredentialRemove(cmd.Context(), o)
		},
	}
	cmd.Flags().BoolVarP(&o.Yes, "yes", "y", false, "do not ask: remove at once")
	cmd.Flags().StringVar(&o.Reason, "reason", "", "why, for the audit log")
	return cmd
}

// errNotRemoved is the answer to anything but yes: exit 1, nothing removed.
var errNotRemoved = errors.New("rm aborted: the credential was not removed")

func runCredentialRemove(ctx context.Context, o *credentialRemoveOptions) error {
	c, err := o.client()
	if err != nil {
		return err
	}
	if !o.Yes {
		d, err := c.Credential(ctx, o.Name)
		if err != nil {
			return err
		}
		pending := 0
		for _, s := range []string{"waiting", "queued", "sending", "deferred"} {
			pending += d.Messages[s]
		}
		fmt.Fprintf(o.errOut, "Remove credential %s? Applications using it can no longer log in. Its %d pending %s will still be delivered "+
			"(relayctl drop --credential %s stops them). Continue? [y/N] ", o.Name, pending, plural(pending, "message"), o.Name)
		if !confirm(o.in, o.errOut) {
			return errNotRemoved
		}
	}
	res, err := c.RemoveCredential(ctx, o.Name, admin.CredentialChangeRequest{Reason: o.Reason})
	if err != nil {
		return err
	}
	return o.out.print(res, func(w io.Writer) {
		fmt.Fprintf(w, "Removed credential %s.\n", res.Name)
		if res.Pending > 0 {
			fmt.Fprintf(w, "Its %d pending %s in the spool and will be delivered as scheduled: relayctl drop --credential %s stops them.\n",
				res.Pending, messagesStay(res.Pending), res.Name)
		}
		if res.Held > 0 {
			fmt.Fprintf(w, "Its %d held %s held: relayctl release --credential %s sends them, relayctl drop --credential %s drops them.\n",
				res.Held, messagesStay(res.Held), res.Name, res.Name)
		}
	})
}

// messagesStay is "message stays" or "messages stay", after a count.
func messagesStay(n int) string {
	if n == 1 {
		return "message stays"
	}
	return "messages stay"
}
