package relay

import (
	"errors"

	"github.com/emersion/go-smtp"

	"github.com/holdrelay/relay/relay/smtpapi"
	"github.com/holdrelay/relay/spool"
)

// scheduling reads and removes the message's X-SMTPAPI and X-Relay-*
// headers. full starts with our trace header (trace bytes); the result
// keeps it. A malformed header refuses the message with 554 5.6.0 and
// says what is wrong: sending it at a guessed time would be worse.
func (in *Intake) scheduling(full []byte, trace int) ([]byte, smtpapi.Options, error) {
	opts, msg, err := smtpapi.Extract(full[trace:], in.clock.Now())
	if err != nil {
		var bad *smtpapi.Error
		if errors.As(err, &bad) {
			return nil, opts, &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: bad.Msg}
		}
		return nil, opts, errSpool
	}
	if len(msg) == len(full)-trace {
		return full, opts, nil // nothing removed: keep the buffer as it is
	}
	out := make([]byte, 0, trace+len(msg))
	out = append(out, full[:trace]...)
	return append(out, msg...), opts, nil
}

// metaAttrs are the log attributes of a message's scheduling metadata,
// so that log-based event pipelines can follow a batch or unique_args as
// SendGrid's event webhook does.
func metaAttrs(m *spool.Message) []any {
	var a []any
	if m.Batch != "" {
		a = append(a, "batch", m.Batch)
	}
	if len(m.Categories) > 0 {
		a = append(a, "categories", m.Categories)
	}
	if len(m.UniqueArgs) > 0 {
		a = append(a, "unique_args", m.UniqueArgs)
	}
	if !m.SendAt.IsZero() {
		a = append(a, "send_at", m.SendAt)
	}
	return a
}
