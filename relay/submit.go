package relay

import (
	"github.com/holdrelay/relay/auth"
	"github.com/holdrelay/relay/relay/smtpapi"
	"github.com/holdrelay/relay/spool"
)

// A Submission is one message that an intake (SMTP, or the HTTP mail API)
// has received and checked against its credential's rules, ready for the
// spool.
type Submission struct {
	// Cred is the credential that sent it; nil for a trusted-network
	// client that did not log in.
	Cred *auth.Credential
	From string
	To   []string
	// Message is the whole message; its first Trace bytes are relay's own
	// Received header, which header parsing skips.
	Message []byte
	Trace   int
	Options smtpapi.Options
	// Via names the intake in the message's history: "smtp" when empty,
	// "http" for the Mail Send API.
	Via string
}

// Submit writes the submissions to the spool in one transaction, all or
// none, wakes the dispatcher and logs each. It is the one way mail enters
// the spool, whatever protocol brought it.
func (in *Intake) Submit(subs []Submission) ([]spool.Message, error) {
	now := in.clock.Now()
	ins := make([]spool.Incoming, len(subs))
	bodies := make([][]byte, len(subs))
	for i, s := range subs {
		h := parseHeader(s.Message[s.Trace:])
		release := now.Add(in.holdFor(s.Cred))
		if s.Options.SendAt.After(release) {
			release = s.Options.SendAt
		}
		name := ""
		if s.Cred != nil {
			name = s.Cred.Name
		}
		ins[i] = spool.Incoming{
			Credential: name,
			From:       s.From,
			To:         s.To,
			Subject:    h.subject,
			MessageID:  h.messageID,
			Received:   now,
			Release:    release,
			Headers:    h.main,
			Batch:      s.Options.Batch,
			Categories: s.Options.Categories,
			UniqueArgs: s.Options.UniqueArgs,
			SendAt:     s.Options.SendAt,
			Actor:      s.Via,
		}
		bodies[i] = s.Message
	}
	trips := in.watch(subs, ins)
	acc, err := in.spool.AcceptAll(ins, bodies)
	if err != nil {
		for _, cred := range trips {
			in.brake.untrip(cred)
		}
		return nil, err
	}
	if acc.Tripped != nil {
		in.tripped(acc)
	}
	ms := acc.Messages
	for i := range ms {
		m := &ms[i]
		in.notify(m.Release)
		in.log.Info("accepted", append([]any{"id", m.ID, "credential", m.Credential, "from", m.From,
			"rcpts", len(m.Rcpts), "size", m.Size, "release", m.Release, "state", m.State}, metaAttrs(m)...)...)
	}
	return ms, nil
}
