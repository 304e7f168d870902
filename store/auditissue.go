package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"gorm.io/gorm"
)

// Issuance audit. A certificate this gateway signed for a requester carries an Issuance
// (Certificate.Issued); every store path that inserts certificates appends, for each one
// that carries it, a ca.issue event in the same transaction as the certificate row: the
// certificate and its event are committed together or not at all. The gorm paths insert
// through createCertificateTx, the per-request path (insertAccepted) in a group commit
// whose issueChain appends the events before the commit; auditissue_test.go
// lists the insert paths.

// ActionIssue is the audit action of a certificate signed by this gateway.
const ActionIssue = "ca.issue"

// Issuance marks a certificate row as signed by this gateway on a requester's behalf, and
// says for whom: inserting the row appends its ca.issue audit event.
type Issuance struct {
	// Requester is the holder's name (country and mnemonic).
	Requester string
	// Caller is who sent the request: "holder:<id>" (its own TLS identity), "spoc:<country>"
	// (a partner's SPOC relaying a foreign DV's request).
	Caller string
	// Source is the caller's network address ("" when it is not known, e.g. a request
	// decided later from the queue).
	Source string
	// MessageID is the request's messageID.
	MessageID string
	// ApprovedBy is the operator who approved a held request ("" otherwise).
	ApprovedBy string
}

// IssueDetails is the Details JSON of a ca.issue event.
type IssueDetails struct {
	CHR        string `json:"chr"`
	CAR        string `json:"car"`
	Role       Role   `json:"role"`
	Requester  string `json:"requester"`
	Caller     string `json:"caller"`
	SHA256     string `json:"sha256"` // hex SHA-256 of the certificate's DER encoding
	MessageID  string `json:"message_id"`
	ApprovedBy string `json:"approved_by,omitempty"`
}

// CertificateSHA256 is the hex SHA-256 of a certificate's encoding: what a ca.issue event
// names the certificate by.
func CertificateSHA256(raw []byte) string {
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:])
}

// issueEvent is the ca.issue event of c (c.Issued set), without its chain fields.
func issueEvent(c *Certificate) (AuditEvent, error) {
	is := c.Issued
	d, err := json.Marshal(IssueDetails{CHR: c.CHR, CAR: c.CAR, Role: c.Role, Requester: is.Requester, Caller: is.Caller,
		SHA256: CertificateSHA256(c.Raw), MessageID: is.MessageID, ApprovedBy: is.ApprovedBy})
	if err != nil {
		return AuditEvent{}, fmt.Errorf("issue event: %w", err)
	}
	return AuditEvent{At: now(), Actor: "ca:" + c.CAR, Action: ActionIssue, Target: c.CHR, Source: is.Source,
		Outcome: "ok", Details: string(d)}, nil
}

// createCertificateTx inserts c within tx and, when c.Issued marks it as signed here,
// appends its ca.issue event in the same transaction: how the gorm paths insert
// certificates.
func (s *Store) createCertificateTx(tx *gorm.DB, c *Certificate) error {
	if err := tx.Create(c).Error; err != nil {
		return duplicateCertificateOr(err, c)
	}
	if c.Issued == nil {
		return nil
	}
	e, err := issueEvent(c)
	if err != nil {
		return err
	}
	if _, err := s.appendAuditTx(tx, e); err != nil {
		return fmt.Errorf("audit issuance of %s: %w", c.CHR, err)
	}
	return nil
}

// auditColumns are the audit_events columns the per-request path writes and reads, in the
// order of auditArgs and auditScanTargets (checked against the model by hotcolumns_test.go:
// a column added to AuditEvent fails there until these follow).
var auditColumns = []string{"seq", "at", "actor", "action", "target", "source", "outcome", "details", "prev_hash", "hash", "mac"}

var (
	sqlAuditHead   = `SELECT ` + columnList("", auditColumns) + ` FROM audit_events ORDER BY seq DESC LIMIT 1`
	sqlInsertAudit = "INSERT INTO " + AuditEvent{}.TableName() + " (" + columnList("", auditColumns) + ")\nVALUES (?" +
		strings.Repeat(", ?", len(auditColumns)-1) + ")"
	sqlAuditLock = `SELECT pg_advisory_xact_lock(?)`
)

// auditArgs are the values of an event in the order of auditColumns.
func auditArgs(e *AuditEvent) []any {
	return []any{e.Seq, e.At, e.Actor, e.Action, e.Target, e.Source, e.Outcome, e.Details, e.PrevHash, e.Hash, e.MAC}
}

// auditScanTargets are the fields of e in the order of auditColumns.
func auditScanTargets(e *AuditEvent) []any {
	return []any{&e.Seq, &e.At, &e.Actor, &e.Action, &e.Target, &e.Source, &e.Outcome, &e.Details, &e.PrevHash, &e.Hash, &e.MAC}
}

// issueChain appends the ca.issue events of one transaction of the per-request path (a
// group commit). The events of the requests written are collected as they succeed and
// appended together just before the commit: the append lock (PostgreSQL: the advisory
// lock, held to the end of the transaction; SQLite: the single writer's transaction) is
// taken and the head read once, for as short a time as possible, and the events, written
// outside the requests' savepoints, cost no savepoint journal.
type issueChain struct {
	s       *Store
	hot     *hotStatements
	tx      *sql.Tx
	pending []AuditEvent
	head    *AuditEvent // read by flush; nil: the log is empty
}

// add collects the ca.issue events of the certificates signed here among certs, which the
// transaction stores.
func (ch *issueChain) add(certs []*Certificate) error {
	for _, c := range certs {
		if c.Issued == nil {
			continue
		}
		e, err := issueEvent(c)
		if err != nil {
			return err
		}
		ch.pending = append(ch.pending, e)
	}
	return nil
}

// flush appends the collected events to the chain, in order. If it fails the transaction
// must not be committed: its certificates would lack their events.
func (ch *issueChain) flush(ctx context.Context) error {
	if len(ch.pending) == 0 {
		return nil
	}
	if err := ch.load(ctx); err != nil {
		return err
	}
	for i := range ch.pending {
		e := &ch.pending[i]
		ch.s.chainEvent(e, ch.head)
		if _, err := ch.tx.StmtContext(ctx, ch.hot.insertAudit).ExecContext(ctx, auditArgs(e)...); err != nil {
			return fmt.Errorf("audit issuance of %s: %w", e.Target, err)
		}
		ch.head = e
	}
	return nil
}

// load takes the append lock and reads the head.
func (ch *issueChain) load(ctx context.Context) error {
	if ch.hot.auditLock != nil {
		if _, err := ch.tx.StmtContext(ctx, ch.hot.auditLock).ExecContext(ctx, int64(auditLockKey)); err != nil {
			return fmt.Errorf("audit lock: %w", err)
		}
	}
	var e AuditEvent
	err := ch.tx.StmtContext(ctx, ch.hot.auditHead).QueryRowContext(ctx).Scan(auditScanTargets(&e)...)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		ch.head = nil
	case err != nil:
		return fmt.Errorf("audit head: %w", err)
	default:
		ch.head = &e
	}
	return nil
}
