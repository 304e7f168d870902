package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// The per-request path of a synchronous certificate request reads the requesting holder
// (with its newest and its current certificate), looks for an earlier request with the same
// messageID, and stores the request, its answer and the issued certificate in one
// transaction. Those statements run for every request, so they bypass gorm's reflection and
// SQL generation: they are written out once here, prepared once per connection, and their
// rows scanned by hand. Everything else in the package goes through gorm.
//
// On SQLite the reads run on a separate pool of read-only connections (WAL lets them proceed
// while the single writer commits), and the writes of concurrent requests share one
// transaction and one fsync (see committer).

// readPoolSize is the number of read-only SQLite connections of the per-request reads.
const readPoolSize = 4

// hotStatements are the prepared statements of the per-request path.
type hotStatements struct {
	holderByFingerprint *sql.Stmt // on the read pool
	messageByOriginator *sql.Stmt // on the read pool
	insertMessage       *sql.Stmt // on the write pool, used inside transactions
	insertCertificate   *sql.Stmt // on the write pool, used inside transactions
	insertOutbox        *sql.Stmt // on the write pool, used inside transactions
	claimOutbox         *sql.Stmt // on the write pool, a statement of its own (ClaimOutbox)
	// insertAnsweredWithCertificate writes a message and one certificate in one statement
	// (PostgreSQL only: a statement is atomic, and one round trip replaces four).
	insertAnsweredWithCertificate *sql.Stmt
	// The ca.issue events (see issueChain): the chain's head, an event's insert, and the
	// append lock (PostgreSQL only).
	auditHead, insertAudit, auditLock *sql.Stmt
	// The savepoint statements of a group commit.
	savepoint, rollbackToSavepoint, releaseSavepoint *sql.Stmt
}

// The column lists of the per-request statements, declared once: the statements below are
// built from them, the argument and scan-target lists follow their order, and
// hotcolumns_test.go checks them against the gorm models (a column added to a model, or
// renamed, fails that test until the lists follow). Written only here, at initialisation.
var (
	// requestHolderColumns are the holder's columns RequestHolderByFingerprint reads (alias h).
	requestHolderColumns = []string{"id", "country", "mnemonic", "role", "status", "tls_fingerprint", "ip_ranges", "rights"}
	// messageAnswerColumns are the messages columns MessageAnswerByOriginator reads.
	messageAnswerColumns = []string{"id", "state", "return_code", "result"}
	// messageInsertColumns, certificateInsertColumns and outboxInsertColumns are every
	// column of their table but the generated id, in the order of messageArgs,
	// certificateArgs and outboxArgs.
	messageInsertColumns = []string{"originator", "message_id", "operation", "request", "holder_id", "protocol",
		"response_url", "approval", "decided_by", "direction", "peer", "parent_id", "state", "return_code", "result",
		"created_at", "updated_at"}
	certificateInsertColumns = []string{"holder_id", "issuer_id", "chr", "car", "role", "not_before", "not_after",
		"status", "raw", "key_sha256", "created_at"}
	outboxInsertColumns = []string{"message_row_id", "kind", "target_url", "payload", "attempts", "next_attempt_at",
		"locked_by", "locked_until", "last_error", "state", "created_at", "updated_at"}
	// outboxColumns are the columns ClaimOutbox returns, in the order of outboxScanTargets.
	outboxColumns = append([]string{"id"}, outboxInsertColumns...)
)

var (
	// The holder, its newest certificate's status (the suspension rule) and its current
	// certificate (the newest valid one), all of the holder's own role.
	sqlHolderByFingerprint = `SELECT ` + columnList("h.", requestHolderColumns) + `,
	COALESCE(n.status, ''), c.id, c.chr, c.raw
FROM holders h
LEFT JOIN certificates n ON n.id = (SELECT id FROM certificates WHERE holder_id = h.id AND role = h.role ORDER BY not_after DESC, id DESC LIMIT 1)
LEFT JOIN certificates c ON c.id = (SELECT id FROM certificates WHERE holder_id = h.id AND role = h.role AND status = 'valid' ORDER BY not_after DESC, id DESC LIMIT 1)
WHERE h.tls_fingerprint = ? AND h.tls_fingerprint <> ''`
	sqlMessageByOriginator = `SELECT ` + columnList("", messageAnswerColumns) + ` FROM messages
WHERE originator = ? AND message_id = ? AND message_id <> '' ORDER BY id LIMIT 1`
	sqlInsertMessage     = insertReturningID(Message{}.TableName(), messageInsertColumns)
	sqlInsertCertificate = insertReturningID(Certificate{}.TableName(), certificateInsertColumns)
	sqlInsertOutbox      = insertReturningID(OutboxItem{}.TableName(), outboxInsertColumns)
	// sqlClaimOutbox leases the oldest due item in one statement (%s: the row lock that lets
	// PostgreSQL's concurrent claims skip each other's candidates).
	sqlClaimOutbox = `UPDATE outbox SET locked_by = ?, locked_until = ?, updated_at = ?
WHERE id = (SELECT id FROM outbox WHERE state = 'pending' AND next_attempt_at <= ?
	AND (locked_until IS NULL OR locked_until < ?) ORDER BY next_attempt_at, id LIMIT 1%s)
RETURNING ` + columnList("", outboxColumns)
	// Data-modifying WITH clauses always run to completion, referenced or not.
	sqlInsertAnsweredWithCertificate = `WITH m AS (` + sqlInsertMessage + `),
c AS (` + sqlInsertCertificate + `)
SELECT (SELECT id FROM m), (SELECT id FROM c)`
)

// columnList joins column names, each with prefix (a table alias and dot, or empty).
func columnList(prefix string, cols []string) string {
	return prefix + strings.Join(cols, ", "+prefix)
}

// insertReturningID is an INSERT of cols into table, one placeholder per column, returning
// the new row's id.
func insertReturningID(table string, cols []string) string {
	return "INSERT INTO " + table + " (" + columnList("", cols) + ")\nVALUES (?" +
		strings.Repeat(", ?", len(cols)-1) + ") RETURNING id"
}

// rebind rewrites ? placeholders as $1, $2, ... for PostgreSQL (the statements above hold
// no literal question marks).
func rebind(dialect, q string) string {
	if dialect != DialectPostgres {
		return q
	}
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// prepareHot prepares the per-request statements: reads on read, writes on write.
func prepareHot(ctx context.Context, dialect string, read, write *sql.DB) (*hotStatements, error) {
	h := &hotStatements{}
	for _, p := range []struct {
		db   *sql.DB
		q    string
		stmt **sql.Stmt
	}{
		{read, sqlHolderByFingerprint, &h.holderByFingerprint},
		{read, sqlMessageByOriginator, &h.messageByOriginator},
		{write, sqlInsertMessage, &h.insertMessage},
		{write, sqlInsertCertificate, &h.insertCertificate},
		{write, sqlInsertOutbox, &h.insertOutbox},
		{write, sqlAuditHead, &h.auditHead},
		{write, sqlInsertAudit, &h.insertAudit},
	} {
		stmt, err := p.db.PrepareContext(ctx, rebind(dialect, p.q))
		if err != nil {
			h.close()
			return nil, fmt.Errorf("store: prepare: %w", err)
		}
		*p.stmt = stmt
	}
	lock := ""
	if dialect == DialectPostgres {
		lock = " FOR UPDATE SKIP LOCKED"
	}
	stmt, err := write.PrepareContext(ctx, rebind(dialect, fmt.Sprintf(sqlClaimOutbox, lock)))
	if err != nil {
		h.close()
		return nil, fmt.Errorf("store: prepare: %w", err)
	}
	h.claimOutbox = stmt
	more := map[string]**sql.Stmt{
		"SAVEPOINT request":             &h.savepoint,
		"ROLLBACK TO SAVEPOINT request": &h.rollbackToSavepoint,
		"RELEASE SAVEPOINT request":     &h.releaseSavepoint,
	}
	if dialect == DialectPostgres {
		more[rebind(dialect, sqlInsertAnsweredWithCertificate)] = &h.insertAnsweredWithCertificate
		more[rebind(dialect, sqlAuditLock)] = &h.auditLock
	}
	for q, dst := range more {
		stmt, err := write.PrepareContext(ctx, q)
		if err != nil {
			h.close()
			return nil, fmt.Errorf("store: prepare: %w", err)
		}
		*dst = stmt
	}
	return h, nil
}

func (h *hotStatements) close() {
	for _, s := range []*sql.Stmt{h.holderByFingerprint, h.messageByOriginator, h.insertMessage, h.insertCertificate,
		h.insertOutbox, h.claimOutbox, h.insertAnsweredWithCertificate, h.savepoint, h.rollbackToSavepoint, h.releaseSavepoint,
		h.auditHead, h.insertAudit, h.auditLock} {
		if s != nil {
			_ = s.Close()
		}
	}
}

// RequestHolder is a holder as the per-request path reads it: the holder (without its
// timestamps), the status of its newest certificate of its own role, and its current
// certificate (the newest valid one of its own role, expired or not).
type RequestHolder struct {
	Holder Holder
	// NewestStatus is the status of the newest certificate ("" when it has none).
	NewestStatus CertStatus
	// Current is the current certificate (ID, CHR and Raw only), or nil.
	Current *Certificate
}

// RequestHolderByFingerprint reads the holder registered with a TLS client certificate's
// fingerprint, with its newest and current certificates, in one statement; ErrNotFound when
// no holder has that fingerprint.
func (s *Store) RequestHolderByFingerprint(ctx context.Context, fingerprint string) (*RequestHolder, error) {
	fp := strings.ToLower(strings.TrimSpace(fingerprint))
	if fp == "" {
		return nil, fmt.Errorf("store: holder by fingerprint: %w", ErrNotFound)
	}
	var (
		rh        RequestHolder
		h         = &rh.Holder
		newest    string
		curID     sql.NullInt64
		curCHR    sql.NullString
		curRaw    []byte
		rowErrCtx = "request holder by fingerprint"
	)
	err := s.hot.holderByFingerprint.QueryRowContext(ctx, fp).Scan(append(requestHolderScanTargets(h),
		&newest, &curID, &curCHR, &curRaw)...)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("store: %s: %w", rowErrCtx, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("store: %s: %w", rowErrCtx, err)
	}
	rh.NewestStatus = CertStatus(newest)
	if curID.Valid {
		hid := h.ID
		rh.Current = &Certificate{ID: curID.Int64, HolderID: &hid, CHR: curCHR.String, Role: h.Role, Status: CertValid, Raw: curRaw}
	}
	return &rh, nil
}

// MessageAnswer is what the per-request path needs of an earlier message: its row ID,
// state, return code and result.
type MessageAnswer struct {
	ID         int64
	State      MessageState
	ReturnCode string
	Result     []byte
}

// MessageAnswerByOriginator returns the state and answer of the message an originator sent
// with the given messageID, or ErrNotFound.
func (s *Store) MessageAnswerByOriginator(ctx context.Context, originator, messageID string) (*MessageAnswer, error) {
	var a MessageAnswer
	err := s.hot.messageByOriginator.QueryRowContext(ctx, originator, messageID).Scan(a.scanTargets()...)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("store: message answer by originator: %w", ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("store: message answer by originator: %w", err)
	}
	return &a, nil
}

// requestHolderScanTargets are the fields of h in the order of requestHolderColumns (the
// string-typed ones as plain strings, which database/sql assigns without reflection).
func requestHolderScanTargets(h *Holder) []any {
	return []any{&h.ID, &h.Country, &h.Mnemonic, (*string)(&h.Role), (*string)(&h.Status), &h.TLSFingerprint, &h.IPRanges, &h.Rights}
}

// scanTargets are the fields of a in the order of messageAnswerColumns.
func (a *MessageAnswer) scanTargets() []any {
	return []any{&a.ID, (*string)(&a.State), &a.ReturnCode, &a.Result}
}

// outboxScanTargets are the fields of o in the order of outboxColumns.
func outboxScanTargets(o *OutboxItem) []any {
	return []any{&o.ID, &o.MessageRowID, &o.Kind, &o.TargetURL, &o.Payload, &o.Attempts, &o.NextAttemptAt,
		&o.LockedBy, &o.LockedUntil, &o.LastError, &o.State, &o.CreatedAt, &o.UpdatedAt}
}

// messageArgs, outboxArgs and certificateArgs are the values of a row in the order of
// messageInsertColumns, outboxInsertColumns and certificateInsertColumns.
func messageArgs(m *Message) []any {
	return []any{m.Originator, m.MessageID, m.Operation, m.Request, m.HolderID, m.Protocol,
		m.ResponseURL, string(m.Approval), m.DecidedBy, string(m.Direction), m.Peer, m.ParentID,
		string(m.State), m.ReturnCode, m.Result, m.CreatedAt, m.UpdatedAt}
}

func outboxArgs(o *OutboxItem) []any {
	return []any{o.MessageRowID, string(o.Kind), o.TargetURL, o.Payload, o.Attempts, o.NextAttemptAt,
		o.LockedBy, o.LockedUntil, o.LastError, string(o.State), o.CreatedAt, o.UpdatedAt}
}

func certificateArgs(c *Certificate) []any {
	return []any{c.HolderID, c.IssuerID, c.CHR, c.CAR, string(c.Role), c.NotBefore, c.NotAfter,
		string(c.Status), c.Raw, c.KeySHA256, c.CreatedAt}
}

// duplicateOr reports a violation of the messages' unique (originator, messageID) as
// ErrDuplicateMessage, and returns other errors as they are.
func duplicateOr(err error, m *Message) error {
	if err != nil && isDuplicateMessage(err) {
		return fmt.Errorf("%w: originator %q messageID %q", ErrDuplicateMessage, m.Originator, m.MessageID)
	}
	return err
}

// insertAccepted writes a message with the certificates issued for it and the outbox item
// that processes or delivers it (either may be absent) inside tx. The ca.issue events of
// the certificates signed here are the caller's (commitBatch: issueChain).
func (h *hotStatements) insertAccepted(ctx context.Context, tx *sql.Tx, j *acceptJob) error {
	t := now()
	m := j.m
	m.CreatedAt, m.UpdatedAt = t, t
	if len(j.certs) == 1 && j.out == nil && h.insertAnsweredWithCertificate != nil {
		// PostgreSQL: the message and its certificate in one round trip.
		c := j.certs[0]
		c.CreatedAt = t
		err := tx.StmtContext(ctx, h.insertAnsweredWithCertificate).QueryRowContext(ctx, append(messageArgs(m), certificateArgs(c)...)...).Scan(&m.ID, &c.ID)
		if err != nil {
			return duplicateOr(duplicateCertificateOr(err, c), m)
		}
		return nil
	}
	if err := tx.StmtContext(ctx, h.insertMessage).QueryRowContext(ctx, messageArgs(m)...).Scan(&m.ID); err != nil {
		return duplicateOr(err, m)
	}
	for _, c := range j.certs {
		c.CreatedAt = t
		if err := tx.StmtContext(ctx, h.insertCertificate).QueryRowContext(ctx, certificateArgs(c)...).Scan(&c.ID); err != nil {
			return duplicateCertificateOr(err, c)
		}
	}
	if o := j.out; o != nil {
		if o.MessageRowID == nil {
			id := m.ID
			o.MessageRowID, j.linked = &id, true
		}
		o.CreatedAt, o.UpdatedAt = t, t
		if err := tx.StmtContext(ctx, h.insertOutbox).QueryRowContext(ctx, outboxArgs(o)...).Scan(&o.ID); err != nil {
			return err
		}
	}
	return nil
}

// insertAnsweredAtOnce writes an answered message and at most one certificate, not one
// signed here (its audit event needs a transaction), in a single statement (PostgreSQL),
// which commits on its own. Row IDs are reset when it fails.
func (h *hotStatements) insertAnsweredAtOnce(ctx context.Context, m *Message, certs []*Certificate) error {
	t := now()
	m.CreatedAt, m.UpdatedAt = t, t
	if len(certs) > 1 || (len(certs) == 1 && certs[0].Issued != nil) {
		return fmt.Errorf("store: insert answered at once: %d certificates, or one signed here", len(certs))
	}
	var err error
	if len(certs) == 0 {
		err = h.insertMessage.QueryRowContext(ctx, messageArgs(m)...).Scan(&m.ID)
	} else {
		c := certs[0]
		c.CreatedAt = t
		err = h.insertAnsweredWithCertificate.QueryRowContext(ctx, append(messageArgs(m), certificateArgs(c)...)...).Scan(&m.ID, &c.ID)
	}
	if err != nil {
		m.ID = 0
		for _, c := range certs {
			c.ID = 0
		}
		if len(certs) > 0 {
			err = duplicateCertificateOr(err, certs[0])
		}
	}
	return duplicateOr(err, m)
}
