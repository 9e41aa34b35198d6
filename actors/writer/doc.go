// Package writer is the batching reading writer (SPEC §5): one actor per
// member that gathers the readings device actors fetched and stores them in
// batches, so that ten thousand devices cost a few large writes a second
// instead of ten thousand small ones.
//
// # Messages
//
// Accepted:
//
//	*Write   (request)  readings to store → *Accepted, or *Busy when the
//	                    queue is full (the sender keeps its readings and
//	                    sends them again after Busy.RetryAfter: the writer
//	                    pushes back instead of dropping)
//	*Flush   (request)  → *Flushed once everything queued before it is stored
//	                    (graceful shutdown and tests)
//	*GetStats (request) → *Stats
//
// Sent to a Write's ReportTo, once its readings are durable:
//
//	*Stored  {Node, LastEntryID}  the newest stored entry of the node, the
//	                              point a device resumes from
//
// # Behaviour
//
// A batch is written when BatchSize rows are queued or FlushInterval after
// the first queued row, whichever comes first. Writes run on a goroutine the
// actor owns, one at a time, so Receive never blocks on the database. A
// failed write is retried with exponential backoff (RetryMin…RetryMax) for
// as long as it takes — the queue holds at most MaxQueued rows, and beyond
// that senders are told to wait. On stop, whatever is queued is flushed
// within StopTimeout. The store must skip readings it already holds
// (unique per node and entry), which makes retries and re-fetches safe.
package writer
