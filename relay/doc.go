// Package relay moves mail: the SMTP intake that authenticates applications
// and writes their messages into the spool, and the dispatcher that releases
// them at their release time and hands them to the upstream transport
// (package relay/upstream).
//
// The intake answers 250 only after spool.Accept has fsynced the message;
// when the spool cannot take it, it answers 451 4.3.0 so the client retries.
// Only *smtp.SMTPError values with plain text cross the SMTP boundary:
// internal errors go to the log. The messages being received hold no more
// memory, all sessions together, than IntakeConfig.MaxInflightBytes (see
// budget.go); past it they get 452 4.3.1. A message is spooled only with
// CRLF line ends or bare LFs (sent upstream as CRLF): a bare CR gets 554
// 5.6.0, as it is how SMTP smuggling works (see crlf.go).
//
// Other intakes (the HTTP Mail Send API, relay/mailapi) enter mail the same
// way, through Intake.Submit, and apply a credential's rules with the same
// code, exported in rules.go: Login (throttle and login cache), TakeRate,
// CheckSender, CheckMessage, the connection limits and the memory budget.
// relay itself knows nothing of HTTP.
//
// The runaway brake (brake.go) watches every message on its way into the
// spool, in Submit, whatever intake brought it: a credential that loops
// (one recipient, the same Subject and body, more than BrakeConfig
// Duplicates times in 10 minutes) or floods (more than Rate messages in
// 60 seconds, announced batches aside) is braked in the transaction that
// accepts the message that tripped it. Its memory is bounded per credential
// by Rate+1 times and 8,192 (recipient, content) pairs of at most
// Duplicates+1 times each, and never by more than what the credential sent
// in the last 10 minutes; idle credentials are forgotten (see brake.go for
// why eviction cannot hide a loop at the defaults).
//
// The dispatcher owns every delivery goroutine: at most Concurrency run at
// once, and Run returns only after all of them have finished. A goroutine
// is a slot: the transaction that records its attempt's outcome claims its
// next due message (spool.FinishAndClaim), so that a delivered message costs
// one commit, and the loop claims only for slots that came free. Each attempt
// follows the message's route (route.go): its credential's upstream or the
// global one, then, for recipients the primary deferred without taking the
// message, the fallback, under the same cancellable context, so that a drop
// cuts whichever transfer runs. A delivery
// has two more steps of its own around the transfer: signing (sign.go,
// DKIM) just before the transport gets the message, so that the header is
// final and a drop still cuts the transfer before its dot; and, when the
// attempt fails the message for good, the bounce (bounce.go, dsn.go): an
// RFC 3464 report that the spool accepts in the transaction recording the
// failure, never for a null sender, so never for a bounce.
package relay
