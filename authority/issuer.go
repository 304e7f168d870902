package authority

import (
	"bytes"
	"crypto"
	"fmt"
	"slices"
	"strings"
	"time"

	"eacgate/cvc"
	"eacgate/ecc"
)

// HolderStatus is the operator-controlled state of a registered holder.
type HolderStatus string

// Holder states. Revoked is final.
const (
	StatusActive    HolderStatus = "active"
	StatusSuspended HolderStatus = "suspended"
	StatusRevoked   HolderStatus = "revoked"
)

// Applicant is what the registry knows about the holder a request claims to come from.
type Applicant struct {
	Country  string // ISO 3166-1 alpha-2, the first two characters of every CHR of the holder
	Mnemonic string // holder mnemonic: the CHR minus country and the 5-character sequence number
	Role     cvc.Role
	Status   HolderStatus
	// Rights are the access rights the holder may be given (CHAT bits, role bits ignored);
	// nil means all of the issuer's rights.
	Rights []byte
	// Current is the holder's current certificate from this issuer (nil before the first one).
	// Renewals must be authenticated by it.
	Current *cvc.Certificate
	// ForeignCVCA is the CVCA certificate of the applicant's country whose key signed the
	// outer signature of the applicant's initial request, set only after the trust store
	// verified that signature (trust.Store.VerifyForeignRequest; TR-03139 Table 2 step 9: a
	// foreign DV's first request is authenticated by its domestic CVCA). Nil: an outer
	// signature must be by Current and is verified here.
	ForeignCVCA *cvc.Certificate
}

// Policy is an issuer's rules.
type Policy struct {
	// Validity is the certificate lifetime per role, in days including the effective day.
	Validity map[cvc.Role]int
	// Algorithms the requested keys may use. Empty means the issuer's own algorithm: DV and
	// terminal certificates carry no domain parameters, so their keys must be on the curve
	// of the CVCA above them anyway.
	Algorithms []cvc.Algorithm
	// MinRSABits is the smallest RSA key accepted (default 2048).
	MinRSABits int
}

// DefaultPolicy follows common national practice: DV certificates for three months, foreign
// DVs for one, terminals for one.
func DefaultPolicy() Policy {
	return Policy{Validity: map[cvc.Role]int{cvc.RoleDVDomestic: 90, cvc.RoleDVForeign: 30, cvc.RoleTerminal: 30}, MinRSABits: 2048}
}

// Issuer is a CA key with its certificate: a CVCA issuing DV certificates, or a DV issuing
// terminal certificates.
type Issuer struct {
	// Path is the issuer's certificate path, trust anchor first and the issuer's own current
	// certificate last (for a CVCA just its own certificate, or anchor and link certificates).
	Path []*cvc.Certificate
	// Signer is the private key of Path's last certificate (an hsm.Signer in production).
	Signer crypto.Signer
	// OwnCHRs are further references requests may name as inner CAR: the CHRs of the
	// issuer's previous keys, still accepted during a key rollover.
	OwnCHRs []string
	// OwnDomains are the EC curves of earlier keys named in OwnCHRs and not in Path, where
	// they differ from Domain (a DV whose CVCA rolled over to another curve): the keys of
	// the certificates they issued, which authenticate renewals, are on those curves.
	OwnDomains map[string]*ecc.Curve
	Policy     Policy
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Active, when set, is asked before every request is checked: nil when the issuer may
	// issue, an error wrapping ErrNotAccepted when an operator suspended or revoked its
	// own certificate or holder (any other error is internal).
	Active func() error
}

// Certificate returns the issuer's current certificate.
func (is *Issuer) Certificate() *cvc.Certificate { return is.Path[len(is.Path)-1] }

// Domain returns the EC curve the issuer's subordinates' keys must use (nil for RSA).
func (is *Issuer) Domain() *ecc.Curve { return cvc.Domain(is.Path) }

// domainUnder returns the EC curve of the keys certified by the issuer's certificate car
// (the current one or an earlier one): after a rollover to another curve, subordinates'
// current keys may be on the previous key's curve.
func (is *Issuer) domainUnder(car string) *ecc.Curve {
	for i, c := range is.Path {
		if c.CHR == car {
			return cvc.Domain(is.Path[:i+1])
		}
	}
	if d, ok := is.OwnDomains[car]; ok {
		return d
	}
	return is.Domain()
}

func (is *Issuer) now() time.Time {
	if is.Now != nil {
		return is.Now()
	}
	return time.Now()
}

// Check validates a request from app without issuing anything: holder status, CHR,
// algorithm and domain parameters, inner signature, and for renewals the outer signature by
// the holder's current certificate and that certificate's validity. The returned error
// wraps a sentinel CodeFor maps to the TR-03129 return code.
func (is *Issuer) Check(raw []byte, app Applicant) (*cvc.Request, error) {
	if err := is.checkApplicant(app); err != nil {
		return nil, err
	}
	req, err := cvc.ParseRequest(raw)
	if err != nil {
		return nil, err
	}
	if err := is.checkRequest(req, app); err != nil {
		return nil, err
	}
	return req, nil
}

// CheckParsed is Check for a request already parsed (cvc.ParseRequest).
func (is *Issuer) CheckParsed(req *cvc.Request, app Applicant) error {
	if err := is.checkApplicant(app); err != nil {
		return err
	}
	return is.checkRequest(req, app)
}

// checkApplicant checks what does not depend on the request: the issuer is set up, the
// holder is active and of a role this issuer certifies.
func (is *Issuer) checkApplicant(app Applicant) error {
	if len(is.Path) == 0 || is.Signer == nil {
		return fmt.Errorf("authority: issuer not configured")
	}
	if is.Active != nil {
		if err := is.Active(); err != nil {
			return err
		}
	}
	switch app.Status {
	case StatusActive:
	case StatusSuspended, StatusRevoked:
		return fmt.Errorf("%w: holder %s%s is %s", ErrNotAccepted, app.Country, app.Mnemonic, app.Status)
	default:
		return fmt.Errorf("%w: holder %s%s is not registered", ErrNotAccepted, app.Country, app.Mnemonic)
	}
	if issuer := is.Certificate(); !canIssue(issuer.Role(), app.Role) {
		return fmt.Errorf("%w: a %s does not issue %s certificates", ErrNotAccepted, issuer.Role(), app.Role)
	}
	return nil
}

// checkRequest checks a parsed request from app (see Check).
func (is *Issuer) checkRequest(req *cvc.Request, app Applicant) error {
	issuer := is.Certificate()
	if err := checkCHR(req.CHR, app); err != nil {
		return err
	}
	if req.CAR != "" && req.CAR != issuer.CHR && !slices.Contains(is.OwnCHRs, req.CAR) {
		return fmt.Errorf("%w: request is for %s, this issuer is %s", ErrNotAccepted, req.CAR, issuer.CHR)
	}
	if err := is.checkKey(req); err != nil {
		return err
	}
	domain := is.Domain()
	if err := req.VerifyInner(domain); err != nil {
		return err
	}
	now := is.now()
	switch {
	case req.Authenticated() && app.ForeignCVCA != nil:
		if err := checkForeignCVCA(req, app, now); err != nil {
			return err
		}
	case req.Authenticated():
		if app.Current == nil || req.OuterCAR != app.Current.CHR {
			return fmt.Errorf("%w: outer CAR %s is not the holder's current certificate", cvc.ErrOuterSignature, req.OuterCAR)
		}
		if err := req.VerifyOuterWith(app.Current, is.domainUnder(app.Current.CAR)); err != nil {
			return err
		}
		if !app.Current.ValidAt(now) {
			return fmt.Errorf("%w: the holder's certificate %s expired on %s", cvc.ErrExpired, app.Current.CHR, app.Current.ExpirationDate)
		}
		if app.Current.PublicKey.Equal(&req.PublicKey) {
			return fmt.Errorf("%w: the renewal reuses the current key", ErrNotAccepted)
		}
	case app.Current != nil && app.Current.ValidAt(now):
		return fmt.Errorf("%w: %s holds a valid certificate; renewals must be authenticated with it", ErrNotAccepted, app.Current.CHR)
	}
	if cur := app.Current; cur != nil && sequenceNotAbove(req.CHR, cur.CHR) {
		// TR-03110 numbers a holder's keys: a CHR names one certificate (the store keeps
		// (car, chr) unique), and a new key gets a higher sequence number.
		return fmt.Errorf("%w: CHR %s: the sequence number must be above the current certificate's (%s)", ErrNotAccepted, req.CHR, cur.CHR)
	}
	return nil
}

// checkForeignCVCA checks an initial request authenticated by the applicant's domestic CVCA
// (its signature verified by the trust store): the certificate is a CVCA certificate of the
// applicant's country named by the outer CAR, valid now, and the applicant holds no valid
// certificate from this issuer (which would make the request successive).
func checkForeignCVCA(req *cvc.Request, app Applicant, now time.Time) error {
	c := app.ForeignCVCA
	if c.Role() != cvc.RoleCVCA || !strings.HasPrefix(c.CHR, app.Country) || req.OuterCAR != c.CHR {
		return fmt.Errorf("%w: outer CAR %s is not a CVCA certificate of %s", cvc.ErrOuterSignature, req.OuterCAR, app.Country)
	}
	if !c.ValidAt(now) {
		return fmt.Errorf("%w: CVCA certificate %s expired on %s", cvc.ErrExpired, c.CHR, c.ExpirationDate)
	}
	if app.Current != nil && app.Current.ValidAt(now) {
		return fmt.Errorf("%w: %s holds a valid certificate; renewals must be authenticated with it", cvc.ErrOuterSignature, app.Current.CHR)
	}
	return nil
}

// Issue checks the request (see Check) and signs the certificate for it.
func (is *Issuer) Issue(raw []byte, app Applicant) (*cvc.Certificate, error) {
	req, err := is.Check(raw, app)
	if err != nil {
		return nil, err
	}
	return is.sign(req, app)
}

// IssueParsed is Issue for a request already parsed (cvc.ParseRequest).
func (is *Issuer) IssueParsed(req *cvc.Request, app Applicant) (*cvc.Certificate, error) {
	if err := is.CheckParsed(req, app); err != nil {
		return nil, err
	}
	return is.sign(req, app)
}

// sign makes the certificate for a checked request.
func (is *Issuer) sign(req *cvc.Request, app Applicant) (*cvc.Certificate, error) {
	issuer := is.Certificate()
	rights := issuer.CHAT.Rights()
	if app.Rights != nil {
		rights = cvc.CHAT{Type: issuer.CHAT.Type, Bits: app.Rights}.Intersect(issuer.CHAT).Rights()
	}
	chat := cvc.CHAT{Type: issuer.CHAT.Type, Bits: rights}.WithRole(app.Role)
	days := is.Policy.Validity[app.Role]
	if days <= 0 {
		days = DefaultPolicy().Validity[app.Role]
	}
	effective := cvc.DateOf(is.now())
	expiration := effective.AddDays(days - 1)
	if issuer.ExpirationDate.Before(expiration) {
		expiration = issuer.ExpirationDate
	}
	if expiration.Before(effective) {
		return nil, fmt.Errorf("authority: issuer certificate %s has expired", issuer.CHR)
	}
	key := req.PublicKey.WithoutDomain()
	cert, err := cvc.Issue(cvc.CertificateTemplate{
		CAR:            issuer.CHR,
		CHR:            req.CHR,
		PublicKey:      key,
		CHAT:           chat,
		EffectiveDate:  effective,
		ExpirationDate: expiration,
	}, is.Signer, issuer.PublicKey.Algorithm)
	if err != nil {
		return nil, fmt.Errorf("authority: sign certificate for %s: %w", req.CHR, err)
	}
	return cert, nil
}

// checkKey applies the algorithm and domain-parameter policy.
func (is *Issuer) checkKey(req *cvc.Request) error {
	issuer := is.Certificate()
	allowed := is.Policy.Algorithms
	if len(allowed) == 0 {
		allowed = []cvc.Algorithm{issuer.PublicKey.Algorithm}
	}
	alg := req.PublicKey.Algorithm
	if !slices.Contains(allowed, alg) {
		return fmt.Errorf("%w: %s keys are not accepted here (policy: %v)", cvc.ErrDomainParameters, alg, allowed)
	}
	if alg.IsECDSA() {
		domain := is.Domain()
		if domain == nil {
			return fmt.Errorf("%w: EC key under an RSA issuer", cvc.ErrDomainParameters)
		}
		if req.PublicKey.HasDomainParameters() {
			c, err := req.PublicKey.Curve()
			if err != nil {
				return err
			}
			if c.Name() != domain.Name() {
				return fmt.Errorf("%w: key on %s, the issuer's domain is %s", cvc.ErrDomainParameters, c.Name(), domain.Name())
			}
		}
		return nil
	}
	minBits := is.Policy.MinRSABits
	if minBits == 0 {
		minBits = 2048
	}
	if bits := len(bytes.TrimLeft(req.PublicKey.Modulus, "\x00")) * 8; bits < minBits {
		return fmt.Errorf("%w: RSA key of about %d bits, policy needs %d", cvc.ErrDomainParameters, bits, minBits)
	}
	return nil
}

// sequenceNotAbove reports whether CHR chr has a sequence number not above that of cur, the
// holder's current CHR (false when their lengths differ or either is no reference).
func sequenceNotAbove(chr, cur string) bool {
	r, err := cvc.ParseReference(chr)
	if err != nil || len(chr) != len(cur) {
		return false
	}
	c, err := cvc.ParseReference(cur)
	return err == nil && r.Sequence() <= c.Sequence()
}

// checkCHR requires the request's CHR to be the applicant's: country code, mnemonic and a
// five-character sequence number.
func checkCHR(chr string, app Applicant) error {
	prefix := app.Country + app.Mnemonic
	if !strings.HasPrefix(chr, prefix) || len(chr) != len(prefix)+5 {
		return fmt.Errorf("%w: CHR %s does not belong to holder %s", ErrNotAccepted, chr, prefix)
	}
	return nil
}

func canIssue(issuer, subject cvc.Role) bool {
	switch issuer {
	case cvc.RoleCVCA:
		return subject.IsDV()
	case cvc.RoleDVDomestic, cvc.RoleDVForeign:
		return subject == cvc.RoleTerminal
	}
	return false
}
