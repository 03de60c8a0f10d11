package relay

import (
	"github.com/holdrelay/relay/spool"
)

// Signer adds signatures to a message just before it is sent: package
// dkim's Keyring. It returns the message to send and how many signatures
// it added.
type Signer interface {
	Sign(msg []byte) ([]byte, int, error)
}

// sign is the signing step of a delivery: the message as the transport
// gets it. It runs at delivery time, so that the header is final. A
// message that cannot be signed goes out unsigned, with an error logged:
// a broken header is the application's to fix, and holding its mail
// back for it would surprise more than an unsigned message.
func (d *Dispatcher) sign(c spool.Claimed) []byte {
	if d.cfg.Signer == nil {
		return c.Body
	}
	out, n, err := d.cfg.Signer.Sign(c.Body)
	if err != nil {
		d.log.Error("dkim signing failed; sending unsigned", "id", c.ID, "err", err)
		return c.Body
	}
	d.cfg.Metrics.signed(n)
	return out
}
