package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"eacgate/cvc"
	"eacgate/ops"
	"eacgate/spoc"
	"eacgate/store"
)

// The work waiting for operators: held requests (approve, reject), the outbox (retry dead
// deliveries), the general messages exchanged with partner SPOCs and the notifications
// (TR-03139 Appendix C.4) sent to them. Partners are in partners.go.
func (h *Handler) workRoutes() []route {
	rs := []route{
		{"GET /console/requests", ops.ActionRead, h.requestsPage},
		{"POST /console/requests/{id}/approve", ops.ActionRequestApprove, h.approveRequest},
		{"POST /console/requests/{id}/reject", ops.ActionRequestReject, h.rejectRequest},
		{"GET /console/outbox", ops.ActionRead, h.outboxPage},
		{"POST /console/outbox/{id}/retry", ops.ActionOutboxRetry, h.retryOutbox},
		{"GET /console/messages", ops.ActionRead, h.messagesPage},
		{"GET /console/notify", ops.ActionPartnerNotify, h.notifyPage},
		{"POST /console/notify", ops.ActionPartnerNotify, h.notify},
	}
	return append(rs, h.partnerRoutes()...)
}

// holderNames resolves holder IDs to their names (country and mnemonic) for one page,
// one lookup per distinct holder.
type holderNames struct {
	h     *Handler
	ctx   context.Context
	names map[int64]string
}

func (h *Handler) holderNames(ctx context.Context) *holderNames {
	return &holderNames{h: h, ctx: ctx, names: map[int64]string{}}
}

// name is holder id's name ("" when id is nil; "#id" when it cannot be read).
func (n *holderNames) name(id *int64) string {
	if id == nil {
		return ""
	}
	if s, ok := n.names[*id]; ok {
		return s
	}
	s := fmt.Sprintf("#%d", *id)
	if x, err := n.h.Store.HolderByID(n.ctx, *id); err == nil {
		s = x.Country + x.Mnemonic
	}
	n.names[*id] = s
	return s
}

// heldRequest is a row of the held requests' page.
type heldRequest struct {
	ID        int64
	HolderID  int64
	Holder    string
	Operation string
	CHR       string // of the certificate request ("" when it does not decode)
	CAR       string
	Callback  string // the host answers go to
	At        time.Time
}

type requestsData struct {
	Requests []heldRequest
	Pager    *Pager
}

// requestsPage lists the requests waiting for an operator's decision, oldest first.
func (h *Handler) requestsPage(r *request) error {
	pg := r.pager(50)
	ms, err := h.Store.HeldRequestsPage(r.Context(), pg.Limit(), pg.Offset())
	if err != nil {
		return err
	}
	ms = ms[:pg.Rows(r, len(ms))]
	names := h.holderNames(r.Context())
	d := requestsData{Pager: pg, Requests: make([]heldRequest, 0, len(ms))}
	for _, m := range ms {
		row := heldRequest{ID: m.ID, Holder: names.name(m.HolderID), Operation: m.Operation, Callback: host(m.ResponseURL), At: m.CreatedAt}
		if m.HolderID != nil {
			row.HolderID = *m.HolderID
		}
		if req, err := cvc.ParseRequest(m.Request); err == nil {
			row.CHR, row.CAR = req.CHR, req.CAR
		}
		d.Requests = append(d.Requests, row)
	}
	return r.render(http.StatusOK, "requests", "Held requests", "requests", d)
}

// host is the host of a URL ("" when there is none).
func host(raw string) string {
	if raw == "" {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "(invalid URL)"
	}
	return u.Host
}

func (h *Handler) approveRequest(r *request) error {
	id, err := r.id("id")
	if err != nil {
		return err
	}
	if err := h.ops().ApproveRequest(r.Context(), r.actor(), id, r.formValue("reason")); err != nil {
		return r.failed("/console/requests", err)
	}
	return r.done("/console/requests", fmt.Sprintf("Request %d approved: it is processed and answered by callback.", id))
}

func (h *Handler) rejectRequest(r *request) error {
	id, err := r.id("id")
	if err != nil {
		return err
	}
	reason := r.formValue("reason")
	if reason == "" {
		return badRequest("a rejection needs a reason")
	}
	if err := h.ops().RejectRequest(r.Context(), r.actor(), id, reason); err != nil {
		return r.failed("/console/requests", err)
	}
	return r.done("/console/requests", fmt.Sprintf("Request %d rejected: the requester is answered failure_request_not_accepted.", id))
}

// outboxStates are the outbox filter's choices: the stored state and its words.
var outboxStates = []struct{ Value, Label string }{
	{"", "all"}, {string(store.OutboxHeld), "held for approval"}, {string(store.OutboxPending), "pending"},
	{string(store.OutboxDead), "dead"}, {string(store.OutboxDone), "delivered"},
}

// outboxRow is a row of the outbox page (never its payload).
type outboxRow struct {
	ID            int64
	MessageID     int64
	Kind          string
	Target        string
	State         string
	Attempts      int
	NextAttemptAt time.Time
	LastError     string
	CreatedAt     time.Time
	Dead          bool
}

type outboxData struct {
	State  string
	States []struct{ Value, Label string }
	Items  []outboxRow
	Pager  *Pager
}

// outboxPage lists the outbox, newest first, filtered by state.
func (h *Handler) outboxPage(r *request) error {
	state := r.query("state")
	known := false
	for _, s := range outboxStates {
		known = known || s.Value == state
	}
	if !known {
		return badRequest("unknown state %q", state)
	}
	pg := r.pager(50)
	items, err := h.Store.OutboxPage(r.Context(), store.OutboxState(state), pg.Limit(), pg.Offset())
	if err != nil {
		return err
	}
	items = items[:pg.Rows(r, len(items))]
	d := outboxData{State: state, States: outboxStates, Pager: pg, Items: make([]outboxRow, 0, len(items))}
	for _, o := range items {
		row := outboxRow{ID: o.ID, Kind: string(o.Kind), Target: host(o.TargetURL), State: string(o.State), Attempts: o.Attempts,
			NextAttemptAt: o.NextAttemptAt, LastError: o.LastError, CreatedAt: o.CreatedAt, Dead: o.State == store.OutboxDead}
		if o.MessageRowID != nil {
			row.MessageID = *o.MessageRowID
		}
		if o.State == store.OutboxDone {
			row.State = "delivered"
		}
		d.Items = append(d.Items, row)
	}
	return r.render(http.StatusOK, "outbox", "Outbox", "outbox", d)
}

func (h *Handler) retryOutbox(r *request) error {
	id, err := r.id("id")
	if err != nil {
		return err
	}
	back := localPath(r.formValue("back"))
	if !strings.HasPrefix(back, "/console/outbox") {
		back = "/console/outbox"
	}
	if err := h.ops().RetryOutbox(r.Context(), r.actor(), id); err != nil {
		return r.failed(back, err)
	}
	return r.done(back, fmt.Sprintf("Outbox item %d is queued again.", id))
}

// generalMessage is a GeneralMessage sent to or received from a partner SPOC.
type generalMessage struct {
	ID         int64
	Sent       bool
	Partner    string
	MessageID  string
	Subject    string
	Body       string
	State      string
	ReturnCode string
	At         time.Time
}

// generalMessages turns message rows into general messages (the text as ops and spoc
// store it: JSON subject and body), the partner of a received one by its SPOC holder.
func (h *Handler) generalMessages(ctx context.Context, ms []store.Message) []generalMessage {
	names := map[int64]string{}
	out := make([]generalMessage, 0, len(ms))
	for _, m := range ms {
		var gm struct{ Subject, Body string }
		_ = json.Unmarshal(m.Request, &gm)
		g := generalMessage{ID: m.ID, Sent: m.Direction == store.Outgoing, MessageID: m.MessageID, Subject: gm.Subject, Body: gm.Body,
			State: string(m.State), ReturnCode: m.ReturnCode, At: m.CreatedAt}
		switch {
		case g.Sent:
			g.Partner = strings.TrimPrefix(m.Peer, "spoc:")
		case m.HolderID != nil:
			c, ok := names[*m.HolderID]
			if !ok {
				if x, err := h.Store.HolderByID(ctx, *m.HolderID); err == nil {
					c = x.Country
				}
				names[*m.HolderID] = c
			}
			g.Partner = c
		}
		if m.Operation != "GeneralMessage" {
			g.Subject = m.Operation // a partner page's other messages: the operation
		}
		out = append(out, g)
	}
	return out
}

type messagesData struct {
	Messages []generalMessage
	Pager    *Pager
}

// messagesPage lists the GeneralMessages sent and received, newest first (eacgate spoc
// messages, GET /admin/v1/spoc/messages).
func (h *Handler) messagesPage(r *request) error {
	pg := r.pager(50)
	ms, err := h.Store.GeneralMessagesPage(r.Context(), pg.Limit(), pg.Offset())
	if err != nil {
		return err
	}
	ms = ms[:pg.Rows(r, len(ms))]
	return r.render(http.StatusOK, "messages", "Messages", "messages", messagesData{Messages: h.generalMessages(r.Context(), ms), Pager: pg})
}

// notifyTemplate is a C.4 template as the form offers it.
type notifyTemplate struct {
	Name, Params string
}

// notifyForm is the notification form's values (kept when it is shown again).
type notifyForm struct {
	To, Template, Role, Loss, CHR, Date, Subject, Body string
}

type notifyData struct {
	Enabled   bool // the SPOC role is on
	Partners  []string
	Templates []notifyTemplate
	Form      notifyForm
	Error     string
	// Roles and Losses are the choices of the template fields role and loss ("": none).
	Roles, Losses []string
}

func (h *Handler) notifyData(f notifyForm) notifyData {
	d := notifyData{Enabled: h.Partners != nil, Form: f, Roles: []string{"", "IS", "DV", "CVCA"},
		Losses: []string{"", "lost", "stolen", "compromised"}}
	if h.Partners != nil {
		d.Partners = h.Partners.Partners()
	}
	for _, t := range spoc.Templates() {
		d.Templates = append(d.Templates, notifyTemplate{Name: string(t), Params: t.Params()})
	}
	return d
}

func (h *Handler) notifyPage(r *request) error {
	f := notifyForm{To: strings.ToUpper(r.query("to"))}
	return r.render(http.StatusOK, "notify", "Notify partners", "messages", h.notifyData(f))
}

// notify sends a notification through ops (stored and audited per partner) and goes to the
// messages with what became of it; a form that cannot be sent is shown again with why.
func (h *Handler) notify(r *request) error {
	f := notifyForm{To: r.formValue("to"), Template: r.formValue("template"), Role: r.formValue("role"), Loss: r.formValue("loss"),
		CHR: r.formValue("chr"), Date: r.formValue("date"), Subject: r.formValue("subject"), Body: strings.TrimSpace(r.PostFormValue("body"))}
	again := func(status int, msg string) error {
		d := h.notifyData(f)
		d.Error = msg
		return r.render(status, "notify", "Notify partners", "messages", d)
	}
	to := strings.ToUpper(f.To)
	if strings.EqualFold(to, ops.AllPartners) {
		to = ops.AllPartners
	}
	if to == "" {
		return again(http.StatusBadRequest, "Choose the recipient: a partner, or all of them.")
	}
	n := spoc.Notice{Template: spoc.Template(f.Template), Subject: f.Subject, Body: f.Body}
	if n.Template != "" {
		// The template's fields only: the form keeps every field, a template takes its own.
		n.Subject, n.Body = "", ""
		switch n.Template {
		case spoc.TemplateKeyCompromise:
			n.Role, n.Loss, n.CHR, n.Date = f.Role, f.Loss, f.CHR, f.Date
		case spoc.TemplateTermination:
			n.Role, n.CHR = f.Role, f.CHR
		case spoc.TemplateCertificateInaccurate, spoc.TemplateDVNotCompliant:
			n.CHR = f.CHR
		}
	}
	subject, body, err := n.Render()
	if err != nil {
		return again(http.StatusBadRequest, strings.TrimPrefix(err.Error(), "spoc: notice: "))
	}
	results, err := h.ops().NotifyPartners(r.Context(), r.actor(), h.Partners,
		ops.Notification{To: to, Template: f.Template, Subject: subject, Body: body})
	switch {
	case errors.Is(err, ops.ErrNotification):
		status := http.StatusBadRequest
		if h.Partners == nil {
			status = http.StatusConflict
		}
		return again(status, "Not sent: "+strings.TrimPrefix(err.Error(), ops.ErrNotification.Error()+": ")+".")
	case err != nil && !errors.Is(err, ops.ErrNotifyFailed):
		return err
	}
	var taken, refused []string
	for _, res := range results {
		switch {
		case res.Err == nil:
			taken = append(taken, res.Country)
		case res.ReturnCode == "":
			refused = append(refused, res.Country+" (unreachable)")
		default:
			refused = append(refused, fmt.Sprintf("%s (answered %s)", res.Country, res.ReturnCode))
		}
	}
	msg := fmt.Sprintf("%q sent.", subject)
	if len(taken) > 0 {
		msg += " Taken by " + strings.Join(taken, ", ") + "."
	}
	if len(refused) > 0 {
		setFlash(r.w, "error", msg+" NOT taken by "+strings.Join(refused, ", ")+"; the message is stored as failed.")
		http.Redirect(r.w, r.Request, "/console/messages", http.StatusSeeOther)
		return nil
	}
	return r.done("/console/messages", msg)
}
