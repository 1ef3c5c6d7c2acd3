package task

import "net/http"

func (a *API) registerVideo(*http.ServeMux) {}

// VideoAdapter polls video upstreams.
type VideoAdapter struct {
	Client *http.Client
}
