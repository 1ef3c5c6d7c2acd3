// Package admin is Switchboard's admin REST API: it creates, updates,
// disables, deletes and lists client keys and upstream channels, shows
// channel and upstream-key health, and reads the usage ledger.
//
// Every route requires "Authorization: Bearer <admin token>". The token is
// hashed with SHA-256 and compared with Deps.AdminTokenHash in constant
// time; with no hash configured every request is refused. Bodies and
// answers are JSON with snake_case fields; money appears both as exact
// int64 *_nano_usd and as a *_usd float for display. Errors are
// {"error": {"message", "type"}} with status 400 (bad JSON or a failed
// validation), 401, 404, 405, 409 (a name in use), 413 or 500.
//
//	GET    /admin/api/keys                               list client keys (prefix only, never the secret)
//	POST   /admin/api/keys                               create; the answer carries the secret, once
//	GET    /admin/api/keys/{id}                          one key
//	PATCH  /admin/api/keys/{id}                          partial update (absent or null = unchanged)
//	DELETE /admin/api/keys/{id}                          delete (its ledger rows stay)
//	POST   /admin/api/keys/{id}/disable                  enabled=false
//	POST   /admin/api/keys/{id}/enable                   enabled=true
//	GET    /admin/api/channels                           list channels (api keys masked)
//	POST   /admin/api/channels                           create
//	GET    /admin/api/channels/{id}                      one channel
//	PATCH  /admin/api/channels/{id}                      partial update; resets the channel's health
//	DELETE /admin/api/channels/{id}                      delete
//	POST   /admin/api/channels/{id}/disable              enabled=false
//	POST   /admin/api/channels/{id}/enable               enabled=true
//	POST   /admin/api/channels/{id}/keys/{index}/enable  put an upstream key back into rotation
//	GET    /admin/api/health                             breaker and key states of every channel
//	GET    /admin/api/usage                              ledger records (key_id, since, until, limit)
//	GET    /admin/api/usage/summary                      totals per key and per model
//
// Collections answer {"object": "list", "data": [...]}.
//
// After every successful mutation the API calls Deps.OnChange with
// TopicKeys or TopicChannels; the caller reloads its caches and fans the
// change out to other nodes (redisstore's notifier), which is how a key
// disabled on one node is refused by all of them within a second.
//
// The store interfaces have no compare-and-swap, so PATCH is
// read-modify-write: two admins editing the same entity at once get
// last-write-wins. docs/admin-api.md is the user-facing reference.
package admin
