package admin

import "time"

// Batch statuses, as GET /v1/batches reports them. SendGrid's endpoints
// (/v3) use SendGrid's words instead: "pause" and "cancel".
const (
	BatchActive    = "active"    // its messages go out as scheduled
	BatchPaused    = "paused"    // its messages, present and future, are held
	BatchCancelled = "cancelled" // its messages, present and future, are dropped
)

// Batch is a group of messages that name the same batch ID in their
// X-SMTPAPI batch_id or X-Relay-Batch header.
type Batch struct {
	ID       string     `json:"batch_id"`
	Status   string     `json:"status"` // BatchActive, BatchPaused or BatchCancelled
	Created  time.Time  `json:"created"`
	Updated  *time.Time `json:"updated,omitempty"` // the last status change
	Actor    string     `json:"actor,omitempty"`   // who made it
	Reason   string     `json:"reason,omitempty"`
	Messages int        `json:"messages"` // messages on record that name it
}

// BatchList is GET /v1/batches.
type BatchList struct {
	Batches []Batch `json:"batches"`
}

// BatchDetails is GET /v1/batches/{id}: the batch and how many of its
// messages are in each state.
type BatchDetails struct {
	Batch
	Counts map[string]int `json:"counts"` // every state in States, zeros included
}

// CreateBatchRequest is the optional body of POST /v1/batches.
type CreateBatchRequest struct {
	ID string `json:"batch_id,omitempty"` // "": relayd makes one up
}

// BatchChangeRequest is the optional body of POST
// /v1/batches/{id}/{pause,resume,cancel}.
type BatchChangeRequest struct {
	Reason string `json:"reason,omitempty"`
	DryRun bool   `json:"dry_run,omitempty"` // cancel only: report what would be dropped
}

// BatchChanged answers a batch's pause, resume or cancel. Held counts
// what a pause held, Released what a resume put back on schedule; a
// cancel answers with Dropped, the same truthful counts as a drop.
type BatchChanged struct {
	Batch    Batch         `json:"batch"`
	Held     int           `json:"held"`
	Released int           `json:"released"`
	Dropped  *ActionResult `json:"dropped,omitempty"`
}
