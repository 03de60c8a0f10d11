// Package webhook delivers the relay's events to HTTP endpoints: it owns
// the wire formats (Standard Webhooks and SendGrid's Event Webhook), their
// signatures, batching, retries and give-ups. It imports no other package
// of this project except internal/clock; the spool's outbox reaches it
// through the Outbox interface, and the spool's event producers use Event
// and MessageData.
//
// Design: one Manager owns one sender goroutine per enabled Endpoint. A
// sender keeps its endpoint's cursor (the Seq of the last event it
// acknowledged or gave up) and loops:
//
//  1. read the events after its cursor (Outbox.Events), keep those the
//     endpoint matches, at most 100, and send what is there now rather than
//     wait to fill a batch; events it does not match (its filter, or a type
//     the SendGrid format has no word for) are passed over and the cursor
//     moves past them all the same. Events that can never be sent are given
//     up (Outbox.GiveUp) before the events after them: a gap after the
//     cursor (the outbox expired those events unsent), or an event the
//     format cannot encode (data that does not decode; in the SendGrid
//     format, a message event without recipients), which ends the batch
//     before it and is given up alone;
//  2. POST the batch, signed for this attempt, until the receiver answers
//     2xx (Outbox.Ack), 410 (Outbox.Disable, the sender stops), or the
//     oldest event of the batch is older than MaxAge (Outbox.GiveUp for the
//     expired events, with a log line and a metric). Every other answer, a
//     redirect (never followed), a per-attempt timeout or a network error
//     is retried after an exponential backoff with full jitter from
//     MinBackoff to MaxBackoff; the last attempt is made when MaxAge runs
//     out;
//  3. when nothing is left, wait for Notify (which the spool calls after
//     each commit that wrote events, and which never blocks) or for a slow
//     poll, the fallback for a lost wake-up.
//
// Invariants:
//   - At least once: the cursor passes an event only after a 2xx for a body
//     that held it, after the endpoint's filter or format turned it down,
//     or through GiveUp, which comes with a log line, a metric and the
//     outbox's audit entry. The persisted cursor may lag (a failed Ack is
//     logged, not retried), so a restart can send an event again;
//     receivers deduplicate by the event's id.
//   - A batch settles in one step of its Status, taken last: whoever reads
//     the new cursor reads the failures cleared with it, and the outbox and
//     the metrics already updated.
//   - A retried body is byte for byte the same, with the same webhook-id,
//     derived from the endpoint name and the first and last Seq of the
//     batch, so that a batch rebuilt after a restart carries the same id
//     too. Only webhook-timestamp and the signature change per attempt.
//   - Senders share nothing but the http.Client's connection pool: a slow
//     or hanging endpoint delays neither another endpoint nor the caller of
//     Notify. Each attempt is bounded by Timeout and each response body
//     read by 64 KiB.
//   - Remove, Set and the end of Run return only once the senders they stop
//     have stopped, so no POST to a removed endpoint starts afterwards.
package webhook
