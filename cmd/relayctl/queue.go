package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/holdrelay/relay/admin"
	"github.com/spf13/cobra"
)

func newQueueCommand(g *globals) *cobra.Command {
	cmd := group(&cobra.Command{
		Use:   "queue",
		Short: "Look through the spool",
		Long: `Look through the spool: list messages (ls) and show one in full (show).
Neither changes anything; support staff may use both.`,
		Example: `  relayctl queue ls --state waiting
  relayctl queue show 0c5v3k2s8f9ga`,
	})
	cmd.AddCommand(newQueueListCommand(g, nil), newQueueShowCommand(g, nil))
	return cmd
}

type queueListOptions struct {
	common
	Selector selectorOptions
	Limit    int
	Cursor   string
	// again is this command line without --cursor, for the next page's hint.
	again string
}

func newQueueListCommand(g *globals, runF func(*queueListOptions) error) *cobra.Command {
	o := &queueListOptions{}
	cmd := &cobra.Command{
		Use:     "ls [selectors] [--limit N] [--cursor C]",
		Aliases: []string{"list"},
		Short:   "List messages, newest first",
		Long: `List the messages the selectors match, newest first, a page at a time:
ID, state, credential, sender, first recipient (and how many more),
subject, and when it will be sent: a countdown for a waiting message, the
next retry for a deferred one, the reason for a held one. When more
messages follow, a hint on stderr gives the command for the next page.

` + selectorHelp,
		Example: `  relayctl queue ls
  relayctl queue ls --credential shop --state waiting,held --limit 20
  relayctl queue ls --to @example.org --older-than 1h -o json`,
		Args: argNames(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.common = g.common(cmd)
			if o.Limit < 1 || o.Limit > admin.MaxLimit {
				return usageErrorf("--limit %d: want 1 to %d", o.Limit, admin.MaxLimit)
			}
			o.again = commandLine(cmd, "cursor")
			if runF != nil {
				return runF(o)
			}
			return runQueueList(cmd.Context(), o)
		},
	}
	addSelectorFlags(cmd.Flags(), &o.Selector)
	cmd.Flags().IntVar(&o.Limit, "limit", admin.DefaultLimit, "how many messages per page")
	cmd.Flags().StringVar(&o.Cursor, "cursor", "", "start after this cursor, from the hint of the previous page")
	return cmd
}

func runQueueList(ctx context.Context, o *queueListOptions) error {
	c, err := o.client()
	if err != nil {
		return err
	}
	list, err := c.ListMessages(ctx, admin.ListRequest{Selector: o.Selector.wire(nil), Cursor: o.Cursor, Limit: o.Limit})
	if err != nil {
		return err
	}
	if list.Messages == nil {
		list.Messages = []admin.Message{} // JSON: [] rather than null
	}
	err = o.out.print(list, func(w io.Writer) { messageTable(w, list.Messages) })
	if err == nil && list.NextCursor != "" && o.out.format == formatTable {
		fmt.Fprintf(o.errOut, "(more: %s --cursor %s)\n", o.again, list.NextCursor)
	}
	return err
}

func messageTable(w io.Writer, msgs []admin.Message) {
	if len(msgs) == 0 {
		fmt.Fprintln(w, "No messages.")
		return
	}
	fmt.Fprintln(w, "ID\tSTATE\tCREDENTIAL\tFROM\tTO\tSUBJECT\tRELEASE")
	for _, m := range msgs {
		to := "-"
		if len(m.To) > 0 {
			to = m.To[0].Addr
		}
		if len(m.To) > 1 {
			to += fmt.Sprintf(" +%d", len(m.To)-1)
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", m.ID, m.State, dash(m.Credential), dash(clean(m.From)),
			clean(to), dash(truncate(clean(m.Subject), 40)), releaseText(m))
	}
}

// releaseText says when a message will be sent, as the RELEASE column.
func releaseText(m admin.Message) string {
	switch m.State {
	case "waiting":
		return "in " + countdown(m.ReleaseIn)
	case "deferred":
		return "retry " + when(m.Release)
	case "queued":
		return "due"
	case "held":
		if m.Reason != "" {
			return truncate(clean(m.Reason), 50)
		}
		return "held by " + dash(m.HeldBy)
	}
	return "-"
}

// countdown writes a Go duration the way a countdown reads: "25s", "3m",
// "2m30s", "1h5m", "3d".
func countdown(text string) string {
	d, err := time.ParseDuration(text)
	if err != nil {
		return text
	}
	d = d.Round(time.Second)
	switch {
	case d < 10*time.Minute:
		return short(d.String())
	case d < 48*time.Hour:
		return short(d.Round(time.Minute).String())
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

type queueShowOptions struct {
	common
	ID  string
	Raw bool
}

func newQueueShowCommand(g *globals, runF func(*queueShowOptions) error) *cobra.Command {
	o := &queueShowOptions{}
	cmd := &cobra.Command{
		Use:   "show ID [--raw]",
		Short: "Show one message: envelope, headers, history",
		Long: `Show one message: its envelope (the sender, and each recipient with its
delivery state and the upstream's last reply), credential, size, subject,
main headers, times, state, attempts, last error, who holds it and why,
and its whole history.

--raw prints the message itself, byte for byte as received. Finished
messages (delivered, failed, dropped) keep their record but not their
body, so --raw fails for them.`,
		Example: `  relayctl queue show 0c5v3k2s8f9ga
  relayctl queue show 0c5v3k2s8f9ga --raw > message.eml`,
		Args: argNames("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.common = g.common(cmd)
			o.ID = args[0]
			if runF != nil {
				return runF(o)
			}
			return runQueueShow(cmd.Context(), o)
		},
	}
	cmd.Flags().BoolVar(&o.Raw, "raw", false, "print the message as received, and nothing else")
	return cmd
}

func runQueueShow(ctx context.Context, o *queueShowOptions) error {
	c, err := o.client()
	if err != nil {
		return err
	}
	if o.Raw {
		return c.Raw(ctx, o.ID, o.out.w)
	}
	d, err := c.Message(ctx, o.ID)
	if err != nil {
		return err
	}
	return o.out.print(d, func(w io.Writer) { detailsTable(w, d) })
}

// maybeDelivered is the state of a message dropped after an attempt
// that a crash cut short: the upstream may have it.
const maybeDelivered = "maybe_delivered"

func detailsTable(w io.Writer, d admin.MessageDetails) {
	state := d.State
	if d.State == maybeDelivered {
		state += " (dropped, but an attempt a crash cut short may have reached the upstream; never sent again)"
	}
	if d.Pending != "" {
		state += fmt.Sprintf(" (%s asked by %s: carried out when this attempt ends)", d.Pending, d.PendingBy)
	}
	fmt.Fprintf(w, "id:\t%s\n", d.ID)
	fmt.Fprintf(w, "state:\t%s\n", state)
	if d.State == "held" {
		fmt.Fprintf(w, "held by:\t%s\n", dash(d.HeldBy))
	}
	if d.Reason != "" {
		fmt.Fprintf(w, "reason:\t%s\n", clean(d.Reason))
	}
	fmt.Fprintf(w, "credential:\t%s\n", dash(d.Credential))
	fmt.Fprintf(w, "from:\t%s\n", dash(clean(d.From)))
	for i, r := range d.To {
		label := ""
		if i == 0 {
			label = "to:"
		}
		line := label + "\t" + clean(r.Addr) + "\t" + r.State
		if r.Reply != "" {
			line += "\t" + clean(r.Reply)
		}
		fmt.Fprintln(w, line)
	}
	fmt.Fprintf(w, "subject:\t%s\n", dash(clean(d.Subject)))
	fmt.Fprintf(w, "size:\t%d bytes\n", d.Size)
	fmt.Fprintf(w, "received:\t%s\n", when(d.Received))
	release := when(d.Release)
	if d.ReleaseIn != "" {
		release += " (in " + countdown(d.ReleaseIn) + ")"
	}
	fmt.Fprintf(w, "release:\t%s\n", release)
	if d.Finished != nil {
		fmt.Fprintf(w, "finished:\t%s\n", when(*d.Finished))
	}
	if d.SendAt != nil {
		fmt.Fprintf(w, "send at:\t%s\n", when(*d.SendAt))
	}
	if d.DSN != "" {
		fmt.Fprintf(w, "bounce sent:\t%s\n", d.DSN)
	}
	if d.BounceOf != "" {
		fmt.Fprintf(w, "bounce of:\t%s\n", d.BounceOf)
	}
	if d.Batch != "" {
		fmt.Fprintf(w, "batch:\t%s\n", d.Batch)
	}
	if len(d.Categories) > 0 {
		fmt.Fprintf(w, "categories:\t%s\n", clean(strings.Join(d.Categories, ", ")))
	}
	for _, k := range slices.Sorted(maps.Keys(d.UniqueArgs)) {
		fmt.Fprintf(w, "unique arg:\t%s=%s\n", clean(k), clean(d.UniqueArgs[k]))
	}
	fmt.Fprintf(w, "attempts:\t%d\n", d.Attempts)
	fmt.Fprintf(w, "last error:\t%s\n", dash(clean(d.LastError)))
	if d.Upstream != "" {
		label := "upstream:"
		if d.State == "delivered" {
			label = "delivered by:"
		}
		fmt.Fprintf(w, "%s\t%s\n", label, clean(d.Upstream))
	}

	fmt.Fprintf(w, "\nHEADER\tVALUE\n")
	for _, h := range d.Headers {
		fmt.Fprintf(w, "%s:\t%s\n", clean(h.Name), clean(h.Value))
	}
	fmt.Fprintf(w, "\nTIME\tSTATE\tACTOR\tREASON\n")
	for _, e := range d.History {
		reason := e.Reason
		if e.Upstream != "" {
			reason = strings.TrimSpace(reason + " (upstream " + e.Upstream + ")")
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", when(e.Time), e.State, e.Actor, dash(clean(reason)))
	}
}
