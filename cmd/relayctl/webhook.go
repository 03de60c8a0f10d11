package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/holdrelay/relay/admin"
	"github.com/spf13/cobra"
)

func newWebhookCommand(g *globals) *cobra.Command {
	cmd := group(&cobra.Command{
		Use:     "webhook",
		Aliases: []string{"webhooks"},
		Short:   "Manage the webhooks relayd posts its events to",
		Long: `Manage webhooks: HTTP endpoints that relayd posts its events to (every
change to a message, every administrative change), signed, in batches,
at least once, with retries for --webhook-max-age. See docs/events.md
for the event types, the two body formats and how to verify a signature.`,
		Example: `  relayctl webhook add crm --url https://crm.example.com/relay-events --events 'message.*'
  relayctl webhook add legacy --url https://old.example.com/sendgrid --format sendgrid
  relayctl webhook ls
  relayctl webhook show crm
  relayctl webhook test crm
  relayctl webhook rm crm`,
	})
	cmd.AddCommand(
		newWebhookAddCommand(g, nil),
		newWebhookListCommand(g, nil),
		newWebhookShowCommand(g, nil),
		newWebhookRemoveCommand(g, nil),
		newWebhookTestCommand(g, nil),
	)
	return cmd
}

type webhookAddOptions struct {
	common
	Name   string
	URL    string
	Events []string
	Format string
}

func newWebhookAddCommand(g *globals, runF func(*webhookAddOptions) error) *cobra.Command {
	o := &webhookAddOptions{Format: admin.FormatStandard}
	cmd := &cobra.Command{
		Use:   "add NAME --url URL [--events TYPE,...] [--format standard|sendgrid]",
		Short: "Subscribe a webhook and print its signing secret once",
		Long: `Subscribe a webhook: from now on, relayd posts the events it subscribes
to to URL. Events written before it was added are not sent to it.

--url must be http:// or https:// with a host, and not relayd's own admin
API. --events takes event types or prefixes such as message.*, repeated
or comma-separated; the default is every type. NAME follows the rules of
credential names: 1 to 64 of a-z, 0-9, '.', '_' and '-'.

The standard format (Standard Webhooks) is signed with a secret, printed
here once as whsec_...; the sendgrid format (SendGrid's Event Webhook) is
signed with an ECDSA key whose public half is printed here once. relayd
never shows either again: store it now. With -o json it is in "secret"
or "public_key".`,
		Example: `  relayctl webhook add crm --url https://crm.example.com/relay-events
  relayctl webhook add alerts --url https://ops.example.com/hook --events credential.disabled,brake.tripped
  relayctl webhook add legacy --url https://old.example.com/sendgrid --format sendgrid
  relayctl webhook add crm --url https://crm.example.com/relay-events -o json`,
		Args: argNames("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.common = g.common(cmd)
			o.Name = args[0]
			if o.URL == "" {
				return usageErrorf("%s: --url is required", cmd.CommandPath())
			}
			if runF != nil {
				return runF(o)
			}
			return runWebhookAdd(cmd.Context(), o)
		},
	}
	fs := cmd.Flags()
	fs.Var(checkedFlag{&o.URL, "url", admin.CheckWebhookURL}, "url", "where to post: an http:// or https:// URL")
	fs.Var(eventTypesFlag{&o.Events}, "events", "event types or prefixes (message.*) to send; repeat or separate with commas (default all)")
	fs.Var(checkedFlag{&o.Format, "format", checkFormat}, "format", "body and signature: standard or sendgrid")
	return cmd
}

func checkFormat(v string) error {
	if v != admin.FormatStandard && v != admin.FormatSendGrid {
		return fmt.Errorf("want %s or %s, got %q", admin.FormatStandard, admin.FormatSendGrid, v)
	}
	return nil
}

// eventTypesFlag collects event types or prefixes: repeated,
// comma-separated, or both; an unknown one is a usage error.
type eventTypesFlag struct{ types *[]string }

func (f eventTypesFlag) Type() string { return "types" }

func (f eventTypesFlag) String() string {
	if f.types == nil {
		return ""
	}
	return strings.Join(*f.types, ",")
}

func (f eventTypesFlag) Set(v string) error {
	for t := range strings.SplitSeq(v, ",") {
		t = strings.TrimSpace(t)
		if err := admin.CheckEventFilter(t); err != nil {
			return err
		}
		*f.types = append(*f.types, t)
	}
	return nil
}

func runWebhookAdd(ctx context.Context, o *webhookAddOptions) error {
	c, err := o.client()
	if err != nil {
		return err
	}
	res, err := c.AddWebhook(ctx, admin.AddWebhookRequest{Name: o.Name, URL: o.URL, Events: o.Events, Format: o.Format})
	if err != nil {
		return err
	}
	return o.out.print(res, func(w io.Writer) { webhookCreated(w, res) })
}

// webhookCreated prints a new webhook with its secret or public key, the
// one time either is shown.
func webhookCreated(w io.Writer, res admin.WebhookCreated) {
	webhookSettings(w, res.Webhook)
	if res.PublicKey != "" {
		fmt.Fprintf(w, "public key:\t%s\n", res.PublicKey)
		fmt.Fprintln(w, "This public key is shown only once: give it to the receiver now, as its SendGrid verification key.")
		return
	}
	fmt.Fprintf(w, "secret:\t%s\n", res.Secret)
	fmt.Fprintln(w, "This secret is shown only once: give it to the receiver now, to verify webhook-signature.")
}

type webhookListOptions struct {
	common
}

func newWebhookListCommand(g *globals, runF func(*webhookListOptions) error) *cobra.Command {
	o := &webhookListOptions{}
	return &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List webhooks",
		Long: `List every webhook, sorted by name: whether it is enabled, its format,
the events it subscribes to, its backlog (events written since its last
acknowledged one, of every type) and its URL. Secrets are never shown.`,
		Example: `  relayctl webhook ls
  relayctl webhook ls -o json`,
		Args: argNames(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.common = g.common(cmd)
			if runF != nil {
				return runF(o)
			}
			return runWebhookList(cmd.Context(), o)
		},
	}
}

func runWebhookList(ctx context.Context, o *webhookListOptions) error {
	c, err := o.client()
	if err != nil {
		return err
	}
	list, err := c.Webhooks(ctx)
	if err != nil {
		return err
	}
	if list == nil {
		list = []admin.Webhook{}
	}
	return o.out.print(list, func(w io.Writer) { webhookTable(w, list) })
}

func webhookTable(w io.Writer, list []admin.Webhook) {
	if len(list) == 0 {
		fmt.Fprintln(w, "No webhooks. Add one with: relayctl webhook add NAME --url URL")
		return
	}
	fmt.Fprintln(w, "NAME\tSTATUS\tFORMAT\tEVENTS\tBACKLOG\tURL")
	for _, h := range list {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\t%s\n", h.Name, webhookStatus(h), h.Format, eventsText(h.Events), h.Backlog, clean(h.URL))
	}
}

func webhookStatus(h admin.Webhook) string {
	if h.Disabled {
		return "disabled"
	}
	return "enabled"
}

func eventsText(events []string) string {
	if len(events) == 0 {
		return "all"
	}
	return strings.Join(events, ",")
}

type webhookShowOptions struct {
	common
	Name string
}

func newWebhookShowCommand(g *globals, runF func(*webhookShowOptions) error) *cobra.Command {
	o := &webhookShowOptions{}
	return &cobra.Command{
		Use:   "show NAME",
		Short: "Show one webhook: backlog, last success, last error",
		Long: `Show one webhook: its settings, its backlog, and what its sender knows
since relayd started: the last success, the last error and when, how many
attempts at the current batch failed in a row, and when the next one is
due. A webhook whose receiver answered 410 Gone is disabled, with the
reason.`,
		Example: `  relayctl webhook show crm
  relayctl webhook show crm -o json`,
		Args: argNames("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.common = g.common(cmd)
			o.Name = args[0]
			if runF != nil {
				return runF(o)
			}
			return runWebhookShow(cmd.Context(), o)
		},
	}
}

func runWebhookShow(ctx context.Context, o *webhookShowOptions) error {
	c, err := o.client()
	if err != nil {
		return err
	}
	h, err := c.Webhook(ctx, o.Name)
	if err != nil {
		return err
	}
	return o.out.print(h, func(w io.Writer) { webhookDetails(w, h) })
}

func webhookDetails(w io.Writer, h admin.Webhook) {
	webhookSettings(w, h)
	fmt.Fprintf(w, "backlog:\t%d %s\n", h.Backlog, plural(int(h.Backlog), "event"))
	fmt.Fprintf(w, "last success:\t%s\n", whenOr(h.LastSuccess, "none since relayd started"))
	lastErr := "none since relayd started"
	if h.LastError != "" {
		lastErr = clean(h.LastError)
		if h.LastErrorAt != nil {
			lastErr = when(*h.LastErrorAt) + ": " + lastErr
		}
	}
	fmt.Fprintf(w, "last error:\t%s\n", lastErr)
	if h.Failures > 0 {
		fmt.Fprintf(w, "failures:\t%d in a row\n", h.Failures)
	}
	if h.NextAttempt != nil {
		fmt.Fprintf(w, "next attempt:\t%s\n", when(*h.NextAttempt))
	}
}

// webhookSettings prints what a webhook is, one "label: value" line each.
func webhookSettings(w io.Writer, h admin.Webhook) {
	fmt.Fprintf(w, "name:\t%s\n", h.Name)
	fmt.Fprintf(w, "url:\t%s\n", clean(h.URL))
	fmt.Fprintf(w, "format:\t%s\n", h.Format)
	fmt.Fprintf(w, "events:\t%s\n", eventsText(h.Events))
	status := webhookStatus(h)
	if h.DisabledReason != "" {
		status += ": " + clean(h.DisabledReason)
	}
	fmt.Fprintf(w, "status:\t%s\n", status)
	fmt.Fprintf(w, "created:\t%s by %s\n", when(h.Created), dash(h.CreatedBy))
}

func whenOr(t *time.Time, none string) string {
	if t == nil {
		return none
	}
	return when(*t)
}

type webhookNameOptions struct {
	common
	Name string
}

func newWebhookRemoveCommand(g *globals, runF func(*webhookNameOptions) error) *cobra.Command {
	o := &webhookNameOptions{}
	return &cobra.Command{
		Use:     "rm NAME",
		Aliases: []string{"remove"},
		Short:   "Remove a webhook",
		Long: `Remove a webhook: relayd stops posting to it at once, and the events it
had not received yet are not sent to it. Its secret is gone with it.`,
		Example: `  relayctl webhook rm crm`,
		Args:    argNames("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.common = g.common(cmd)
			o.Name = args[0]
			if runF != nil {
				return runF(o)
			}
			return runWebhookRemove(cmd.Context(), o)
		},
	}
}

func runWebhookRemove(ctx context.Context, o *webhookNameOptions) error {
	c, err := o.client()
	if err != nil {
		return err
	}
	res, err := c.RemoveWebhook(ctx, o.Name)
	if err != nil {
		return err
	}
	return o.out.print(res, func(w io.Writer) { fmt.Fprintf(w, "Webhook %s removed.\n", res.Name) })
}

func newWebhookTestCommand(g *globals, runF func(*webhookNameOptions) error) *cobra.Command {
	o := &webhookNameOptions{}
	return &cobra.Command{
		Use:   "test NAME",
		Short: "Send a webhook.test event to one webhook",
		Long: `Write a webhook.test event for this webhook alone, whatever its --events.
It travels the way every event does (outbox, batch, signature, retries),
so its arrival proves the whole path. relayctl webhook show NAME tells
whether it arrived; the receiver sees its id.`,
		Example: `  relayctl webhook test crm
  relayctl webhook test crm && sleep 2 && relayctl webhook show crm`,
		Args: argNames("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.common = g.common(cmd)
			o.Name = args[0]
			if runF != nil {
				return runF(o)
			}
			return runWebhookTest(cmd.Context(), o)
		},
	}
}

func runWebhookTest(ctx context.Context, o *webhookNameOptions) error {
	c, err := o.client()
	if err != nil {
		return err
	}
	res, err := c.TestWebhook(ctx, o.Name)
	if err != nil {
		return err
	}
	return o.out.print(res, func(w io.Writer) {
		fmt.Fprintf(w, "Event %s (webhook.test) written for webhook %s.\n", res.Event.ID, res.Name)
	})
}
