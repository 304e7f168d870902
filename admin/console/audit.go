package console

func (h *Handler) auditRoutes() []route { return nil }
