package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/holdrelay/relay/admin"
	"github.com/spf13/cobra"
)

func newCredentialCommand(g *globals) *cobra.Command {
	cmd := group(&cobra.Command{
		Use:     "credential",
		Aliases: []string{"credentials", "cred"},
		Short:   "Manage the credentials applications log in with",
		Long: `Manage credentials: one per sending application, each with its own
password and, if wanted, its own rules: hold window, allowed senders,
largest message, rate limit. relayd generates every password and shows it
once, when it is created (add) or changed (relayctl password-rotate).

To stop a runaway application at once: relayctl credential disable NAME.`,
		Example: `  relayctl credential add shop --description "web shop" --allow-sender @shop.example
  relayctl credential ls
  relayctl credential show shop
  relayctl credential set shop --rate-limit 60
  relayctl credential disable shop --reason "bad template"
  relayctl credential enable shop --release`,
	})
	cmd.AddCommand(
		newCredentialAddCommand(g, nil),
		newCredentialListCommand(g, nil),
		newCredentialShowCommand(g, nil),
		newCredentialSetCommand(g, nil),
		newCredentialDisableCommand(g, nil),
		newCredentialEnableCommand(g, nil),
		newCredentialRemoveCommand(g, nil),
	)
	return cmd
}

type credentialAddOptions struct {
	common
	Name     string
	Settings settingsOptions
}

func newCredentialAddCommand(g *globals, runF func(*credentialAddOptions) error) *cobra.Command {
	o := &credentialAddOptions{}
	cmd := &cobra.Command{
		Use:   "add NAME [settings]",
		Short: "Create a credential and print its password once",
		Long: `Create a credential with a generated password. The password is printed
once, here, and never again: relayd keeps only its hash. Give it to the
application as its SMTP username (NAME) and password.

NAME is 1 to 64 characters of a-z, 0-9, '.', '_' and '-', starting with a
letter or digit. Without settings, the credential may send as any sender,
with relayd's hold window and size limit and no rate limit.

` + settingsHelp,
		Example: `  relayctl credential add shop
  relayctl credential add newsletter --description "monthly newsletter" --hold 10m --rate-limit 600
  relayctl credential add billing --allow-sender billing@example.com --allow-sender @invoices.example.com --max-size 10MiB
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
	addSettingsFlags(cmd.Flags(), &o.Settings)
	return cmd
}

func runCredentialAdd(ctx context.Context, o *credentialAddOptions) error {
	c, err := o.client()
	if err != nil {
		return err
	}
	cc, err := c.AddCredential(ctx, o.Settings.addRequest(o.Name))
	if err != nil {
		return err
	}
	return o.out.print(cc, func(w io.Writer) { passwordLines(w, cc.Name, cc.Password, cc.APIKey) })
}

// passwordLines prints a password the one time it is shown.
func passwordLines(w io.Writer, name, password, apiKey string) {
	fmt.Fprintf(w, "username: %s\n", name)
	fmt.Fprintf(w, "password: %s\n", password)
	if apiKey != "" {
		fmt.Fprintf(w, "api key:  %s\n", apiKey)
	}
	fmt.Fprintf(w, "This password (and its API key, for the HTTP Mail Send API) is shown only once: store it now.\n")
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
changed, and its description. Passwords are never shown. relayctl
credential show NAME shows the rest of its settings.`,
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
		status := credentialStatus(c)
		if c.GraceUntil != nil {
			status += ", old password until " + when(*c.GraceUntil)
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", c.Name, status, holdText(c.Hold), when(c.PasswordChanged), dash(clean(c.Description)))
	}
}

func credentialStatus(c admin.Credential) string {
	if c.Disabled {
		return "disabled"
	}
	return "enabled"
}

func holdText(hold *string) string {
	if hold == nil {
		return "default"
	}
	return short(*hold)
}

type credentialShowOptions struct {
	common
	Name string
}

func newCredentialShowCommand(g *globals, runF func(*credentialShowOptions) error) *cobra.Command {
	o := &credentialShowOptions{}
	return &cobra.Command{
		Use:   "show NAME",
		Short: "Show one credential: settings, password age, messages",
		Long: `Show one credential: whether it is enabled, its settings, when its
password last changed and, during a rotation's grace period, until when
the old password still works; whether its delivery is paused, and how
many of its messages are in each state. Never a password.`,
		Example: `  relayctl credential show shop
  relayctl credential show shop -o json`,
		Args: argNames("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.common = g.common(cmd)
			o.Name = args[0]
			if runF != nil {
				return runF(o)
			}
			return runCredentialShow(cmd.Context(), o)
		},
	}
}

func runCredentialShow(ctx context.Context, o *credentialShowOptions) error {
	c, err := o.client()
	if err != nil {
		return err
	}
	d, err := c.Credential(ctx, o.Name)
	if err != nil {
		return err
	}
	return o.out.print(d, func(w io.Writer) { credentialDetails(w, d) })
}

func credentialDetails(w io.Writer, d admin.CredentialDetails) {
	credentialSettings(w, d.Credential)
	paused := "no"
	if p := d.Paused; p != nil {
		paused = "since " + when(p.Since)
		if p.Until != nil {
			paused += ", until " + when(*p.Until)
		}
		if p.Reason != "" {
			paused += ": " + clean(p.Reason)
		}
	}
	fmt.Fprintf(w, "paused:\t%s\n", paused)
	fmt.Fprintf(w, "\nSTATE\tMESSAGES\n")
	for _, s := range stateOrder(d.Messages) {
		fmt.Fprintf(w, "%s\t%d\n", s, d.Messages[s])
	}
}

// credentialSettings prints what a credential is, one "label: value"
// line each.
func credentialSettings(w io.Writer, d admin.Credential) {
	fmt.Fprintf(w, "name:\t%s\n", d.Name)
	fmt.Fprintf(w, "description:\t%s\n", dash(clean(d.Description)))
	status := credentialStatus(d)
	if d.Disabled {
		status += ": logins refused, new messages held"
	}
	fmt.Fprintf(w, "status:\t%s\n", status)
	fmt.Fprintf(w, "created:\t%s\n", when(d.Created))
	fmt.Fprintf(w, "password changed:\t%s\n", when(d.PasswordChanged))
	if d.GraceUntil != nil {
		fmt.Fprintf(w, "old password:\tstill accepted until %s\n", when(*d.GraceUntil))
	}
	hold := holdText(d.Hold)
	if d.Hold == nil {
		hold += " (relayd's --hold)"
	}
	fmt.Fprintf(w, "hold:\t%s\n", hold)
	senders := "any"
	if len(d.AllowedSenders) > 0 {
		senders = clean(strings.Join(d.AllowedSenders, ", "))
	}
	fmt.Fprintf(w, "allowed senders:\t%s\n", senders)
	size := "relayd's --max-message-size"
	if d.MaxMessageSize > 0 {
		size = formatSize(d.MaxMessageSize)
	}
	fmt.Fprintf(w, "max size:\t%s\n", size)
	rate := "none"
	if d.RateLimit > 0 {
		rate = fmt.Sprintf("%d %s per minute", d.RateLimit, plural(d.RateLimit, "message"))
	}
	fmt.Fprintf(w, "rate limit:\t%s\n", rate)
	if d.Upstream != "" || d.UpstreamFallback != "" {
		fmt.Fprintf(w, "upstream:\t%s\n", ownOr(d.Upstream, "relayd's --upstream"))
		fmt.Fprintf(w, "fallback:\t%s\n", ownOr(d.UpstreamFallback, "relayd's --upstream-fallback"))
	}
	fmt.Fprintf(w, "brake duplicates:\t%s\n", brakeSetting(d.BrakeDuplicates, "--brake-duplicates"))
	fmt.Fprintf(w, "brake rate:\t%s\n", brakeSetting(d.BrakeRate, "--brake-rate"))
}

func brakeSetting(p *int, flag string) string {
	switch {
	case p == nil:
		return "relayd's " + flag
	case *p == 0:
		return "off"
	}
	return strconv.Itoa(*p)
}

// ownOr is a credential's own setting, or what applies without one.
func ownOr(own, global string) string {
	if own == "" {
		return global
	}
	return clean(own)
}

type credentialSetOptions struct {
	common
	Name     string
	Settings settingsOptions
	AllowAny bool
	Reason   string
}

func newCredentialSetCommand(g *globals, runF func(*credentialSetOptions) error) *cobra.Command {
	o := &credentialSetOptions{}
	cmd := &cobra.Command{
		Use:   "set NAME [settings]",
		Short: "Change a credential's settings",
		Long: `Change the settings given and keep the others. --allow-sender replaces
the whole list of allowed senders; --allow-any-sender empties it, so the
credential may send as anyone again. --hold default takes its own hold
window away: relayd's --hold applies again; so do --upstream default and
--upstream-fallback default. An upstream URL is checked as relayd checks
its own --upstream; a password in it is stored, never shown again.

Changes apply from the next message: sessions already logged in keep
their login and follow the new settings at their next MAIL FROM. Messages
already in the spool keep their release times.

` + settingsHelp,
		Example: `  relayctl credential set shop --rate-limit 60
  relayctl credential set shop --hold default --reason "done testing"
  relayctl credential set billing --allow-sender billing@example.com --allow-sender @invoices.example.com
  relayctl credential set billing --allow-any-sender --max-size 0
  relayctl credential set newsletter --brake-rate 3000 --brake-duplicates default
  relayctl credential set news --upstream smtps://news:PASSWORD@smtp.provider.example --upstream-fallback default`,
		Args: argNames("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.common = g.common(cmd)
			o.Name = args[0]
			if o.AllowAny {
				if o.Settings.AllowedSenders != nil {
					return usageErrorf("--allow-sender and --allow-any-sender: give one or the other")
				}
				o.Settings.AllowedSenders = &[]string{}
			}
			if !o.Settings.given() {
				return usageErrorf("%s: nothing to change: give at least one setting (--description, --hold, "+
					"--allow-sender, --allow-any-sender, --max-size, --rate-limit, --brake-duplicates, --brake-rate, --upstream, --upstream-fallback)", cmd.CommandPath())
			}
			if runF != nil {
				return runF(o)
			}
			return runCredentialSet(cmd.Context(), o)
		},
	}
	addSettingsFlags(cmd.Flags(), &o.Settings)
	addBrakeFlags(cmd.Flags(), &o.Settings)
	cmd.Flags().BoolVar(&o.AllowAny, "allow-any-sender", false, "let it send as any sender again")
	cmd.Flags().StringVar(&o.Reason, "reason", "", "why, for the audit log")
	return cmd
}

func runCredentialSet(ctx context.Context, o *credentialSetOptions) error {
	c, err := o.client()
	if err != nil {
		return err
	}
	cred, err := c.UpdateCredential(ctx, o.Name, o.Settings.updateRequest(o.Reason))
	if err != nil {
		return err
	}
	return o.out.print(cred, func(w io.Writer) { credentialSettings(w, cred) })
}
