package store

import (
	"time"

	"eacgate/cvc"
)

// Role is the PKI role of a holder or certificate.
type Role string

// Roles.
const (
	RoleCVCA       Role = "cvca"
	RoleDVDomestic Role = "dv_domestic"
	RoleDVForeign  Role = "dv_foreign"
	RoleTerminal   Role = "terminal"
	RoleSPOC       Role = "spoc"
)

// Valid reports whether r is one of the defined roles.
func (r Role) Valid() bool {
	switch r {
	case RoleCVCA, RoleDVDomestic, RoleDVForeign, RoleTerminal, RoleSPOC:
		return true
	}
	return false
}

// CHAT is the role certificates of holders of role r carry in their CHAT; false for a SPOC,
// which holds no CV certificates. Role and cvc.Role are one vocabulary: the registry's names
// of the CHAT roles, plus the SPOC.
func (r Role) CHAT() (cvc.Role, bool) {
	switch r {
	case RoleCVCA:
		return cvc.RoleCVCA, true
	case RoleDVDomestic:
		return cvc.RoleDVDomestic, true
	case RoleDVForeign:
		return cvc.RoleDVForeign, true
	case RoleTerminal:
		return cvc.RoleTerminal, true
	}
	return 0, false
}

// RoleOf is the holder role of CHAT role r.
func RoleOf(r cvc.Role) Role {
	switch r {
	case cvc.RoleCVCA:
		return RoleCVCA
	case cvc.RoleDVDomestic:
		return RoleDVDomestic
	case cvc.RoleDVForeign:
		return RoleDVForeign
	}
	return RoleTerminal
}

// HolderStatus is the administrative status of a holder.
type HolderStatus string

// Holder statuses. Revoked is final.
const (
	HolderActive    HolderStatus = "active"
	HolderSuspended HolderStatus = "suspended"
	HolderRevoked   HolderStatus = "revoked"
)

// Valid reports whether st is a defined holder status.
func (st HolderStatus) Valid() bool {
	return st == HolderActive || st == HolderSuspended || st == HolderRevoked
}

// CertStatus is the status of a certificate in this gateway's records.
type CertStatus string

// Certificate statuses. Revoked is final.
const (
	CertValid     CertStatus = "valid"
	CertSuspended CertStatus = "suspended"
	CertRevoked   CertStatus = "revoked"
)

// Valid reports whether st is a defined certificate status.
func (st CertStatus) Valid() bool {
	return st == CertValid || st == CertSuspended || st == CertRevoked
}

// MessageState is the processing state of an accepted message.
type MessageState string

// Message states.
const (
	MessageReceived   MessageState = "received"
	MessageProcessing MessageState = "processing"
	MessageAnswered   MessageState = "answered"
	MessageFailed     MessageState = "failed"
)

// Valid reports whether st is a defined message state.
func (st MessageState) Valid() bool {
	switch st {
	case MessageReceived, MessageProcessing, MessageAnswered, MessageFailed:
		return true
	}
	return false
}

// OutboxState is the delivery state of an outbox item.
type OutboxState string

// Outbox states.
const (
	// OutboxHeld waits for an operator's decision on its message (approve or reject).
	OutboxHeld    OutboxState = "held"
	OutboxPending OutboxState = "pending"
	OutboxDone    OutboxState = "done"
	OutboxDead    OutboxState = "dead"
)

// Valid reports whether st is a defined outbox state.
func (st OutboxState) Valid() bool {
	return st == OutboxHeld || st == OutboxPending || st == OutboxDone || st == OutboxDead
}

// OutboxKind says what a worker does with an outbox item.
type OutboxKind string

// Outbox kinds.
const (
	// OutboxDeliver posts Payload to TargetURL.
	OutboxDeliver OutboxKind = "deliver"
	// OutboxProcess processes the message first (issuing the certificate, or refusing), then
	// delivers the answer to TargetURL (SendCertificates); the payload is stored before the
	// first delivery attempt and every retry sends it unchanged.
	OutboxProcess OutboxKind = "process"
	// OutboxForward sends a request the SPOC could not forward at once to the foreign SPOC
	// again (the request is the outgoing message MessageRowID).
	OutboxForward OutboxKind = "forward"
)

// Approval is the operator's decision on a message held for approval.
type Approval string

// Approval values; the empty value means the message needs no approval.
const (
	ApprovalNone     Approval = ""
	ApprovalPending  Approval = "pending"
	ApprovalApproved Approval = "approved"
	ApprovalRejected Approval = "rejected"
)

// Direction tells requests we received from requests we sent.
type Direction string

// Directions.
const (
	Incoming Direction = "in"
	Outgoing Direction = "out"
)

// Holder is a registered communication partner or certificate holder: a domestic or foreign
// DV, a terminal, a foreign SPOC or CVCA.
type Holder struct {
	ID       int64        `gorm:"column:id;primaryKey"`
	Country  string       `gorm:"column:country"`
	Mnemonic string       `gorm:"column:mnemonic"`
	Role     Role         `gorm:"column:role"`
	Status   HolderStatus `gorm:"column:status"`
	// TLSFingerprint is the lower-case hex SHA-256 of the holder's TLS client certificate
	// (DER); unique when not empty.
	TLSFingerprint string `gorm:"column:tls_fingerprint"`
	// IPRanges is a comma-separated list of CIDR prefixes the holder may connect from
	// (empty: any).
	IPRanges string `gorm:"column:ip_ranges"`
	// Rights are the data groups ("dg3,dg4", NormalizePartnerRights) the holder's
	// certificates may grant, within its issuer's; empty: the issuer's policy.
	Rights    string    `gorm:"column:rights"`
	CreatedAt time.Time `gorm:"column:created_at"`
	UpdatedAt time.Time `gorm:"column:updated_at"`
}

// TableName implements gorm's tabler.
func (Holder) TableName() string { return "holders" }

// Certificate is a CV certificate known to the gateway: issued by it, received from a
// partner, or a trust anchor.
type Certificate struct {
	ID       int64  `gorm:"column:id;primaryKey"`
	HolderID *int64 `gorm:"column:holder_id"`
	// IssuerID links to the issuing certificate's row, when known.
	IssuerID *int64 `gorm:"column:issuer_id"`
	CHR      string `gorm:"column:chr"`
	CAR      string `gorm:"column:car"`
	Role     Role   `gorm:"column:role"`
	// NotBefore and NotAfter are the effective and expiration dates (UTC midnight).
	NotBefore time.Time  `gorm:"column:not_before"`
	NotAfter  time.Time  `gorm:"column:not_after"`
	Status    CertStatus `gorm:"column:status"`
	Raw       []byte     `gorm:"column:raw"`
	// KeySHA256 identifies the certified public key (see PublicKeySHA256); filled from Raw
	// on insertion when empty. A key is certified once, except in CVCA certificates (a
	// link certificate certifies the key of its self-signed twin).
	KeySHA256 string    `gorm:"column:key_sha256"`
	CreatedAt time.Time `gorm:"column:created_at"`
	// Issued, not a column, marks a certificate this gateway signed for a requester:
	// inserting it appends its ca.issue audit event in the same transaction.
	Issued *Issuance `gorm:"-"`
}

// TableName implements gorm's tabler.
func (Certificate) TableName() string { return "certificates" }

// Message is a request the gateway accepted. (Originator, MessageID) is unique when
// MessageID is not empty (synchronous requests may carry no messageID).
type Message struct {
	ID         int64  `gorm:"column:id;primaryKey"`
	Originator string `gorm:"column:originator"`
	MessageID  string `gorm:"column:message_id"`
	Operation  string `gorm:"column:operation"`
	Request    []byte `gorm:"column:request"`
	// HolderID is the registered sender of an incoming message (the applicant), or the
	// holder an outgoing request is for (our own DV).
	HolderID *int64 `gorm:"column:holder_id"`
	// Protocol is the SOAP namespace the request came in (or went out) with; callbacks are
	// sent in the same protocol version.
	Protocol string `gorm:"column:protocol"`
	// ResponseURL is where the asynchronous answer goes (empty: answered synchronously).
	ResponseURL string `gorm:"column:response_url"`
	// Approval and DecidedBy record an operator's decision on a held request.
	Approval  Approval `gorm:"column:approval"`
	DecidedBy string   `gorm:"column:decided_by"`
	// Direction is Incoming (default) or Outgoing; Peer names the partner an outgoing
	// request went to ("holder:<id>" or its URL).
	Direction Direction `gorm:"column:direction"`
	Peer      string    `gorm:"column:peer"`
	// ParentID links an outgoing request to the incoming one it forwards (SPOC relay).
	ParentID   *int64       `gorm:"column:parent_id"`
	State      MessageState `gorm:"column:state"`
	ReturnCode string       `gorm:"column:return_code"`
	Result     []byte       `gorm:"column:result"`
	CreatedAt  time.Time    `gorm:"column:created_at"`
	UpdatedAt  time.Time    `gorm:"column:updated_at"`
}

// TableName implements gorm's tabler.
func (Message) TableName() string { return "messages" }

// OutboxItem is one pending delivery (typically SendCertificates to a responseURL).
type OutboxItem struct {
	ID            int64       `gorm:"column:id;primaryKey"`
	MessageRowID  *int64      `gorm:"column:message_row_id"`
	Kind          OutboxKind  `gorm:"column:kind"`
	TargetURL     string      `gorm:"column:target_url"`
	Payload       []byte      `gorm:"column:payload"`
	Attempts      int         `gorm:"column:attempts"`
	NextAttemptAt time.Time   `gorm:"column:next_attempt_at"`
	LockedBy      string      `gorm:"column:locked_by"`
	LockedUntil   *time.Time  `gorm:"column:locked_until"`
	LastError     string      `gorm:"column:last_error"`
	State         OutboxState `gorm:"column:state"`
	CreatedAt     time.Time   `gorm:"column:created_at"`
	UpdatedAt     time.Time   `gorm:"column:updated_at"`
}

// TableName implements gorm's tabler.
func (OutboxItem) TableName() string { return "outbox" }

// AuditEvent is one entry of the append-only, hash-chained audit log.
type AuditEvent struct {
	// Seq numbers the events 1..n without gaps.
	Seq     int64     `gorm:"column:seq;primaryKey;autoIncrement:false"`
	At      time.Time `gorm:"column:at"`
	Actor   string    `gorm:"column:actor"`
	Action  string    `gorm:"column:action"`
	Target  string    `gorm:"column:target"`
	Source  string    `gorm:"column:source"`
	Outcome string    `gorm:"column:outcome"`
	// Details is a JSON document (or empty).
	Details string `gorm:"column:details"`
	// PrevHash is the previous event's Hash (64 zeros for the first event).
	PrevHash string `gorm:"column:prev_hash"`
	// Hash is the hex SHA-256 computed by (AuditEvent).ComputeHash.
	Hash string `gorm:"column:hash"`
	// MAC is the hex HMAC-SHA256 of Hash with the audit key (see AuditKey); empty for an
	// event appended by a store without one.
	MAC string `gorm:"column:mac"`
}

// TableName implements gorm's tabler.
func (AuditEvent) TableName() string { return "audit_events" }
