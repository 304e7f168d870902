package ops

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"

	"eacgate/cvc"
	"eacgate/store"
	"eacgate/trust"
)

// The critical tasks' names for the key operations and the account lifecycle (the same
// actions the role matrix names).
const (
	TaskCVCAInit     = ActionCVCAInit
	TaskCVCARollover = ActionCVCARollover
	// TaskOperatorSetRole, TaskOperatorEnable and TaskAPIClientEnable are the account
	// lifecycle's critical tasks (their executors: registerAccountExecutors).
	TaskOperatorSetRole = ActionOperatorRole
	TaskOperatorEnable  = ActionOperatorEnable
	TaskAPIClientEnable = ActionAPIClientEnable
)

var (
	raRoles    = []store.OperatorRole{store.RoleRAOperator}
	raApprover = []store.OperatorRole{store.RoleRAOperator}
	adminRoles = []store.OperatorRole{store.RoleSystemAdministrator}
	caRoles    = []store.OperatorRole{store.RoleCAOperator}
)

// Tasks are the critical tasks of the two-person principle (TR-03139 5.2) by name: a new
// map each call (no shared state).
func Tasks() map[Action]*Task {
	ts := []*Task{
		defineTask(ActionHolderRegister, raRoles, raApprover, HolderRegistration.sentence, HolderRegistration.run),
		defineTask(ActionHolderReinstate, raRoles, raApprover, holderStatusSentence("Reinstate"), holderStatusRun(ActionHolderReinstate)),
		defineTask(ActionHolderRevoke, raRoles, raApprover, holderStatusSentence("Revoke"), holderStatusRun(ActionHolderRevoke)),
		defineTask(ActionCertificateReinstate, raRoles, raApprover, certificateStatusSentence("Reinstate"), certificateStatusRun(ActionCertificateReinstate)),
		defineTask(ActionCertificateRevoke, raRoles, raApprover, certificateStatusSentence("Revoke"), certificateStatusRun(ActionCertificateRevoke)),
		defineTask(ActionPartnerRegister, raRoles, raApprover, PartnerRegistrationParams.sentence, PartnerRegistrationParams.run),
		defineTask(ActionPartnerReinstate, raRoles, raApprover, PartnerReinstatement.sentence, PartnerReinstatement.run),
		defineTask(ActionPartnerDVAdd, raRoles, raApprover, PartnerDVRegistration.sentence, PartnerDVRegistration.run),
		defineTask(ActionTrustAdd, raRoles, raApprover, TrustAnchor.sentence, TrustAnchor.run),
		defineTask(ActionOperatorAdd, adminRoles, adminRoles, OperatorRegistration.sentence, OperatorRegistration.run),
		defineTask(ActionAPIClientAdd, adminRoles, adminRoles, APIClientRegistration.sentence, APIClientRegistration.run),
		defineTask[OperatorRoleChange](TaskOperatorSetRole, adminRoles, adminRoles, OperatorRoleChange.sentence, nil),
		defineTask[AccountEnable](TaskOperatorEnable, adminRoles, adminRoles, accountEnableSentence("operator"), nil),
		defineTask[AccountEnable](TaskAPIClientEnable, adminRoles, adminRoles, accountEnableSentence("emCA API client"), nil),
		keyTask(TaskCVCAInit, "Create the CVCA", KeyOperations.InitCVCA),
		keyTask(TaskCVCARollover, "Roll the CVCA over", KeyOperations.RolloverCVCA),
	}
	registerAccountExecutors(ts)
	m := make(map[Action]*Task, len(ts))
	for _, t := range ts {
		m[t.Name] = t
	}
	return m
}

// TaskNames are the critical tasks' names, sorted.
func TaskNames() []string {
	var out []string
	for n := range Tasks() {
		out = append(out, string(n))
	}
	slices.Sort(out)
	return out
}

// registerAccountExecutors sets the executors of the account lifecycle's critical tasks
// (ops/accounts.go).
func registerAccountExecutors(ts []*Task) {
	setExecutor(ts, TaskOperatorSetRole, func(p OperatorRoleChange, ctx context.Context, s *Service, a Actor) (any, error) {
		return nil, s.SetOperatorRole(ctx, a, p.OperatorID, p.Role)
	})
	setExecutor(ts, TaskOperatorEnable, func(p AccountEnable, ctx context.Context, s *Service, a Actor) (any, error) {
		return nil, s.EnableOperator(ctx, a, p.ID)
	})
	setExecutor(ts, TaskAPIClientEnable, func(p AccountEnable, ctx context.Context, s *Service, a Actor) (any, error) {
		return nil, s.EnableAPIClient(ctx, a, p.ID)
	})
}

// setExecutor sets the executor of task name among ts (parameters P as declared).
func setExecutor[P any](ts []*Task, name Action, execute func(P, context.Context, *Service, Actor) (any, error)) {
	for _, t := range ts {
		if t.Name == name {
			t.execute = defineTask(name, nil, nil, func(P) string { return "" }, execute).execute
		}
	}
}

// HolderRegistration registers a DV (or a CVCA or SPOC holder): registering a terminal is
// not critical (RegisterHolder at once).
type HolderRegistration struct {
	Country        string     `json:"country"`
	Mnemonic       string     `json:"mnemonic"`
	Role           store.Role `json:"role"`
	TLSFingerprint string     `json:"tls_fingerprint,omitempty"`
	IPRanges       string     `json:"ip_ranges,omitempty"`
}

// Holder is the holder the registration creates.
func (p HolderRegistration) Holder() *store.Holder {
	return &store.Holder{Country: p.Country, Mnemonic: p.Mnemonic, Role: p.Role, Status: store.HolderActive,
		TLSFingerprint: p.TLSFingerprint, IPRanges: p.IPRanges}
}

func (p HolderRegistration) sentence() string {
	s := fmt.Sprintf("Register %s%s as %s", p.Country, p.Mnemonic, p.Role)
	if p.TLSFingerprint != "" {
		s += ", TLS certificate SHA-256 " + p.TLSFingerprint
	}
	if p.IPRanges != "" {
		s += ", from " + p.IPRanges
	}
	return s + "."
}

func (p HolderRegistration) check() error { return cvc.CheckHolderName(p.Country, p.Mnemonic) }

func (p HolderRegistration) run(ctx context.Context, s *Service, a Actor) (any, error) {
	h := p.Holder()
	if err := s.RegisterHolder(ctx, a, h); err != nil {
		return nil, err
	}
	return h, nil
}

// CriticalHolderRole reports whether registering or reinstating a holder of role r is a
// critical task: every role but terminal.
func CriticalHolderRole(r store.Role) bool { return r != store.RoleTerminal }

// HolderStatusChange reinstates or revokes holder HolderID, named Holder (its country and
// mnemonic, checked again when it runs).
type HolderStatusChange struct {
	HolderID int64  `json:"holder_id"`
	Holder   string `json:"holder"`
	Reason   string `json:"reason"`
}

func holderStatusSentence(verb string) func(HolderStatusChange) string {
	return func(p HolderStatusChange) string {
		return fmt.Sprintf("%s holder %d (%s), reason: %q.", verb, p.HolderID, p.Holder, p.Reason)
	}
}

func holderStatusRun(action Action) func(HolderStatusChange, context.Context, *Service, Actor) (any, error) {
	return func(p HolderStatusChange, ctx context.Context, s *Service, a Actor) (any, error) {
		h, err := s.Store.HolderByID(ctx, p.HolderID)
		if err != nil {
			return nil, err
		}
		if h.Country+h.Mnemonic != p.Holder {
			return nil, fmt.Errorf("%w: holder %d is %s%s, not %s", ErrInvalidParameters, p.HolderID, h.Country, h.Mnemonic, p.Holder)
		}
		if action == ActionHolderRevoke {
			return s.RevokeHolder(ctx, a, p.HolderID, p.Reason)
		}
		return s.ReinstateHolder(ctx, a, p.HolderID, p.Reason)
	}
}

// NewHolderStatusChange is the change of holder h with reason.
func NewHolderStatusChange(h *store.Holder, reason string) HolderStatusChange {
	return HolderStatusChange{HolderID: h.ID, Holder: h.Country + h.Mnemonic, Reason: reason}
}

// CertificateStatusChange reinstates or revokes certificate CertificateID, of holder
// reference CHR (checked again when it runs).
type CertificateStatusChange struct {
	CertificateID int64  `json:"certificate_id"`
	CHR           string `json:"chr"`
	Reason        string `json:"reason"`
}

func certificateStatusSentence(verb string) func(CertificateStatusChange) string {
	return func(p CertificateStatusChange) string {
		return fmt.Sprintf("%s certificate %d (%s), reason: %q.", verb, p.CertificateID, p.CHR, p.Reason)
	}
}

func certificateStatusRun(action Action) func(CertificateStatusChange, context.Context, *Service, Actor) (any, error) {
	return func(p CertificateStatusChange, ctx context.Context, s *Service, a Actor) (any, error) {
		c, err := s.Store.CertificateByID(ctx, p.CertificateID)
		if err != nil {
			return nil, err
		}
		if c.CHR != p.CHR {
			return nil, fmt.Errorf("%w: certificate %d is %s, not %s", ErrInvalidParameters, p.CertificateID, c.CHR, p.CHR)
		}
		if action == ActionCertificateRevoke {
			return s.RevokeCertificate(ctx, a, p.CertificateID, p.Reason)
		}
		return s.ReinstateCertificate(ctx, a, p.CertificateID, p.Reason)
	}
}

// CriticalCertificateReinstate reports whether reinstating c is critical: a DV's (or any
// but a terminal's) certificate.
func CriticalCertificateReinstate(c *store.Certificate) bool { return c.Role != store.RoleTerminal }

// PartnerRegistrationParams is a PartnerRegistration as a proposal keeps it (the CVCA
// certificates encoded).
type PartnerRegistrationParams struct {
	Country        string   `json:"country"`
	URL            string   `json:"url"`
	SPOCRootPEM    string   `json:"spoc_root_pem"`
	SPOCRootSHA256 string   `json:"spoc_root_sha256"`
	CVCA           [][]byte `json:"cvca"`
	CVCASHA256     []string `json:"cvca_sha256"`
	Rights         string   `json:"rights,omitempty"`
}

// Params are r as a proposal keeps them.
func (r PartnerRegistration) Params() PartnerRegistrationParams {
	p := PartnerRegistrationParams{Country: r.Country, URL: r.URL, SPOCRootPEM: string(r.SPOCRootPEM), SPOCRootSHA256: r.SPOCRootSHA256,
		CVCASHA256: r.CVCASHA256, Rights: r.Rights}
	for _, c := range r.CVCA {
		p.CVCA = append(p.CVCA, c.Raw)
	}
	return p
}

func (p PartnerRegistrationParams) registration() (PartnerRegistration, error) {
	r := PartnerRegistration{Country: p.Country, URL: p.URL, SPOCRootPEM: []byte(p.SPOCRootPEM), SPOCRootSHA256: p.SPOCRootSHA256,
		CVCASHA256: p.CVCASHA256, Rights: p.Rights}
	for _, raw := range p.CVCA {
		c, err := cvc.ParseCertificate(raw)
		if err != nil {
			return r, fmt.Errorf("%w: CVCA certificate: %v", ErrInvalidParameters, err)
		}
		r.CVCA = append(r.CVCA, c)
	}
	return r, nil
}

func (p PartnerRegistrationParams) sentence() string {
	s := fmt.Sprintf("Register partner country %s: SPOC %s, SPOC root SHA-256 %s, CVCA certificates", p.Country, p.URL, p.SPOCRootSHA256)
	r, err := p.registration()
	if err != nil {
		return s + " (unreadable)."
	}
	for _, c := range r.CVCA {
		s += fmt.Sprintf(" %s (SHA-256 %s)", c.CHR, trust.CertificateSHA256(c))
	}
	if p.Rights != "" {
		s += ", rights " + p.Rights
	}
	return s + "."
}

func (p PartnerRegistrationParams) check() error {
	r, err := p.registration()
	if err != nil {
		return err
	}
	_, err = r.check()
	return err
}

func (p PartnerRegistrationParams) run(ctx context.Context, s *Service, a Actor) (any, error) {
	r, err := p.registration()
	if err != nil {
		return nil, err
	}
	return s.RegisterPartner(ctx, a, r)
}

// PartnerReinstatement reinstates a suspended partner country.
type PartnerReinstatement struct {
	Country string `json:"country"`
	Reason  string `json:"reason"`
}

func (p PartnerReinstatement) sentence() string {
	return fmt.Sprintf("Reinstate partner country %s, reason: %q.", p.Country, p.Reason)
}

func (p PartnerReinstatement) run(ctx context.Context, s *Service, a Actor) (any, error) {
	return nil, s.ReinstatePartner(ctx, a, p.Country, p.Reason)
}

// PartnerDVRegistration puts a DV on a partner's DV list (AddPartnerDV).
type PartnerDVRegistration struct {
	Country         string `json:"country"`
	Mnemonic        string `json:"mnemonic"`
	MaintainingCVCA string `json:"maintaining_cvca,omitempty"`
}

func (p PartnerDVRegistration) sentence() string {
	s := fmt.Sprintf("Register DV %s%s of partner %s", p.Country, p.Mnemonic, p.Country)
	if p.MaintainingCVCA != "" {
		s += ", maintained by " + p.MaintainingCVCA
	}
	return s + "."
}

func (p PartnerDVRegistration) check() error {
	if p.Mnemonic == "" || len(p.Mnemonic) > 9 || (p.MaintainingCVCA != "" && !strings.HasPrefix(p.MaintainingCVCA, p.Country)) {
		return fmt.Errorf("%w: DV %q of %s maintained by %q", ErrInvalidRegistration, p.Mnemonic, p.Country, p.MaintainingCVCA)
	}
	return nil
}

func (p PartnerDVRegistration) run(ctx context.Context, s *Service, a Actor) (any, error) {
	return s.AddPartnerDV(ctx, a, p.Country, p.Mnemonic, p.MaintainingCVCA)
}

// TrustAnchor stores a CVCA certificate of another country (AddCVCACertificate): a first
// root confirmed by FormSHA256, or a link certificate.
type TrustAnchor struct {
	Certificate []byte `json:"certificate"`
	FormSHA256  string `json:"form_sha256,omitempty"`
}

// TrustAnchorResult is what a trust.add did.
type TrustAnchorResult struct {
	CHR   string `json:"chr"`
	Added bool   `json:"added"`
}

func (p TrustAnchor) sentence() string {
	c, err := cvc.ParseCertificate(p.Certificate)
	if err != nil {
		return "Add an unreadable CVCA certificate."
	}
	s := fmt.Sprintf("Trust CVCA certificate %s (CAR %s, SHA-256 %s, valid %s to %s)", c.CHR, c.CAR, trust.CertificateSHA256(c),
		c.EffectiveDate, c.ExpirationDate)
	if p.FormSHA256 != "" {
		s += " as a first root confirmed out of band"
	}
	return s + "."
}

func (p TrustAnchor) run(ctx context.Context, s *Service, a Actor) (any, error) {
	c, err := cvc.ParseCertificate(p.Certificate)
	if err != nil {
		return nil, fmt.Errorf("%w: certificate: %v", ErrInvalidParameters, err)
	}
	added, err := s.AddCVCACertificate(ctx, a, c, p.FormSHA256)
	if err != nil {
		return nil, err
	}
	return TrustAnchorResult{CHR: c.CHR, Added: added}, nil
}

// OperatorRegistration creates an operator account (its token as the SHA-256 the store
// keeps; the token itself was shown to the proposer once).
type OperatorRegistration struct {
	Name           string             `json:"name"`
	Role           store.OperatorRole `json:"role"`
	Person         string             `json:"person,omitempty"`
	TokenSHA256    string             `json:"token_sha256,omitempty"`
	TLSFingerprint string             `json:"tls_fingerprint,omitempty"`
	// ExpiresAt, when set, ends the token's validity.
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}

func (p OperatorRegistration) sentence() string {
	person := p.Person
	if person == "" {
		person = p.Name
	}
	s := fmt.Sprintf("Create operator %s (person %s) with role %s", p.Name, person, p.Role)
	if p.TokenSHA256 != "" {
		s += ", bearer token SHA-256 " + p.TokenSHA256
	}
	if p.TLSFingerprint != "" {
		s += ", TLS certificate SHA-256 " + p.TLSFingerprint
	}
	if p.ExpiresAt != nil {
		s += ", token valid until " + p.ExpiresAt.UTC().Format(time.RFC3339)
	}
	return s + "."
}

func (p OperatorRegistration) run(ctx context.Context, s *Service, a Actor) (any, error) {
	o := &store.Operator{Name: p.Name, Role: p.Role, Person: p.Person, TokenHash: p.TokenSHA256, TLSFingerprint: p.TLSFingerprint, ExpiresAt: p.ExpiresAt}
	if err := s.AddOperator(ctx, a, o); err != nil {
		return nil, err
	}
	return map[string]any{"id": o.ID, "name": o.Name, "role": o.Role, "person": o.Person}, nil
}

// APIClientRegistration creates an emCA API client (its AES key sealed by the keystore
// when the gateway has a wrapper, as the proposer's command prepared it).
type APIClientRegistration struct {
	UserName     string `json:"user_name"`
	EMKey        string `json:"em_key"`
	PasswordHash string `json:"password_hash"`
	AESKey       []byte `json:"aes_key"`
	KeyWrapped   bool   `json:"key_wrapped"`
	Certificate  []byte `json:"certificate"`
	IPRanges     string `json:"ip_ranges,omitempty"`
}

func (p APIClientRegistration) sentence() string {
	s := fmt.Sprintf("Create emCA API client %s (emKey %s), signing certificate SHA-256 %s", p.UserName, p.EMKey, sha256Hex(p.Certificate))
	if p.IPRanges != "" {
		s += ", from " + p.IPRanges
	}
	return s + "."
}

func (p APIClientRegistration) run(ctx context.Context, s *Service, a Actor) (any, error) {
	c := &store.APIClient{UserName: p.UserName, EMKey: p.EMKey, PasswordHash: p.PasswordHash, AESKey: p.AESKey,
		KeyWrapped: p.KeyWrapped, Certificate: p.Certificate, IPRanges: p.IPRanges}
	if err := s.AddAPIClient(ctx, a, c); err != nil {
		return nil, err
	}
	return map[string]any{"id": c.ID, "user_name": c.UserName, "em_key": c.EMKey}, nil
}

// OperatorRoleChange gives operator OperatorID (named Name) role Role.
type OperatorRoleChange struct {
	OperatorID int64              `json:"operator_id"`
	Name       string             `json:"name"`
	Role       store.OperatorRole `json:"role"`
}

func (p OperatorRoleChange) sentence() string {
	return fmt.Sprintf("Change the role of operator %d (%s) to %s.", p.OperatorID, p.Name, p.Role)
}

// AccountEnable enables the operator or API client ID (named Name).
type AccountEnable struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
}

func accountEnableSentence(kind string) func(AccountEnable) string {
	return func(p AccountEnable) string { return fmt.Sprintf("Enable %s %d (%s).", kind, p.ID, p.Name) }
}

// KeyOperations runs the CVCA's key operations once approved (the cvca package through
// the gateway; ops cannot import it). The ceremony names who proposed and who witnessed.
type KeyOperations interface {
	InitCVCA(ctx context.Context, c KeyCeremony, p CVCAKeyParams) (*cvc.Certificate, error)
	RolloverCVCA(ctx context.Context, c KeyCeremony, p CVCAKeyParams) (*cvc.Certificate, error)
}

// KeyCeremony is who asked for a key operation: the proposal (0: run at once at bootstrap
// or with quorum 1), its proposer and the approvers who witnessed it, and the actor that
// completed it.
type KeyCeremony struct {
	Proposal  int64
	Proposer  string
	Witnesses []string
	Actor     Actor
}

// CVCAKeyParams are a CVCA key operation's parameters, as the CLI's init cvca and cvca
// rollover take them (names resolved by the implementation).
type CVCAKeyParams struct {
	CHR     string `json:"chr"`
	Alg     string `json:"alg,omitempty"`
	Curve   string `json:"curve,omitempty"`
	RSABits int    `json:"rsa_bits,omitempty"`
	Years   int    `json:"years"`
}

// CVCAKeyResult is what a key operation made.
type CVCAKeyResult struct {
	CHR    string `json:"chr"`
	CAR    string `json:"car"`
	SHA256 string `json:"sha256"`
}

func keyTask(name Action, verb string, op func(KeyOperations, context.Context, KeyCeremony, CVCAKeyParams) (*cvc.Certificate, error)) *Task {
	t := defineTask(name, caRoles, caRoles, func(p CVCAKeyParams) string {
		s := fmt.Sprintf("%s: new key and certificate %s, valid %d years", verb, p.CHR, p.Years)
		if p.Alg != "" {
			s += ", algorithm " + p.Alg
		}
		if p.Curve != "" {
			s += ", curve " + p.Curve
		}
		if p.RSABits != 0 {
			s += fmt.Sprintf(", RSA %d bits", p.RSABits)
		}
		return s + "."
	}, func(p CVCAKeyParams, ctx context.Context, s *Service, a Actor) (any, error) {
		c := KeyCeremony{Proposal: a.Proposal, Proposer: a.String(), Actor: a}
		if a.Proposal != 0 {
			sp, err := s.Store.ProposalByID(ctx, a.Proposal)
			if err != nil {
				return nil, err
			}
			c.Proposer = sp.ProposerName
			for _, ap := range sp.Approvals {
				c.Witnesses = append(c.Witnesses, ap.OperatorName)
			}
		}
		cert, err := op(s.Keys, ctx, c, p)
		if err != nil {
			return nil, err
		}
		return CVCAKeyResult{CHR: cert.CHR, CAR: cert.CAR, SHA256: trust.CertificateSHA256(cert)}, nil
	})
	t.Key = true
	return t
}

func sha256Hex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}
