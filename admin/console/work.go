package console

func (h *Handler) workRoutes() []route { return nil }
