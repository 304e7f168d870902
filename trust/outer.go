package trust

import (
	"fmt"
	"time"

	"eacgate/cvc"
)

// VerifyOuter checks the outer signature of a request that is to leave the country
// (RequestForeignCertificate, TR-03139): it must be made by signer, the requester's current
// certificate as stored here, still valid at now. domain is the chain signer was issued
// under, for the domain parameters of a key that does not carry them. A request not
// authenticated by signer wraps cvc.ErrOuterSignature; an expired or not yet valid signer
// wraps cvc.ErrExpired (authority.CodeFor maps both to their return codes).
func VerifyOuter(req *cvc.Request, signer *cvc.Certificate, domain []*cvc.Certificate, now time.Time) error {
	if !req.Authenticated() {
		return fmt.Errorf("%w: request %s is not authenticated", cvc.ErrOuterSignature, req.CHR)
	}
	if req.OuterCAR != signer.CHR {
		return fmt.Errorf("%w: outer CAR %s is not the current certificate %s", cvc.ErrOuterSignature, req.OuterCAR, signer.CHR)
	}
	if err := req.VerifyOuterWith(signer, cvc.Domain(domain)); err != nil {
		return fmt.Errorf("%w: %w", cvc.ErrOuterSignature, err)
	}
	if !signer.ValidAt(now) {
		return fmt.Errorf("%w: %s is valid from %s to %s", cvc.ErrExpired, signer.CHR, signer.EffectiveDate, signer.ExpirationDate)
	}
	return nil
}
