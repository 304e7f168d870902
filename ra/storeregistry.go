package ra

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"eacgate/authority"
	"eacgate/cvc"
	"eacgate/msg"
	"eacgate/store"
	"eacgate/trust"
)

// StoreRegistry is the Registry of the issuing services on top of the store: holders, their
// certificates, and the messages of their requests. Build it with NewStoreRegistry.
type StoreRegistry struct {
	// Store keeps the holders, messages and certificates (set by NewStoreRegistry).
	Store *store.Store
	// QueueQuota bounds a holder's unfinished asynchronous requests (held or pending outbox
	// items): a request beyond it is refused with ErrQueueFull (0: DefaultQueueQuota,
	// negative: no bound).
	QueueQuota int
	// Caches of what never changes: a holder's role, an issuer certificate's row.
	roles   sync.Map // holder ID -> store.Role
	issuers sync.Map // CHR -> row ID
	// ranges caches the parsed IP ranges of the holders: the stored text -> []netip.Prefix.
	ranges sync.Map
	trust  *trust.Store
}

// StoreOption sets an optional parameter of NewStoreRegistry.
type StoreOption func(*StoreRegistry)

// WithQueueQuota bounds a holder's unfinished asynchronous requests (see
// StoreRegistry.QueueQuota).
func WithQueueQuota(n int) StoreOption { return func(r *StoreRegistry) { r.QueueQuota = n } }

// NewStoreRegistry returns the Registry kept in st, with the trust store kept there too.
func NewStoreRegistry(st *store.Store, opts ...StoreOption) *StoreRegistry {
	r := &StoreRegistry{Store: st, trust: trust.New(st)}
	for _, o := range opts {
		o(r)
	}
	return r
}

// Trust returns the trust store the registry checks received certificates with: the one of
// its store.
func (r *StoreRegistry) Trust() *trust.Store {
	if r.trust == nil {
		return trust.New(r.Store) // a registry not built by NewStoreRegistry
	}
	return r.trust
}

// IPRanges returns the parsed prefixes of a holder's stored ip_ranges, parsing each
// distinct list once.
func (r *StoreRegistry) IPRanges(stored string) ([]netip.Prefix, error) {
	if stored == "" {
		return nil, nil
	}
	if r == nil {
		return store.ParseIPRanges(stored)
	}
	if p, ok := r.ranges.Load(stored); ok {
		return p.([]netip.Prefix), nil
	}
	p, err := store.ParseIPRanges(stored)
	if err != nil {
		return nil, fmt.Errorf("server: stored IP ranges: %w", err)
	}
	r.ranges.Store(stored, p)
	return p, nil
}

var _ Registry = (*StoreRegistry)(nil)

// HolderByID returns a registered certificate applicant by its row ID, or ErrUnknown.
func (r *StoreRegistry) HolderByID(ctx context.Context, id int64) (*Holder, error) {
	h, err := r.Store.HolderByID(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrUnknown
	}
	if err != nil {
		return nil, err
	}
	return r.holderFrom(ctx, h)
}

// holderFrom describes a registered holder to the issuing service. An operator's
// suspension or revocation of the holder's newest certificate stops the holder as well:
// otherwise, with no usable current certificate, it could ask again with an unauthenticated
// "initial" request. Reinstating the certificate restores the holder; a revoked one keeps
// it refused (revoke is final).
func (r *StoreRegistry) holderFrom(ctx context.Context, h *store.Holder) (*Holder, error) {
	if _, ok := h.Role.CHAT(); !ok {
		return nil, ErrUnknown // a SPOC is not a certificate applicant here
	}
	var newest store.CertStatus
	if h.Status == store.HolderActive {
		c, err := r.Store.NewestCertificate(ctx, h.ID, h.Role)
		switch {
		case err == nil:
			newest = c.Status
		case !errors.Is(err, store.ErrNotFound):
			return nil, err
		}
	}
	out, err := holderWithNewest(h, newest)
	if err != nil || h.Role != store.RoleDVForeign {
		return out, err
	}
	// A partner's DV: its registration's rights apply too (queued requests come this way).
	if out.Rights, err = r.Store.GrantedRights(ctx, h); err != nil {
		return nil, err
	}
	return out, nil
}

// holderWithNewest describes holder h whose newest certificate has the given status ("" for
// none) to the issuing service, applying the rule of holderFrom.
func holderWithNewest(h *store.Holder, newest store.CertStatus) (*Holder, error) {
	role, ok := h.Role.CHAT()
	if !ok {
		return nil, ErrUnknown // a SPOC is not a certificate applicant here
	}
	// Rights: the holder's own limit (nil: its issuer's policy); authority intersects them
	// with the issuer's certificate, so a DV's limit also bounds its terminals.
	out := &Holder{ID: h.ID, Country: h.Country, Mnemonic: h.Mnemonic, Role: role, Status: authority.HolderStatus(h.Status),
		Rights: store.RightsBits(h.Rights)}
	if out.Status == authority.StatusActive {
		switch newest {
		case store.CertSuspended:
			out.Status = authority.StatusSuspended
		case store.CertRevoked:
			out.Status = authority.StatusRevoked
		}
	}
	return out, nil
}

// HolderByFingerprint implements Registry: the holder with its current certificate, read in
// one statement (the per-request path).
func (r *StoreRegistry) HolderByFingerprint(ctx context.Context, fp string) (*Holder, error) {
	if fp == "" {
		return nil, ErrUnknown
	}
	rh, err := r.Store.RequestHolderByFingerprint(ctx, fp)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrUnknown
	}
	if err != nil {
		return nil, err
	}
	out, err := holderWithNewest(&rh.Holder, rh.NewestStatus)
	if err != nil {
		return nil, err
	}
	if out.IPRanges, err = r.IPRanges(rh.Holder.IPRanges); err != nil {
		return nil, err
	}
	if rh.Current != nil {
		if out.Current, err = cvc.ParseCertificate(rh.Current.Raw); err != nil {
			return nil, fmt.Errorf("server: stored certificate %d: %w", rh.Current.ID, err)
		}
	}
	return out, nil
}

// CurrentCertificate implements Registry: the newest certificate not suspended or revoked,
// expired or not (the issuer answers failure_expired for renewals signed with an expired one).
func (r *StoreRegistry) CurrentCertificate(ctx context.Context, holderID int64) (*cvc.Certificate, error) {
	role, ok := r.roles.Load(holderID)
	if !ok {
		h, err := r.Store.HolderByID(ctx, holderID)
		if errors.Is(err, store.ErrNotFound) {
			return nil, ErrUnknown
		}
		if err != nil {
			return nil, err
		}
		role = h.Role
		r.roles.Store(holderID, h.Role)
	}
	// Only certificates of the holder's own role: a domestic DV also holds the foreign
	// certificates it obtained through the SPOC.
	return parsedRow(r.Store.LatestCertificateOfRole(ctx, holderID, role.(store.Role)))
}

// CurrentCertificateFrom implements Registry.
func (r *StoreRegistry) CurrentCertificateFrom(ctx context.Context, holderID int64, cars []string) (*cvc.Certificate, error) {
	return parsedRow(r.Store.LatestCertificateFrom(ctx, holderID, cars))
}

// parsedRow parses a certificate row read from the store (ErrUnknown when there is none).
func parsedRow(c *store.Certificate, err error) (*cvc.Certificate, error) {
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrUnknown
	}
	if err != nil {
		return nil, err
	}
	cert, err := cvc.ParseCertificate(c.Raw)
	if err != nil {
		return nil, fmt.Errorf("server: stored certificate %d: %w", c.ID, err)
	}
	return cert, nil
}

// Begin implements Registry: a read of an earlier request with the same messageID (requests
// without a messageID cannot be repeated by ID).
func (r *StoreRegistry) Begin(ctx context.Context, holderID int64, m msg.Message) (*msg.Answer, error) {
	if m.MessageID == "" {
		return nil, nil
	}
	prev, err := r.previous(ctx, holderID, m.MessageID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	return prev, err
}

// previous returns the answer to an earlier request, or ErrDuplicate without an answer while
// that request is in progress (asynchronous processing), or store.ErrNotFound.
func (r *StoreRegistry) previous(ctx context.Context, holderID int64, messageID string) (*msg.Answer, error) {
	prev, err := r.Store.MessageAnswerByOriginator(ctx, Originator(holderID), messageID)
	if err != nil {
		return nil, err
	}
	if prev.State != store.MessageAnswered {
		return nil, ErrDuplicate
	}
	a := msg.Answer{ReturnCode: authority.ReturnCode(prev.ReturnCode)}
	if len(prev.Result) > 0 {
		tlvs, err := cvc.ParseSequence(prev.Result)
		if err != nil {
			return nil, fmt.Errorf("server: stored result of message %d: %w", prev.ID, err)
		}
		for _, t := range tlvs {
			a.Certificates = append(a.Certificates, t.Raw)
		}
	}
	return &a, ErrDuplicate
}

// Originator is the store's originator name of a registered holder's messages.
func Originator(holderID int64) string { return fmt.Sprintf("holder:%d", holderID) }

// Enqueue implements Registry: the message and its outbox item (kind process, held when the
// request waits for approval) in one transaction.
func (r *StoreRegistry) Enqueue(ctx context.Context, holderID int64, m msg.Message, held bool) error {
	hid := holderID
	stored := &store.Message{
		Originator: Originator(holderID), MessageID: m.MessageID, HolderID: &hid, Protocol: m.Namespace,
		Operation: m.Operation, Request: m.CertReq, State: store.MessageReceived, ResponseURL: m.ResponseURL,
	}
	out := &store.OutboxItem{Kind: store.OutboxProcess, TargetURL: m.ResponseURL, State: store.OutboxPending}
	if held {
		stored.Approval = store.ApprovalPending
		out.State = store.OutboxHeld
	}
	if err := r.checkQuota(ctx, holderID, m.MessageID); err != nil {
		return err
	}
	err := r.Store.AcceptMessage(ctx, stored, out)
	if errors.Is(err, store.ErrDuplicateMessage) {
		return ErrDuplicate
	}
	return err
}

// DefaultQueueQuota is StoreRegistry.QueueQuota's default.
const DefaultQueueQuota = 100

// ErrQueueFull: the holder has as many unfinished asynchronous requests as its quota allows.
var ErrQueueFull = errors.New("server: the holder's asynchronous queue is full")

// checkQuota refuses a new asynchronous request of a holder whose queue is full (a repeat
// of an acknowledged messageID is not new: ErrDuplicate). Concurrent requests of one holder
// may pass it together: the bound is approximate by their number.
func (r *StoreRegistry) checkQuota(ctx context.Context, holderID int64, messageID string) error {
	quota := r.QueueQuota
	if quota == 0 {
		quota = DefaultQueueQuota
	}
	if quota < 0 {
		return nil
	}
	n, err := r.Store.OpenOutboxItems(ctx, holderID)
	if err != nil {
		return fmt.Errorf("server: queue quota: %w", err)
	}
	if n < int64(quota) {
		return nil
	}
	if _, err := r.Store.MessageByOriginator(ctx, Originator(holderID), messageID); err == nil {
		return ErrDuplicate
	}
	return fmt.Errorf("%w (%d of %d)", ErrQueueFull, n, quota)
}

// Finish implements Registry: the request, its answer and the issued certificate in one
// transaction. A concurrent repeat of the messageID that was stored first wins: its answer
// is returned and this certificate (signed, but never stored nor handed out) is dropped.
func (r *StoreRegistry) Finish(ctx context.Context, h *Holder, m msg.Message, a msg.Answer, issued *cvc.Certificate) (*msg.Answer, error) {
	holderID := h.ID
	var row *store.Certificate
	if issued != nil {
		var err error
		if row, err = r.certificateRow(ctx, holderID, issued); err != nil {
			return nil, err
		}
		row.Issued = IssuanceFor(h, m.MessageID)
	}
	var result []byte
	for _, c := range a.Certificates {
		result = append(result, c...)
	}
	hid := holderID
	stored := &store.Message{Originator: Originator(holderID), MessageID: m.MessageID, HolderID: &hid, Protocol: m.Namespace,
		Operation: m.Operation, Request: m.CertReq, ReturnCode: string(a.ReturnCode), Result: result}
	err := r.Store.AcceptAnswered(ctx, stored, row)
	if errors.Is(err, store.ErrDuplicateCertificate) {
		// Signed but never stored nor handed out: the request is recorded as refused.
		refused := msg.Answer{ReturnCode: authority.FailureRequestNotAccepted}
		stored = &store.Message{Originator: stored.Originator, MessageID: stored.MessageID, HolderID: stored.HolderID, Protocol: stored.Protocol,
			Operation: stored.Operation, Request: stored.Request, ReturnCode: string(refused.ReturnCode)}
		if err = r.Store.AcceptAnswered(ctx, stored); err == nil {
			return &refused, fmt.Errorf("%w: %s under %s", ErrCertificateExists, issued.CHR, issued.CAR)
		}
	}
	if errors.Is(err, store.ErrDuplicateMessage) {
		prev, perr := r.previous(ctx, holderID, m.MessageID)
		if prev != nil {
			return prev, nil
		}
		if perr == nil || errors.Is(perr, ErrDuplicate) {
			return &msg.Answer{ReturnCode: authority.FailureRequestNotAccepted}, nil
		}
		return nil, perr
	}
	return nil, err
}

// IssuanceFor describes to the audit a certificate signed here for holder h's request
// messageID (see store.Issuance).
func IssuanceFor(h *Holder, messageID string) *store.Issuance {
	caller := h.Caller
	if caller == "" {
		caller = Originator(h.ID)
	}
	return &store.Issuance{Requester: h.Country + h.Mnemonic, Caller: caller, Source: h.Source, MessageID: messageID}
}

// CertificateRow builds the store's row for a certificate issued to holderID, linked to its
// issuer's row when that is known (not marked Issued: the caller says for whom).
func (r *StoreRegistry) CertificateRow(ctx context.Context, holderID int64, issued *cvc.Certificate) (*store.Certificate, error) {
	return r.certificateRow(ctx, holderID, issued)
}

// RecordCertificate stores a certificate issued to holderID outside a SOAP request (eacgate
// init), linked to its issuer's row.
func (r *StoreRegistry) RecordCertificate(ctx context.Context, holderID int64, issued *cvc.Certificate) error {
	row, err := r.certificateRow(ctx, holderID, issued)
	if err != nil {
		return err
	}
	return r.Store.AddCertificate(ctx, row)
}

func (r *StoreRegistry) certificateRow(ctx context.Context, holderID int64, issued *cvc.Certificate) (*store.Certificate, error) {
	hid := holderID
	row := &store.Certificate{
		HolderID: &hid, CHR: issued.CHR, CAR: issued.CAR, Role: store.RoleOf(issued.Role()),
		NotBefore: issued.EffectiveDate.Time(), NotAfter: issued.ExpirationDate.Time(),
		Status: store.CertValid, Raw: issued.Raw, KeySHA256: store.PublicKeySHA256(&issued.PublicKey),
	}
	if id, ok := r.issuers.Load(issued.CAR); ok {
		iid := id.(int64)
		row.IssuerID = &iid
		return row, nil
	}
	issuers, err := r.Store.CertificatesByCHR(ctx, issued.CAR)
	if err != nil {
		return nil, err
	}
	if len(issuers) > 0 {
		iid := issuers[len(issuers)-1].ID
		row.IssuerID = &iid
		r.issuers.Store(issued.CAR, iid)
	}
	return row, nil
}

// AnswerRows checks the certificates received in answer to request (a certificate request
// this gateway sent, for itself or relayed for holderID) with the trust store (see
// trust.Store.VerifyAnswer: failures wrap trust.ErrAnswerUnverified) and returns the store
// rows of those issued to holderID and all of them concatenated (the result to store and
// pass on).
func (r *StoreRegistry) AnswerRows(ctx context.Context, holderID int64, request []byte, certs [][]byte, now time.Time) ([]*store.Certificate, []byte, error) {
	issued, result, err := r.Trust().VerifyAnswer(ctx, request, certs, now)
	if err != nil {
		return nil, nil, err
	}
	rows := make([]*store.Certificate, 0, len(issued))
	for _, c := range issued {
		row, err := r.certificateRow(ctx, holderID, c)
		if err != nil {
			return nil, nil, err
		}
		rows = append(rows, row)
	}
	return rows, result, nil
}

// ValidCertificates are the holder's certificates valid at now and not suspended or
// revoked, oldest first: for a foreign DV, those our CVCA issued to it, any of which
// authenticates its successive requests (TR-03139 Table 2 step 9).
func (r *StoreRegistry) ValidCertificates(ctx context.Context, holderID int64, now time.Time) ([]*cvc.Certificate, error) {
	rows, err := r.Store.ListCertificatesOfHolder(ctx, holderID)
	if err != nil {
		return nil, fmt.Errorf("ra: certificates of holder %d: %w", holderID, err)
	}
	var out []*cvc.Certificate
	for _, row := range rows {
		if row.Status != store.CertValid {
			continue
		}
		c, err := cvc.ParseCertificate(row.Raw)
		if err != nil {
			return nil, fmt.Errorf("ra: stored certificate %s: %w", row.CHR, err)
		}
		if c.ValidAt(now) {
			out = append(out, c)
		}
	}
	return out, nil
}
