package main

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/holdrelay/relay/admin"
	"github.com/holdrelay/relay/internal/names"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// selectorOptions are the selector flags, the same on every command that
// takes them. A bad value is a flag error, hence a usage error (exit 2),
// found before relayd is asked anything.
type selectorOptions struct {
	All        bool
	Credential string
	From       string
	To         string
	States     []string
	OlderThan  *time.Duration
	NewerThan  *time.Duration
	Batch      string
	Category   string
}

// selectorHelp is the part of --help that explains selectors.
const selectorHelp = `Selectors combine with AND: --credential NAME, --from ADDRESS|@DOMAIN,
--to ADDRESS|@DOMAIN (any recipient), --state STATE (repeatable, or
comma-separated: waiting, held, queued, sending, deferred, delivered,
failed, dropped), --older-than and --newer-than DURATION (received that
long ago, by relayd's clock), --batch ID and --category NAME (from the
X-SMTPAPI or X-Relay-Batch headers). --all selects every message.`

func addSelectorFlags(fs *pflag.FlagSet, s *selectorOptions) {
	fs.BoolVar(&s.All, "all", false, "select every message (changes refuse to run with no selector otherwise)")
	fs.StringVar(&s.Credential, "credential", "", "messages sent with this credential")
	fs.Var(patternFlag(&s.From), "from", "messages from this sender: an address, or @domain")
	fs.Var(patternFlag(&s.To), "to", "messages to this recipient (any of them): an address, or @domain")
	fs.Var(stateFlag{&s.States}, "state", "messages in this state; repeat or separate with commas")
	fs.Var(durationFlag{&s.OlderThan}, "older-than", "messages received more than DURATION ago, e.g. 10m")
	fs.Var(durationFlag{&s.NewerThan}, "newer-than", "messages received less than DURATION ago, e.g. 10m")
	fs.Var(batchFlag(&s.Batch), "batch", "messages of this batch (X-SMTPAPI batch_id or X-Relay-Batch)")
	fs.Var(categoryFlag(&s.Category), "category", "messages with this X-SMTPAPI category")
}

// wire returns the selector relayd takes, with ids if any.
func (s selectorOptions) wire(ids []string) admin.Selector {
	sel := admin.Selector{IDs: ids, All: s.All, Credential: s.Credential, From: s.From, To: s.To, States: s.States,
		Batch: s.Batch, Category: s.Category}
	if s.OlderThan != nil {
		sel.OlderThan = short(s.OlderThan.String())
	}
	if s.NewerThan != nil {
		sel.NewerThan = short(s.NewerThan.String())
	}
	return sel
}

// changeOptions are the flags of the commands that change many messages.
type changeOptions struct {
	DryRun bool
	Reason string
}

func addChangeFlags(fs *pflag.FlagSet, c *changeOptions) {
	fs.BoolVar(&c.DryRun, "dry-run", false, "report what would change, and change nothing")
	fs.StringVar(&c.Reason, "reason", "", "why, for the messages' history and the audit log")
}

// requireSelection refuses a change that names no message: "everything"
// must be asked for with --all. relayd refuses it as well; checking here
// makes it a usage error, before any request.
func requireSelection(cmd *cobra.Command, sel admin.Selector) error {
	if !sel.Empty() {
		return nil
	}
	return usageErrorf("%s: no messages selected: give message IDs or selectors "+
		"(--credential, --from, --to, --state, --older-than, --newer-than, --batch, --category), or --all for every message", cmd.CommandPath())
}

// stateFlag collects --state values: repeated, comma-separated, or both.
type stateFlag struct{ states *[]string }

func (f stateFlag) Type() string { return "state" }

func (f stateFlag) String() string {
	if f.states == nil {
		return ""
	}
	return strings.Join(*f.states, ",")
}

func (f stateFlag) Set(v string) error {
	for s := range strings.SplitSeq(v, ",") {
		s = strings.ToLower(strings.TrimSpace(s))
		if !slices.Contains(admin.States, s) {
			return fmt.Errorf("unknown state %q (want one of %s)", s, strings.Join(admin.States, ", "))
		}
		if !slices.Contains(*f.states, s) {
			*f.states = append(*f.states, s)
		}
	}
	return nil
}

// checkedFlag is a string flag whose value is checked when it is set, so
// that a bad one is a usage error: --from and --to (an address or
// @domain), --batch, --category.
type checkedFlag struct {
	p     *string
	typ   string
	check func(v string) error
}

func (f checkedFlag) Type() string { return f.typ }

func (f checkedFlag) String() string {
	if f.p == nil {
		return ""
	}
	return *f.p
}

func (f checkedFlag) Set(v string) error {
	if err := f.check(v); err != nil {
		return err
	}
	*f.p = v
	return nil
}

func patternFlag(p *string) checkedFlag {
	return checkedFlag{p, "address", func(v string) error {
		if !strings.Contains(v, "@") || strings.ContainsAny(v, " \t\r\n") {
			return fmt.Errorf("want an address (name@example.com) or a domain (@example.com), got %q", v)
		}
		return nil
	}}
}

func batchFlag(p *string) checkedFlag {
	return checkedFlag{p, "id", func(v string) error {
		if !names.BatchID(v) {
			return fmt.Errorf("want 1 to %d letters, digits, '.', '_' or '-', got %q", names.MaxBatchID, v)
		}
		return nil
	}}
}

func categoryFlag(p *string) checkedFlag {
	return checkedFlag{p, "name", func(v string) error {
		if !names.Category(v) {
			return fmt.Errorf("want 1 to %d bytes of printable text, got %q", names.MaxCategory, v)
		}
		return nil
	}}
}

// durationFlag is an optional duration flag: it stays nil unless given, so
// "not given" and "0s" differ. A bad or negative value is a flag error,
// hence a usage error.
type durationFlag struct{ d **time.Duration }

func (f durationFlag) Type() string { return "duration" }

func (f durationFlag) String() string {
	if f.d == nil || *f.d == nil {
		return ""
	}
	return (*f.d).String()
}

func (f durationFlag) Set(s string) error {
	d, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("want a duration such as 0s, 30s or 5m, got %q", s)
	}
	if d < 0 {
		return errors.New("must not be negative")
	}
	*f.d = &d
	return nil
}
