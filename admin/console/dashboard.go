package console

import (
	"net/http"

	"eacgate/ops"
)

// The dashboard and the CA hierarchy.
func (h *Handler) dashboardRoutes() []route {
	return []route{
		{"GET /console/{$}", ops.ActionRead, h.dashboard},
	}
}

// dashboardData is the dashboard's data.
type dashboardData struct {
	Stats any
}

func (h *Handler) dashboard(r *request) error {
	st, err := h.Store.Stats(r.Context())
	if err != nil {
		return err
	}
	return r.render(http.StatusOK, "dashboard", "Dashboard", "dashboard", dashboardData{Stats: st})
}
