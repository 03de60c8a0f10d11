// Package spool is the relay's durable message store: it holds every
// accepted message from the moment the client gets its 250 until its
// record expires. It is the only code that knows the store's buckets, and
// the one place where the rules of states, precedence, selectors and
// events are written.
//
// # Storage
//
// The buckets live in a kv driver (package kv: ordered buckets, snapshot
// reads, one writer at a time, durable commits): spool/bolt, one bbolt
// file, the default; or spool/pg, PostgreSQL, shared by every relayd node
// started on the same database. Every rule is Go in this package, over kv,
// and is never written again in SQL: the two drivers differ in where the
// bytes go, not in what a drop or a claim does. The buckets below are
// bbolt buckets in one case and tables (kv_<bucket>) in the other; what is
// said of bbolt's pages and fsyncs is bbolt's.
//
// # A shared spool
//
// On PostgreSQL each relayd is a node (kv.Cluster). A write transaction of
// any node is serialised with every other node's by one lock in the
// database, so the single-writer reasoning of this package holds across
// the cluster unchanged. What a cluster adds:
//
//	owners  ID  -> node name 0x00 boot: who runs the attempt of a sending
//	               message (written by the transition into sending, removed
//	               by the one out of it; empty on a spool of one node)
//
// A drop or hold of a message another node is sending records the Intent
// as on one node and notifies that node (a "cut" notice, one per node per
// commit); the node aborts its transfer, and Finish carries the Intent out
// there. The operator's node waits until the message is no longer sending
// and reports what happened, as for its own attempts: a transfer past its
// dot is reported delivered (or maybe delivered), never dropped. A node
// that misses the notice finds the Intent by its own scan every 5 s.
//
// A node whose heartbeats stop for its lease is dead: another node queues
// its sending messages again as interrupted (a later drop reports them
// maybe_delivered), writes a "takeover" audit entry, and marks that boot
// taken over. A node restarting under its name queues its own at once.
// Finish refuses the outcome of an attempt that was taken over (the
// message is no longer sending, or is on a later attempt), so a node
// that only seemed dead cannot overwrite the outcome of the takeover.
//
// # Buckets and keys
//
// All IDs are 8-byte big-endian uint64s and all times are 8-byte big-endian
// unix nanoseconds, so that bbolt's byte order is time order.
//
//	meta    "version"      -> uint64 format version
//	        "lastid"       -> uint64, the highest ID ever issued
//	        "n/<state>"    -> uint64, number of messages in that state
//	        "lastseq"      -> uint64, the seq of the newest history event
//	msgs    ID             -> Message record (everything but the body), in
//	                          the binary form of codec.go: a format byte,
//	                          then uvarints, varints, bytes and
//	                          length-prefixed strings; not JSON. Its
//	                          history section holds the message's
//	                          history, each event with its seq
//	bodies  ID             -> the raw message, as received
//	        0xff ID        -> the main headers (From, To, Subject, ...),
//	                          for support, in the binary form of codec.go;
//	                          kept when the body goes. They sort after
//	                          every body (see headersKey)
//	headers ID             -> JSON main headers, in a file written before
//	                          format 3 (since, they are in bodies)
//	states  state(1) ID    -> empty: which messages are in which state
//	due     time ID        -> empty: waiting and deferred messages, by release time
//	ready   time ID        -> empty: queued messages, oldest release first
//	done    time ID        -> empty: finished messages, by finish time
//	bycred  name 0x00 ID   -> empty: every message by credential
//	events  ID seq         -> JSON Event: history events written before
//	                          format 3 (format 2 put a bulk action's in
//	                          the record already). Since, every event
//	                          goes into the record, with a seq from
//	                          lastseq, which starts above this bucket's
//	                          sequence; the history merges both by seq
//	pauses  name | "*"     -> JSON Pause, per credential or global ("*")
//	audit   seq            -> JSON AuditEntry: every administrative change
//	frozen  name           -> JSON: credentials disabled, whose mail is held
//	creds   name           -> opaque credential record (owned by package auth)
//	batches batch ID       -> JSON Batch: its status (pause, cancel) and who set it,
//	                          and whether it was announced (created before
//	                          its first message: exempt from the brake's rate)
//	bybatch batch 0x00 ID  -> empty: messages by batch
//	bycat   category 0x00 ID -> empty: messages by category (one per category)
//	outbox  seq            -> event: id, type, endpoint, time (and a message
//	                          event's message ID) in the binary form of
//	                          codec.go, then the data's JSON; seq is the
//	                          bucket's sequence, never reused. A run of
//	                          message events that differ in their message
//	                          only (a bulk action's) is one record under
//	                          its first seq, covering one seq per event
//	                          (see outboxRun)
//	webhooks name          -> JSON Webhook: where to deliver, its signing key
//	                          and its cursor, the seq it is done with
//	meta    "lastevent"    -> uint64, the number behind the newest event ID
//	dkim    domain 0x00 selector -> JSON DKIMKey: a signing key, its
//	                          private half opaque (package dkim reads it)
//	brakes  name           -> JSON Brake: a credential the runaway brake
//	                          stopped, its trigger, counts and sample
//	tokens  name           -> JSON AdminToken: a runtime admin token, its
//	                          secret as a SHA-256 only
//	signin  hex(sha256(code)) -> JSON SignInLink: a one-time console link,
//	                          kept a day past its expiry so reuse is named
//
// # Invariants
//
// Check verifies all of these; the tests run it after every operation.
//
//   - Every message has exactly one states entry, matching its record.
//   - The n/<state> counters equal the number of states entries per state.
//   - waiting and deferred messages have exactly one due entry, at their
//     Release time; queued messages exactly one ready entry, at theirs.
//     No other message appears in due or ready.
//   - Pending messages (not delivered, failed, dropped or
//     maybe_delivered) have a body; finished ones have none and exactly
//     one done entry, at Finished.
//   - Every message has exactly one bycred entry, one bybatch entry if
//     it names a batch (which is registered), and one bycat entry per
//     category; bodies, headers and events exist only for messages that
//     have a record.
//   - The seqs of a record's history increase and none is beyond
//     lastseq (or the events bucket's sequence, in a file raised from an
//     older format). The bodies bucket holds bodies and main headers
//     only; headers there are not in the headers bucket too.
//   - A message is held exactly when it names its holder (operator,
//     pause, freeze or brake), and only a sending message carries an
//     Intent.
//   - Every brake record is under its credential's name and names its
//     trigger (loop or rate), unless it is unreadable.
//   - No ID is greater than lastid.
//   - Every outbox key, and the last seq of a run, is at most the
//     outbox's sequence, runs do not overlap, and every record decodes;
//     no webhook's cursor is beyond that sequence.
//
// # IDs
//
// An ID is max(lastid+1, received-milliseconds<<16): unique and increasing
// within a file, and never reused even if the file is restored from an old
// backup, as long as the clock does not run backwards by more than the
// backup's age. Its text form is 13 characters of Crockford base32, which
// sort like the numbers they encode.
//
// # Writes
//
// Every write goes through one goroutine that commits whatever is queued in
// a single bbolt transaction (group commit, no timer), so that 20 concurrent
// SMTP sessions share one fsync instead of queueing for twenty. bbolt's own
// DB.Batch waits 10 ms per commit, which measured slower here. A write
// returns only after its transaction is fsynced.
//
// A commit's first fdatasync costs more the more separate runs of pages
// it writes (about 27 µs a run on this project's disk), and each bucket
// a write changes is a leaf and a branch page at least. So an accept
// writes its history event into the record and its main headers into
// the bodies bucket, which it writes anyway, rather than into buckets of
// their own (format 3): a lone accept's commit went from about 20.4
// runs to 15.5.
//
// # Operators
//
// Bulk actions (Drop, Hold, Flush, Release) take a Selector. They collect
// candidate IDs from the cheapest index that covers the selector, then
// judge each record afresh in bounded write transactions. A message being
// sent cannot be changed under the dispatcher: a drop or hold records an
// Intent that Finish carries out when the attempt ends, so that a drop is
// reported as dropped only if the upstream did not get the message. The
// Intent names the operator and the reason, and Finish writes those in
// the history, not the dispatcher that cut the attempt short.
//
// Every administrative change writes its audit entry in its own
// transaction (Event.Audit, PauseRecorded, AuditCredential for auth's
// records): a change is never on disk without its entry, whatever
// moment a kill -9 picks. A change that spans several transactions (a
// bulk action in chunks, a drop that waits for deliveries in flight)
// writes the entry in the first and rewrites it in the others; the
// caller rewrites it once more when it knows how the change ended.
//
// A pause is a record that Accept and Claim read in their own
// transactions: no message of a paused credential is claimed, and new
// ones arrive held. A batch's status works the same way: a paused batch
// is a pause, and a cancelled batch's new messages are dropped in the
// transaction that accepts them. A pause, batch or freeze record that
// cannot be decoded fails closed: it stops the mail it may cover (an
// unreadable batch counts as paused) until an operator writes it again,
// and Unreadable names it for the status.
//
// A freeze (a disabled credential) holds its messages as HeldByFreeze,
// so that enabling with a release lets go of those only, and never of a
// message an operator held on purpose.
//
// A brake (the runaway brake, see Brake) is the same shape, decided by
// the intake rather than an operator: the Incoming that trips it carries
// the trip, and the transaction that accepts that message writes the
// brake record, holds every pending message of the credential
// (HeldByBrake; those being sent get an Intent, which Finish carries
// out), writes brake.tripped and its audit entry, and then inserts the
// message, held like every later one (holdOnArrival). So the tripping
// message is held from its first instant, and a kill -9 finds either
// all of the trip or none of it. Claim does not look at brakes: every
// message of a braked credential is held, unless an operator released
// or flushed it on purpose, which the brake then respects. An
// unreadable brake record keeps the credential braked. ReleaseBrake
// removes the record and lets go of the HeldByBrake messages only.
//
// # Events
//
// Every change a webhook or `relayctl events` may report writes its event
// to the outbox in the transaction that makes the change, so that an event
// exists exactly when its change does. Message events come from the one
// place states change (txn.transition and txn.insert): the call site says
// which kind of change it is when the new state cannot (a release and a
// flush both queue a message), and the dispatcher's own steps (promoting
// a due message to queued, claiming it for an attempt, requeueing after a
// crash) are not events. Pause, batch and webhook events are written by
// their records' writes; credential events by the write of auth's record,
// with the type the caller staged with its audit entry (AuditCredential):
// auth's records are opaque here, so only the caller knows which change
// it is.
//
// A message event stores message_id and its change's fields (attempt,
// response, actor, ...); Events adds the message's own fields (from,
// recipients, subject, ...), which never change after the accept, from
// its record. An event read after its message's record expired
// (--retention shorter than --webhook-max-age) has message_id and its
// change's fields only. A bulk action's events differ in message_id
// only: a transaction's run of them is one record, its change's fields
// once and the message IDs as varint deltas, a few bytes per event.
//
// Event IDs are issued like message IDs (evt_ and 13 characters), so a
// spool restored from a backup does not reissue one a receiver has seen;
// Seq orders the outbox and is what webhook cursors count. A commit that
// wrote events closes the EventsChanged channel.
//
// ExpireEvents deletes, oldest first, the events every enabled webhook is
// done with and those older than the cutoff (--webhook-max-age), but
// always keeps the newest KeepEvents: with no webhook at all, the outbox
// is those 10,000 events, a few megabytes.
//
// # Bounces
//
// Finish accepts a failed message's delivery status notification
// (Attempt.Bounce) in the transaction that records the failure, and only
// if the message does end failed (not dropped by an intent) and its
// sender is not null. The two records name each other (Message.DSN,
// Message.BounceOf), message.failed carries dsn_message_id, and the DSN
// is queued at once, under the failed message's credential.
//
// # States
//
// A message enters as waiting (or queued, with a zero hold window). The
// dispatcher claims due and queued messages (sending) and records the
// outcome: delivered, failed, or deferred until a retry time. The
// transaction that records an outcome may claim the next message for the
// same delivery slot (FinishAndClaim); a claim tells the dispatcher of
// each message before its commit (ClaimHook). At Open,
// messages left sending by a crash go back to queued, marked Interrupted:
// delivery is at least once, never lost.
//
// A drop of an Interrupted message (or one asked for while the attempt
// that a crash then cut short was running) ends in maybe_delivered
// (Unsure), not dropped: the upstream may have received it in full. It
// is finished like dropped, never sent again, and reported as
// maybe_delivered by the drop, the counts and the message's record.
package spool
