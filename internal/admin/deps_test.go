package admin

import (
	"switchboard/internal/inmem"
	"switchboard/internal/redisstore"
)

// Both health trackers plug into Deps.Health as they are.
var (
	_ Health = (*inmem.Health)(nil)
	_ Health = (*redisstore.Health)(nil)
)
