package relay

import (
	"github.com/emersion/go-smtp"

	"github.com/holdrelay/relay/relay/upstream"
)

// errBareCR refuses a message with a CR that is not followed by LF. RFC
// 5321 section 2.3.8 allows CR and LF in a message only together, as a
// line end, and a bare CR is how SMTP smuggling works: an upstream that
// takes "\r.\r" for a line with a dot on it ends the data there, and takes
// what follows (MAIL FROM:<anyone>...) for a second transaction that no
// allowed-sender rule, spool, hold or audit log has seen. Bare LF, which
// many applications send for a line end, is accepted and sent on as CRLF;
// a bare CR has no such innocent use, so it is refused rather than guessed
// at.
var errBareCR = &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0},
	Message: "Message contains a bare CR; lines must end in CRLF (RFC 5321 2.3.8)"}

// hasBareCR is the upstream's check, so that what the intake refuses and
// what the upstream rewrites can never disagree.
var hasBareCR = upstream.HasBareCR
