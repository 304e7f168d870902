package console

func (h *Handler) operatorRoutes() []route { return nil }
