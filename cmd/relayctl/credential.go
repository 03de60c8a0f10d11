package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/holdrelay/relay/admin"
	"github.com/spf13/cobra"
)

func newCredentialCommand(g *globals) *cobra.Command {
	cmd := group(&cobra.Command{
		Use:     "credential",
		Aliases: []string{"credentials", "cred"},
		Short:   "Manage the credentials applications log in with",
		Long: `Manage credentials: one per sending application, each with its own
password and, if wanted, its own hold window. relayd generates every
password and shows it once, when it is created.`,
		Example: `  relayctl credential add shop --description "web shop"
  relayctl credential ls`,
	})
	cmd.AddCommand(
		newCredentialAddCommand(g, nil),
		newCredentialListCommand(g, nil),
	)
	return cmd
}

type credentialAddOptions struct {
	common
	Name        string
	Description string
	Hold        *time.Duration // nil: the global hold window applies
}

func newCredentialAddCommand(g *globals, runF func(*credentialAddOptions) error) *cobra.Command {
	o := &credentialAddOptions{}
	cmd := &cobra.Command{
		Use:   "add NAME",
		Short: "Create a credential and print its password once",
		Long: `Create a credential with a generated password. The password is printed
once, here, and never again: relayd keeps only its hash. Give it to the
application as its SMTP username (NAME) and password.

NAME is 1 to 64 characters of a-z, 0-9, '.', '_' and '-', starting with a
letter or digit. --hold gives this credential its own hold window instead
of relayd's --hold; 0s delivers its messages at once.`,
		Example: `  relayctl credential add shop
  relayctl credential add newsletter --description "monthly newsletter" --hold 10m
  relayctl credential add ci --hold 0s -o json`,
		Args: argNames("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.common = g.common(cmd)
			o.Name = args[0]
			if runF != nil {
				return runF(o)
			}
			return runCredentialAdd(cmd.Context(), o)
		},
	}
	cmd.Flags().StringVar(&o.Description, "description", "", "what the credential is for, shown in listings")
	cmd.Flags().Var(durationFlag{&o.Hold}, "hold", "this credential's own hold window, e.g. 0s, 30s, 5m (default: relayd's --hold)")
	return cmd
}

func runCredentialAdd(ctx context.Context, o *credentialAddOptions) error {
	c, err := o.client()
	if err != nil {
		return err
	}
	req := admin.AddCredentialRequest{Name: o.Name, Description: o.Description}
	if o.Hold != nil {
		h := o.Hold.String()
		req.Hold = &h
	}
	cc, err := c.AddCredential(ctx, req)
	if err != nil {
		return err
	}
	return o.out.print(cc, func(w io.Writer) {
		fmt.Fprintf(w, "username: %s\n", cc.Name)
		fmt.Fprintf(w, "password: %s\n", cc.Password)
		fmt.Fprintf(w, "This password is shown only once: store it now.\n")
	})
}

type credentialListOptions struct {
	common
}

func newCredentialListCommand(g *globals, runF func(*credentialListOptions) error) *cobra.Command {
	o := &credentialListOptions{}
	return &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List credentials",
		Long: `List every credential, sorted by name: whether it is enabled, its hold
window ("default" when relayd's --hold applies), when its password last
changed, and its description. Passwords are never shown.`,
		Example: `  relayctl credential ls
  relayctl credential ls -o json`,
		Args: argNames(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.common = g.common(cmd)
			if runF != nil {
				return runF(o)
			}
			return runCredentialList(cmd.Context(), o)
		},
	}
}

func runCredentialList(ctx context.Context, o *credentialListOptions) error {
	c, err := o.client()
	if err != nil {
		return err
	}
	list, err := c.Credentials(ctx)
	if err != nil {
		return err
	}
	if list == nil {
		list = []admin.Credential{} // JSON: [] rather than null
	}
	return o.out.print(list, func(w io.Writer) { credentialTable(w, list) })
}

func credentialTable(w io.Writer, list []admin.Credential) {
	if len(list) == 0 {
		fmt.Fprintln(w, "No credentials. Create one with: relayctl credential add NAME")
		return
	}
	fmt.Fprintln(w, "NAME\tSTATUS\tHOLD\tPASSWORD CHANGED\tDESCRIPTION")
	for _, c := range list {
		status := "enabled"
		if c.Disabled {
			status = "disabled"
		}
		if c.GraceUntil != nil {
			status += ", old password until " + when(*c.GraceUntil)
		}
		hold := "default"
		if c.Hold != nil {
			hold = short(*c.Hold)
		}
		desc := c.Description
		if desc == "" {
			desc = "-"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", c.Name, status, hold, when(c.PasswordChanged), desc)
	}
}
