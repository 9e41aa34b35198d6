// Package device is the device actor (SPEC §2, §4): one per node with a
// ThingSpeak channel, the single owner of that channel's live state. It
// polls the channel on its own schedule within the budget its parent (the
// limiter) grants, hands new entries to the writer, keeps the latest
// reading for live-data requests, runs the channel's circuit breaker,
// decides the node's Online/Offline status and keeps its alert state.
//
// # Messages
//
// Accepted:
//
//	*msg.GetLatest (request) → *msg.Latest, from the cache: never an upstream call
//	*msg.Subscribe (request) → *msg.Subscribed{current reading}, sent with
//	               the device as its sender; the subscriber then gets
//	               *msg.TelemetryUpdate for every new reading,
//	               *msg.StatusUpdate for every status change, *msg.AlertRaised
//	               for every alert change (sent by the Notifier to
//	               Notice.Followers) and *msg.SubscriptionEnded when the device
//	               stops (or restarts). A subscriber on another member is
//	               watched: when it stops (or its member dies) it is dropped.
//	               A local one is not: it must unsubscribe when it stops (a
//	               session does); one gone without that is dropped by the
//	               check of the local subscribers against the process
//	               registry, on the first tick Config.SubscriberCheck
//	               (default a minute) after the previous check.
//	*msg.Unsubscribe
//	*GetStats   (request)  → *Stats
//	*writer.Stored         the writer's report: entries up to LastEntryID are durable
//	*msg.ReloadAlerts      the node's rules or maintenance windows changed: read them again
//
// Sent to the parent (which must be the limiter, or anything answering
// PermitRequest the same way):
//
//	*PermitRequest (request, before every fetch) → *Permit: fetch now, or
//	                 *PermitDenied{RetryAfter}: ask again then, no call meanwhile
//	*FetchOutcome  after every fetch: ok, 429, 5xx/timeout, requests made
//	*BreakerChanged whenever the breaker changes state
//
// Sent to the writer: *writer.Write{Readings, ReportTo: self} (request) →
// *writer.Accepted, or *writer.Busy{RetryAfter}: the rows stay pending and
// are sent again then; they are never dropped, and no fetch starts while
// rows are pending.
//
// # Behaviour
//
// Schedule: every Config.Interval (the node's, or the default of 60 s); the
// first poll falls at a phase that is a hash of the node id, so N devices
// spread evenly over the interval. Ticks are time.AfterFunc timers sending
// generation-numbered messages to the actor (protoactor's ReceiveTimeout
// races, #1139); a tick that finds the previous poll unfinished is skipped.
//
// Fetch: Fetcher.After(newest entry handed to the writer, expected), where
// expected is the number of entries that arrived between the previous two
// fetches plus a margin. It runs on a goroutine the actor owns, with a
// context it cancels on stop; the read key is opened with Keys right
// before the call and never logged. After a restart the device resumes
// from the node's LastEntryID (the store's resume point) and the store
// skips anything it already holds, so each entry is stored exactly once.
// A panic of the fetcher is re-raised inside Receive so that the
// supervisor sees the crash.
//
// Breaker: BreakerThreshold consecutive failures open it; for
// BreakerCooldown no upstream call is made; then one half-open probe,
// whose success closes it (and backfills what was missed, up to
// ThingSpeak's 8000 entries). A 429 is the upstream's pushback, handled by
// the limiter's AIMD: it does not count as a failure.
//
// Status: Online after a successful fetch with fresh data (an entry newer
// than OfflineAfterIntervals intervals); Offline after
// OfflineAfterFailures consecutive failures or no new entry for
// OfflineAfterIntervals intervals. That is the device's connectivity; the
// node shows Maintenance during a maintenance window, else Offline, else
// Alert while a critical alert is open, else Online. Changes of what it
// shows are persisted through Store.SetNodeStatus off the mailbox (one call
// at a time; a refused one is retried on the next tick) and sent to the
// subscribers.
//
// Alerts (with Config.Alerts): the warm-up also reads the node's enabled
// rules, open alerts, maintenance windows not over yet and last alert
// change, and builds the node's alerting.Engine from them; the first poll
// waits for it. Every new entry is observed in order (entries taken until
// the last alert change were judged by a previous incarnation: they only
// teach the anomaly windows), and every connectivity change is too. The
// engine's Actions are queued and stored through AlertStore off the
// mailbox, in order, one batch at a time; each stored change, and each
// change of connectivity (offline, and back from offline), is then handed
// to Config.Notify on the same goroutine. When storing fails the device
// reads the open alerts and reseeds the engine. Rules and windows are read
// again on *msg.ReloadAlerts and every 5 minutes (which also picks up
// alerts users resolved); a timer fires at each window's start and end.
//
// Cache: on start the device reads the store's latest reading
// (Store.LatestReading, off the mailbox) before its first poll, then keeps
// the newest fetched entry with the node's field mapping applied.
//
// # Concurrency and lifetime
//
// Receive never blocks on I/O, except that on stop (and on a supervisor
// restart) it cancels its goroutines and waits for them to return, so a
// stopped device leaves nothing running. Its timers are stopped then too.
// Whoever spawns a device stops it; the limiter does so for its children.
package device
