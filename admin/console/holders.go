package console

func (h *Handler) holderRoutes() []route { return nil }
