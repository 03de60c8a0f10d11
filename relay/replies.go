package relay

import (
	"fmt"
	"io"

	"github.com/emersion/go-smtp"
)

// The replies this relay gives beyond go-smtp's own. go-smtp's
// ErrAuthRequired is a 502; RFC 4954 section 6 wants 530 5.7.0.
var (
	errAuthRequired = &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0},
		Message: "Authentication required"}
	errEncryptionRequired = &smtp.SMTPError{Code: 538, EnhancedCode: smtp.EnhancedCode{5, 7, 11},
		Message: "Encryption required for requested authentication mechanism"}
	errSpool = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0},
		Message: "Temporary failure storing the message, try again later"}
	errBadSender = &smtp.SMTPError{Code: 553, EnhancedCode: smtp.EnhancedCode{5, 1, 7},
		Message: "Bad sender address syntax"}
	errBadRcpt = &smtp.SMTPError{Code: 553, EnhancedCode: smtp.EnhancedCode{5, 1, 3},
		Message: "Bad recipient address syntax"}
	errLineTooLong = &smtp.SMTPError{Code: 500, EnhancedCode: smtp.EnhancedCode{5, 5, 2},
		Message: "Line too long"}
	// A DATA transfer cut by --smtp-timeout or the session's lifetime:
	// nothing was stored, and the connection is closing.
	errDataTimeout = &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 4, 2},
		Message: "Timeout reading the message, closing connection"}
	// A session past --max-session-duration, however busy.
	errSessionTooLong = &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 4, 2},
		Message: "Session too long, closing connection"}
	// RFC 6531 section 3.5: until the intake speaks SMTPUTF8, non-ASCII
	// addresses are refused at once rather than retried upstream for days.
	errNonASCII = &smtp.SMTPError{Code: 553, EnhancedCode: smtp.EnhancedCode{5, 6, 7},
		Message: "Non-ASCII addresses are not supported"}
)

var (
	errThrottled = &smtp.SMTPError{Code: 454, EnhancedCode: smtp.EnhancedCode{4, 7, 0},
		Message: "Too many failed logins; try again later"}
	errLoginDead = &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0},
		Message: "Authentication no longer valid: the password was changed or the credential disabled"}
	errSenderNotAllowed = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 1},
		Message: "Sender address not allowed for this credential"}
	errFromNotAllowed = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 1},
		Message: "From: header address not allowed for this credential"}
	// 554 5.6.0, as for the other malformed headers the intake refuses.
	errManyFroms = &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0},
		Message: "More than one From: header field (RFC 5322 section 3.6 allows one)"}
)

// writeReply writes e as a reply line, for the replies written outside
// go-smtp: before closing a connection it would otherwise go on reading.
func writeReply(w io.Writer, e *smtp.SMTPError) error {
	_, err := fmt.Fprintf(w, "%d %d.%d.%d %s\r\n", e.Code, e.EnhancedCode[0], e.EnhancedCode[1], e.EnhancedCode[2], e.Message)
	return err
}

func rateLimited(perMinute int) *smtp.SMTPError {
	return &smtp.SMTPError{Code: 450, EnhancedCode: smtp.EnhancedCode{4, 7, 1},
		Message: fmt.Sprintf("Rate limit of %d messages per minute reached; try again later", perMinute)}
}

func queuedReply(id fmt.Stringer) *smtp.SMTPError {
	return &smtp.SMTPError{Code: 250, EnhancedCode: smtp.EnhancedCode{2, 0, 0},
		Message: "OK: queued as " + id.String()}
}
