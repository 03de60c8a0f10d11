package spool

import "fmt"

// State is where a message is in its life. The words are the contract's.
type State uint8

const (
	Waiting   State = iota + 1 // inside its hold window
	Held                       // held by an operator or a pause; the clock never releases it
	Queued                     // due, waiting for a delivery slot
	Sending                    // a delivery attempt is in progress
	Deferred                   // the last attempt failed temporarily; retried later
	Delivered                  // every recipient accepted by the upstream
	Failed                     // permanent failure, or retries exhausted
	Dropped                    // removed by an operator; never sent
	// Unsure: an operator dropped it, but an attempt that a crash cut
	// short may have reached the upstream. It is never sent again, and
	// never reported as dropped: the mail may have gone out.
	Unsure
)

// States lists every state in life order.
var States = []State{Waiting, Held, Queued, Sending, Deferred, Delivered, Failed, Dropped, Unsure}

var stateNames = [...]string{"", "waiting", "held", "queued", "sending", "deferred", "delivered", "failed", "dropped",
	"maybe_delivered"}

func (s State) String() string {
	if int(s) < len(stateNames) && s > 0 {
		return stateNames[s]
	}
	return fmt.Sprintf("state(%d)", uint8(s))
}

// Finished reports whether the message is done with: it keeps its record
// for the retention period, but no body.
func (s State) Finished() bool { return s >= Delivered && s <= Unsure }

// ParseState parses a state's name.
func ParseState(name string) (State, error) {
	for _, s := range States {
		if s.String() == name {
			return s, nil
		}
	}
	return 0, fmt.Errorf("unknown state %q (want one of waiting, held, queued, sending, deferred, delivered, failed, dropped, maybe_delivered)", name)
}

func (s State) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

func (s *State) UnmarshalText(b []byte) error {
	v, err := ParseState(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}
