package authority

import (
	"crypto"
	"fmt"

	"eacgate/cvc"
)

// CVCASpec describes a CVCA certificate to create.
type CVCASpec struct {
	CHR        string
	Algorithm  cvc.Algorithm
	CHAT       cvc.CHAT // type and rights; the role bits are set to CVCA
	Effective  cvc.Date
	Expiration cvc.Date
}

// NewCVCA creates the self-signed certificate of a new CVCA key (the country's first trust
// point). The key's EC domain parameters are written into the certificate.
func NewCVCA(spec CVCASpec, signer crypto.Signer) (*cvc.Certificate, error) {
	pub, err := cvc.NewPublicKey(spec.Algorithm, signer.Public(), true)
	if err != nil {
		return nil, fmt.Errorf("authority: CVCA key: %w", err)
	}
	return cvc.Issue(cvc.CertificateTemplate{
		CAR: spec.CHR, CHR: spec.CHR, PublicKey: pub, CHAT: spec.CHAT.WithRole(cvc.RoleCVCA),
		EffectiveDate: spec.Effective, ExpirationDate: spec.Expiration,
	}, signer, spec.Algorithm)
}

// NewLink creates the link certificate of a CVCA key rollover: the new key (newSigner, for
// spec) certified by the current CVCA key (oldSigner, whose certificate is old). Terminals
// and chips holding the old trust point reach the new one through it.
func NewLink(spec CVCASpec, newSigner crypto.Signer, old *cvc.Certificate, oldSigner crypto.Signer) (*cvc.Certificate, error) {
	if old.Role() != cvc.RoleCVCA {
		return nil, fmt.Errorf("authority: %s is not a CVCA certificate", old.CHR)
	}
	if !spec.CHAT.Type.Equal(old.CHAT.Type) {
		return nil, fmt.Errorf("authority: the new CVCA must keep the terminal type %s", old.CHAT.TypeName())
	}
	pub, err := cvc.NewPublicKey(spec.Algorithm, newSigner.Public(), true)
	if err != nil {
		return nil, fmt.Errorf("authority: new CVCA key: %w", err)
	}
	return cvc.Issue(cvc.CertificateTemplate{
		CAR: old.CHR, CHR: spec.CHR, PublicKey: pub, CHAT: spec.CHAT.WithRole(cvc.RoleCVCA),
		EffectiveDate: spec.Effective, ExpirationDate: spec.Expiration,
	}, oldSigner, old.PublicKey.Algorithm)
}
