package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/holdrelay/relay/admin"
)

func newTokenCommand(g *globals) *cobra.Command {
	cmd := group(&cobra.Command{
		Use:     "token",
		Aliases: []string{"tokens"},
		Short:   "Manage admin tokens made at run time",
		Long: `Manage admin tokens made at run time: they work for the admin API on TCP
and for signing in to the web console, beside the tokens of --admin-tokens
(which stay in relayd's settings). relayd keeps only a hash of each
secret; the secret is printed once, by token add. Making and removing
tokens is the operator's.`,
		Example: `  relayctl token add alice --role support
  relayctl token ls
  relayctl token rm alice`,
	})
	cmd.AddCommand(newTokenAddCommand(g), newTokenListCommand(g), newTokenRemoveCommand(g))
	return cmd
}

func roleFlag(role *string) checkedFlag {
	return checkedFlag{role, "role", func(v string) error {
		if v != "operator" && v != "support" {
			return fmt.Errorf("want operator or support, got %q", v)
		}
		return nil
	}}
}

func newTokenAddCommand(g *globals) *cobra.Command {
	role := "support"
	cmd := &cobra.Command{
		Use:   "add NAME [--role support|operator]",
		Short: "Make an admin token and print its secret once",
		Long: `Make an admin token named NAME with a role: support (read everything;
hold, drop and purge) or operator (everything). Its secret is printed
here once: relayd keeps only its hash. NAME is 1 to 64 letters, digits,
'-', '_' or '.'; the audit names its changes token:NAME, or console:NAME
from the web console.`,
		Example: `  relayctl token add alice --role support
  relayctl token add ops-bot --role operator -o json`,
		Args: argNames("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			o := g.common(cmd)
			return runTokenAdd(cmd.Context(), o, admin.AddTokenRequest{Name: args[0], Role: role})
		},
	}
	cmd.Flags().Var(roleFlag(&role), "role", "support or operator")
	return cmd
}

func runTokenAdd(ctx context.Context, o common, req admin.AddTokenRequest) error {
	c, err := o.client()
	if err != nil {
		return err
	}
	tc, err := c.AddToken(ctx, req)
	if err != nil {
		return err
	}
	return o.out.print(tc, func(w io.Writer) {
		fmt.Fprintf(w, "name:\t%s\nrole:\t%s\nsecret:\t%s\n", tc.Name, tc.Role, tc.Secret)
		fmt.Fprintln(w, "This secret is shown only once: store it now.")
	})
}

func newTokenListCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List the admin tokens made at run time",
		Long: `List the admin tokens made with token add, by name, with their role and
who made them. Secrets are never shown; tokens of --admin-tokens are not
listed (they are in relayd's settings).`,
		Example: `  relayctl token ls
  relayctl token ls -o json`,
		Args: argNames(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			o := g.common(cmd)
			c, err := o.client()
			if err != nil {
				return err
			}
			list, err := c.Tokens(cmd.Context())
			if err != nil {
				return err
			}
			return o.out.print(list, func(w io.Writer) { tokenTable(w, list) })
		},
	}
}

func tokenTable(w io.Writer, list []admin.TokenInfo) {
	if len(list) == 0 {
		fmt.Fprintln(w, "No tokens made at run time. Make one with: relayctl token add NAME --role support")
		return
	}
	fmt.Fprintln(w, "NAME\tROLE\tCREATED\tBY")
	for _, t := range list {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", t.Name, t.Role, t.Created.Format(time.RFC3339), t.CreatedBy)
	}
}

func newTokenRemoveCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "rm NAME",
		Aliases: []string{"remove"},
		Short:   "Remove an admin token made at run time",
		Long: `Remove an admin token made with token add: it stops working at once, for
the API and for new console sign-ins.`,
		Example: `  relayctl token rm alice`,
		Args:    argNames("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			o := g.common(cmd)
			c, err := o.client()
			if err != nil {
				return err
			}
			if err := c.RemoveToken(cmd.Context(), args[0]); err != nil {
				return err
			}
			return o.out.print(map[string]string{"removed": args[0]}, func(w io.Writer) {
				fmt.Fprintf(w, "token %s removed\n", args[0])
			})
		},
	}
}

func newConsoleLinkCommand(g *globals) *cobra.Command {
	role := "operator"
	cmd := &cobra.Command{
		Use:   "console-link [--role support|operator]",
		Short: "Print a one-time sign-in link to the web console",
		Long: `Print a link that signs one browser in to relayd's web console
(--console-listen) with a role, without a token. It works once, for 15
minutes; relayd keeps only its hash. The console's audit entries name
the session console:link-XXXXXX, as printed here.`,
		Example: `  relayctl console-link
  relayctl console-link --role support`,
		Args: argNames(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			o := g.common(cmd)
			c, err := o.client()
			if err != nil {
				return err
			}
			l, err := c.ConsoleLink(cmd.Context(), admin.ConsoleLinkRequest{Role: role})
			if err != nil {
				return err
			}
			return o.out.print(l, func(w io.Writer) {
				fmt.Fprintf(w, "%s\n", l.URL)
				fmt.Fprintf(w, "Signs in once as console:%s (%s), until %s.\n", l.Name, l.Role, l.Expires.Format(time.RFC3339))
			})
		},
	}
	cmd.Flags().Var(roleFlag(&role), "role", "support or operator")
	return cmd
}
