// Package route chooses upstream channels for a model.
//
// The Router holds an immutable snapshot of the enabled channels, swapped
// atomically by SetChannels, in which every concrete model name maps to a
// precomputed route: its channels grouped in tiers of descending priority,
// with their weights. Channels may list globs ("gpt-4o*", "claude-*", "*"),
// where '*' matches any run of characters including '/' (see Match); a
// concrete name's route includes the glob channels that match it, and a
// name reachable only through globs is resolved on first use and cached
// (up to a bound) in the snapshot.
//
// Router.Plan returns a Plan, a small value that yields candidates for one
// call: highest tier first, weighted random order inside a tier, each
// channel at most once, unavailable channels and keys skipped as the
// gateway.Health says, keys rotating round-robin. Planning allocates nothing
// for routes of up to 64 channels.
package route
