package admin

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"eacgate/ops"
	"eacgate/spoc"
	"eacgate/store"
)

// spocRoutes are the SPOC's endpoints: notifications to partner SPOCs (TR-03139 Appendix
// C.4, sent by RA operators) and the general messages sent and received.
func (h *Handler) spocRoutes() []route {
	return []route{
		{"POST /admin/v1/spoc/notify", ops.ActionPartnerNotify, nil, h.notifyPartners},
		{"GET /admin/v1/spoc/messages", ops.ActionRead, nil, h.listGeneralMessages},
	}
}

// NotifyRequest is the body of POST /admin/v1/spoc/notify: a C.4 template with its
// parameters, or free text (subject and body).
type NotifyRequest struct {
	To       string `json:"to"` // a partner's country, or "all"
	Template string `json:"template,omitempty"`
	Role     string `json:"role,omitempty"`
	Loss     string `json:"loss,omitempty"`
	CHR      string `json:"chr,omitempty"`
	Date     string `json:"date,omitempty"`
	Subject  string `json:"subject,omitempty"`
	Body     string `json:"body,omitempty"`
}

// NotifyResult is what became of a notification to one partner.
type NotifyResult struct {
	Country    string `json:"country"`
	MessageID  string `json:"message_id"`
	Taken      bool   `json:"taken"` // the partner answered ok
	ReturnCode string `json:"return_code,omitempty"`
	Error      string `json:"error,omitempty"`
}

// NotifyAnswer is the answer of POST /admin/v1/spoc/notify.
type NotifyAnswer struct {
	Subject string         `json:"subject"`
	Body    string         `json:"body"`
	Results []NotifyResult `json:"results"`
	// AllTaken is false when a partner refused the message or could not be reached (its
	// result says which; the message is stored as failed and audited so).
	AllTaken bool `json:"all_taken"`
}

func (h *Handler) notifyPartners(r *request) (any, error) {
	var in NotifyRequest
	if err := r.decode(&in); err != nil {
		return nil, err
	}
	if in.To == "" {
		return nil, fail(http.StatusBadRequest, "to: a partner's country, or all")
	}
	to := strings.ToUpper(in.To)
	if strings.EqualFold(to, ops.AllPartners) {
		to = ops.AllPartners
	}
	n := spoc.Notice{Template: spoc.Template(in.Template), Role: in.Role, Loss: in.Loss, CHR: in.CHR, Date: in.Date,
		Subject: in.Subject, Body: in.Body}
	subject, body, err := n.Render()
	if err != nil {
		return nil, fail(http.StatusBadRequest, "%v", err)
	}
	results, err := h.ops().NotifyPartners(r.Context(), r.actor(), h.Partners,
		ops.Notification{To: to, Template: in.Template, Subject: subject, Body: body})
	switch {
	case errors.Is(err, ops.ErrNotification):
		return nil, fail(http.StatusBadRequest, "%v", err)
	case err != nil && !errors.Is(err, ops.ErrNotifyFailed):
		return nil, err
	}
	out := NotifyAnswer{Subject: subject, Body: body, Results: []NotifyResult{}, AllTaken: err == nil}
	for _, res := range results {
		nr := NotifyResult{Country: res.Country, MessageID: res.MessageID, Taken: res.Err == nil, ReturnCode: string(res.ReturnCode)}
		if res.Err != nil {
			nr.Error = "not taken"
			if res.ReturnCode == "" {
				nr.Error = "partner unreachable"
			}
		}
		out.Results = append(out.Results, nr)
	}
	return out, nil
}

// GeneralMessage is a general message as the API shows it: received from a partner SPOC
// (direction in) or sent to one (out).
type GeneralMessage struct {
	ID         int64     `json:"id"`
	Direction  string    `json:"direction"`
	Partner    string    `json:"partner"` // the partner's country
	MessageID  string    `json:"message_id"`
	Subject    string    `json:"subject"`
	Body       string    `json:"body"`
	State      string    `json:"state"`
	ReturnCode string    `json:"return_code,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
}

func (h *Handler) listGeneralMessages(r *request) (any, error) {
	limit := 100
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 || n > 1000 {
			return nil, fail(http.StatusBadRequest, "limit: 1 to 1000")
		}
		limit = n
	}
	ms, err := h.Store.MessagesByOperation(r.Context(), "GeneralMessage", limit)
	if err != nil {
		return nil, err
	}
	out := make([]GeneralMessage, 0, len(ms))
	for _, m := range ms {
		var gm struct{ Subject, Body string }
		_ = json.Unmarshal(m.Request, &gm)
		g := GeneralMessage{ID: m.ID, Direction: string(m.Direction), MessageID: m.MessageID, Subject: gm.Subject, Body: gm.Body,
			State: string(m.State), ReturnCode: m.ReturnCode, CreatedAt: m.CreatedAt}
		if m.Direction == store.Outgoing {
			g.Partner = strings.TrimPrefix(m.Peer, "spoc:")
		} else if m.HolderID != nil {
			if sp, err := h.Store.HolderByID(r.Context(), *m.HolderID); err == nil {
				g.Partner = sp.Country
			}
		}
		out = append(out, g)
	}
	return out, nil
}
