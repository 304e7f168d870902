package console

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"eacgate/ops"
)

// Helpers the pages share: path ids, pagination, and proposing a critical task.

// id returns the path value name as a positive integer, or a 400 userError.
func (r *request) id(name string) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue(name), 10, 64)
	if err != nil || id <= 0 {
		return 0, badRequest("bad %s %q", name, r.PathValue(name))
	}
	return id, nil
}

// Pager is one page of a list: ?page=N (1-based), Size rows. A list query fetches Size+1
// rows (Limit, Offset) and calls Rows with the number it got, which sets HasNext.
type Pager struct {
	Page, Size int
	HasNext    bool
	// PrevURL and NextURL keep the page's other query parameters (filters).
	PrevURL, NextURL string
}

// maxPage bounds ?page= so that an offset never grows without bound (filters narrow a
// list long before that).
const maxPage = 10000

// pager reads ?page= for a list of size rows per page.
func (r *request) pager(size int) *Pager {
	n, err := strconv.Atoi(r.URL.Query().Get("page"))
	if err != nil || n < 1 {
		n = 1
	}
	return &Pager{Page: min(n, maxPage), Size: size}
}

// Limit is the number of rows to fetch (one more than shown, to know whether a next page exists).
func (p *Pager) Limit() int { return p.Size + 1 }

// Offset is the number of rows before this page.
func (p *Pager) Offset() int { return (p.Page - 1) * p.Size }

// Rows records how many rows the query returned (up to Limit) and returns how many to
// show; it fills the links to the neighbouring pages from the request's URL.
func (p *Pager) Rows(r *request, got int) int {
	p.HasNext = got > p.Size && p.Page < maxPage
	link := func(page int) string {
		q := r.URL.Query()
		q.Set("page", strconv.Itoa(page))
		return r.URL.Path + "?" + q.Encode()
	}
	if p.Page > 1 {
		p.PrevURL = link(p.Page - 1)
	}
	if p.HasNext {
		p.NextURL = link(p.Page + 1)
	}
	return min(got, p.Size)
}

// critical proposes task with params as the signed-in operator (ops.Propose: the
// two-person principle). When the task ran at once (its quorum is 1) the browser goes to
// done with doneMsg; otherwise to the proposal's page, where a second operator approves it.
// A refusal goes back to back with its reason.
func (r *request) critical(task ops.Action, params any, back, done, doneMsg string) error {
	p, err := r.h.ops().Propose(r.Context(), r.actor(), task, params)
	if err != nil {
		return r.failed(back, err)
	}
	if p.Executed() {
		return r.done(done, doneMsg)
	}
	sentence, _, _ := strings.Cut(p.Description, "\n") // the page shows the parameters
	return r.done(fmt.Sprintf("/console/proposals/%d", p.ID),
		fmt.Sprintf("Proposal #%d (%s) waits for the approval of a second person.", p.ID, strings.TrimSpace(sentence)))
}

// formValue returns a posted field without surrounding space.
func (r *request) formValue(name string) string { return strings.TrimSpace(r.PostFormValue(name)) }

// query returns a query parameter without surrounding space.
func (r *request) query(name string) string { return strings.TrimSpace(r.URL.Query().Get(name)) }

// pathEscape escapes one path segment (templates build links with it too).
func pathEscape(s string) string { return url.PathEscape(s) }
