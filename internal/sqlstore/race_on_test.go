//go:build race

package sqlstore

// raceEnabled: the race detector slows SQLite (transpiled C) by an order
// of magnitude; the million-row test skips under it.
const raceEnabled = true
