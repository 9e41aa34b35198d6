// Package sim is a ThingSpeak-compatible read-API simulator (SPEC §3). Tests
// start it in-process, `evara sim` serves it, and benchmarks aim load at it,
// because ThingSpeak itself is not reachable from here.
//
// # What it owns
//
// A Simulator owns a fixed table of channels (built once in New and read-only
// afterwards), the fault configuration (replaced atomically by SetFaults or
// POST /_sim/faults), the signal overrides (replaced atomically by
// SetOverrides, AddOverride or /_sim/overrides) and the request counters
// behind Stats. It stores no entries: entry k of a channel is a closed-form
// function of (seed, channel, k), of its created_at and of the overrides in
// force, so memory stays constant for 10,000 channels, the HTTP feed and
// Entries agree exactly, and a test can recompute any entry.
//
// # Time and entries
//
// Each channel has one entry per Period, with a per-channel phase so that
// channels don't tick together. Entry History is the newest entry at Start
// (created within the Period up to Start) and entry k was created
// (k-History)·Period after it, truncated to whole seconds in UTC as ThingSpeak
// does. The last entry id at a moment is that of the newest entry created by
// then, never less than History. Every time comes from Options.Now, so tests
// drive the data with a fake clock.
// Entries keep coming during an outage, so a client can backfill after it.
//
// # Signals
//
//	kind      field1               field2                 field3          field4
//	tank      water level cm       temperature °C         TDS ppm
//	sump      water level cm       temperature °C         TDS ppm
//	borewell  depth below ground m pump on/off (1/0)      temperature °C
//	flow      flow rate L/min      cumulative volume L    pressure bar
//	quality   TDS ppm              pH                     turbidity NTU   temperature °C
//
// Tank and sump levels are a sawtooth: they fall with use, faster in the
// morning and evening (Hyderabad local time), and refill whenever a pump run
// starts; cycle lengths are hash-chosen. Levels stay within [0, Height].
// The flow meter's volume is the closed-form integral of its rate, so it never
// decreases. To exercise clients, field3 (TDS) of tank channels (KindTank
// only) is null in 1 of every 200 entries and the empty string "" in 1 of every
// 500, both hash-chosen; Entries reports those fields as not Valid. Unused
// fields are absent from the JSON entry objects.
//
// # HTTP API
//
//	GET    /channels/{id}/feeds.json?api_key=&results=&days=&minutes=&start=&end=
//	GET    /channels/{id}/feeds/last.json?api_key=
//	GET    /_sim/stats       request counters (Stats)
//	GET    /_sim/faults      the fault configuration in force
//	POST   /_sim/faults      replace it (ParseFaults JSON; 400 on bad input, 413 over 1 MiB)
//	GET    /_sim/overrides   the signal overrides in force
//	POST   /_sim/overrides   replace them (ParseOverrides JSON; 400 on bad input, 413 over 1 MiB)
//	DELETE /_sim/overrides   remove them all
//
// Every channel is private: a missing or wrong api_key (query parameter or
// THINGSPEAKAPIKEY header) gets HTTP 400 with the body -1, as on ThingSpeak.
// results is the maximum number of entries, the newest in the time range,
// capped at 8000 (0 also means 8000). minutes and days reach back from now;
// start and end ("YYYY-MM-DD HH:NN:SS" in UTC, or RFC 3339) bound the range
// inclusively. All given bounds apply together (the narrowest wins). With no
// parameter at all the feed holds the newest 100 entries; with a time range
// but no results, up to 8000. Other ThingSpeak parameters (timezone, round,
// average, …) are ignored.
//
// # Faults
//
// Faults can be set globally and per channel. The two layers act like two
// proxies in series: a channel's own faults apply in addition to the global
// ones, never instead of them. Outage windows of either layer answer 503 (with
// Retry-After until the window ends); both rate limits are enforced (global
// first: it counts all channels, a channel's limit only that channel) and
// answer 429 with Retry-After; each layer's error rate is drawn on its own
// (answer 500); latencies and jitters add up. 429 and 503 are answered at
// once, like a proxy in front of the API; the latency is served before a 500
// or a normal answer. Checks run in that order, before the api_key is looked
// at. Latency sleeps hold no lock and end early when the request is cancelled
// or the Server closes (the answer is then 503).
//
// # Overrides
//
// Tests drive a channel's signal where they need it (across an alert
// threshold, a spike, a dead sensor) with overrides. An Override sets one
// field (1..8) of one channel's entries whose created_at lies in [From,
// Until) to a number or to null, or shifts the field's own number by an
// offset (null, "" and unused fields stay as they are). A zero From reaches
// back to the first entry, a zero Until never ends, so an override also
// changes the entries created later; past entries in the window change as
// soon as it is in force, and change back when it is removed. A field the
// channel's kind does not use may be set too: it then appears in the entry
// objects (the channel object still names only the kind's fields). Where
// several overrides cover a field of an entry, the one added last wins:
// AddOverride adds a winner, and in a list the later element wins. A set
// number is served with as many decimals as it needs ("950", "7.25"); a
// shifted one keeps the field's decimals.
//
// GET, POST and DELETE /_sim/overrides read, replace and clear the list in
// the JSON form
//
//	{"overrides":[{"channel":2000001,"field":1,"value":950,"from":"-5s","until":"+30s"},
//	  {"channel":2000001,"field":3,"value":null,"from":"2026-03-01T10:00:00Z"},
//	  {"channel":2000002,"field":2,"offset":-1.5}]}
//
// where from and until are RFC 3339 times or durations relative to the
// simulator's clock (Options.Now) when the list is posted, either may be left
// out, and each override holds exactly one of value (a number or null) and
// offset. Every answer is the list then in force, with absolute times. A
// list with any invalid override (unknown channel, field outside 1..8, a
// value that is not a finite number, until not after from) is rejected
// whole with 400 and the list in force stays.
//
// # Concurrency and lifetime
//
// A Simulator is safe for concurrent use and starts no goroutines; it needs no
// Close. Start serves it on a listener in one goroutine owned by the returned
// Server, and whoever calls Start must call Server.Close, which shuts down
// gracefully and waits for that goroutine.
package sim
