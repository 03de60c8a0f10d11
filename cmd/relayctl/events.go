package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/holdrelay/relay/admin"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

type eventsOptions struct {
	common
	Follow bool
	Types  []string
	After  uint64
	Sel    selectorOptions // credential, from, to, batch, category only
	after  bool            // --after was given
}

func newEventsCommand(g *globals, runF func(*eventsOptions) error) *cobra.Command {
	o := &eventsOptions{}
	cmd := &cobra.Command{
		Use:   "events [--follow] [--type TYPE] [selectors] [--after SEQ]",
		Short: "Print the event stream: every change to a message, every administrative change",
		Long: `Print relayd's events, oldest first: the ones its webhooks receive (see
docs/events.md), one a line: TIME, TYPE, the message ID (or the
credential, for the others) and a summary. -o json prints JSON lines:
each event as webhooks get it, plus its "seq" in the outbox.

Without --after it starts with the last 100 events of the outbox (counted
before --type and the selectors), like tail. --follow keeps printing
events as they are written, until interrupted (exit 0) or relayd shuts
down (exit 1); to resume where it left off, give --after the last "seq"
seen.

--type takes event types or prefixes (message.*, credential.*), repeated
or comma-separated. --credential, --from, --to (an address or @domain),
--batch and --category keep the events whose data match: message events,
and the credential's or batch's own events.`,
		Example: `  relayctl events
  relayctl events --follow --credential shop
  relayctl events --follow --type message.failed,message.deferred
  relayctl events --type 'credential.*' --after 1200 -o json`,
		Args: argNames(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.common = g.common(cmd)
			o.after = cmd.Flags().Changed("after")
			if runF != nil {
				return runF(o)
			}
			return runEvents(cmd.Context(), o)
		},
	}
	fs := cmd.Flags()
	fs.BoolVarP(&o.Follow, "follow", "f", false, "keep printing new events until interrupted")
	fs.Var(eventTypesFlag{&o.Types}, "type", "event types or prefixes (message.*); repeat or separate with commas (default all)")
	fs.Uint64Var(&o.After, "after", 0, `start after this event's "seq" (default: the last 100 events)`)
	addEventSelectorFlags(fs, &o.Sel)
	return cmd
}

// addEventSelectorFlags adds the selectors that apply to an event's data.
func addEventSelectorFlags(fs *pflag.FlagSet, s *selectorOptions) {
	fs.StringVar(&s.Credential, "credential", "", "events of this credential: its messages and its own changes")
	fs.Var(patternFlag(&s.From), "from", "message events from this sender: an address, or @domain")
	fs.Var(patternFlag(&s.To), "to", "message events to this recipient (any of them): an address, or @domain")
	fs.Var(batchFlag(&s.Batch), "batch", "events of this batch: its messages and its own changes")
	fs.Var(categoryFlag(&s.Category), "category", "message events with this X-SMTPAPI category")
}

func (o *eventsOptions) request() admin.EventsRequest {
	req := admin.EventsRequest{Types: o.Types, Follow: o.Follow, Selector: o.Sel.wire(nil)}
	if o.after {
		req.After = &o.After
	}
	return req
}

func runEvents(ctx context.Context, o *eventsOptions) error {
	c, err := o.client()
	if err != nil {
		return err
	}
	w := o.out.w
	if o.out.format == formatJSON {
		enc := json.NewEncoder(w)
		return c.Events(ctx, o.request(), func(e admin.OutboxEvent) error { return enc.Encode(e) })
	}
	// A stream cannot wait for a tabwriter to see every row: the columns
	// have fixed widths instead.
	fmt.Fprintf(w, eventRow, "TIME", "TYPE", "ID/CREDENTIAL", "SUMMARY")
	return c.Events(ctx, o.request(), func(e admin.OutboxEvent) error {
		_, err := fmt.Fprintf(w, eventRow, when(e.Timestamp), e.Type, eventSubject(e), eventSummary(e))
		return err
	})
}

// eventRow fits the longest type (credential.disabled) and a message ID.
const eventRow = "%-20s  %-19s  %-16s  %s\n"

// maxSummary bounds a row's summary, which holds what others wrote
// (subjects, replies, reasons).
const maxSummary = 120

func eventData(e admin.OutboxEvent) admin.EventData {
	var d admin.EventData
	_ = json.Unmarshal(e.Data, &d) // what does not decode is left empty
	return d
}

// eventSubject names what an event is about: the message, else the
// credential, the batch or the webhook.
func eventSubject(e admin.OutboxEvent) string {
	d := eventData(e)
	if d.Domain != "" {
		return clean(d.Selector + "._domainkey." + d.Domain)
	}
	for _, s := range []string{d.MessageID, d.Credential, d.BatchID, d.Webhook} {
		if s != "" {
			return clean(s)
		}
	}
	return "-"
}

// brakeEventSummary words a brake.* event: what went over what, and
// the sample or who released it.
func brakeEventSummary(e admin.OutboxEvent) string {
	var b struct {
		Trigger   string `json:"trigger"`
		Count     int    `json:"count"`
		Threshold int    `json:"threshold"`
		Window    int    `json:"window_seconds"`
		Held      int    `json:"held"`
		Actor     string `json:"actor"`
		Reason    string `json:"reason"`
		Sample    struct {
			Recipient string `json:"recipient"`
			Subject   string `json:"subject"`
		} `json:"sample"`
	}
	json.Unmarshal(e.Data, &b)
	s := fmt.Sprintf("%s: %d > %d in %s, %d held", b.Trigger, b.Count, b.Threshold, time.Duration(b.Window)*time.Second, b.Held)
	if e.Type == "brake.tripped" {
		return s + fmt.Sprintf("; to %s: %q", b.Sample.Recipient, b.Sample.Subject)
	}
	return s + "; " + strings.Join(nonEmpty("released by "+dash(b.Actor), b.Reason), ": ")
}

// eventSummary words the rest of an event for one row.
func eventSummary(e admin.OutboxEvent) string {
	d := eventData(e)
	var s string
	switch {
	case strings.HasPrefix(e.Type, "brake."):
		s = brakeEventSummary(e)
	case d.Response != "":
		s = d.Response
	case d.Actor != "" || d.Reason != "":
		s = strings.Join(nonEmpty("by "+dash(d.Actor), d.Reason, d.Note), ": ")
	case d.MessageID != "":
		s = fmt.Sprintf("%s -> %s %q", d.From, recipientsText(d.Recipients), d.Subject)
	default:
		var buf bytes.Buffer
		if json.Compact(&buf, e.Data) != nil || buf.String() == "{}" {
			return "-"
		}
		s = buf.String()
	}
	if d.MaybeDelivered {
		// First, where truncation cannot cut it: this drop may not be one.
		s = "maybe delivered; " + s
	}
	return truncate(clean(s), maxSummary)
}

func recipientsText(rcpts []string) string {
	if len(rcpts) <= 2 {
		return strings.Join(rcpts, ", ")
	}
	return fmt.Sprintf("%s (+%d more)", strings.Join(rcpts[:2], ", "), len(rcpts)-2)
}

func nonEmpty(ss ...string) []string {
	var out []string
	for _, s := range ss {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}
