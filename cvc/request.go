package cvc

import (
	"crypto"
	"fmt"

	"eacgate/ecc"
)

// Request is a certificate request of BSI TR-03110 Part 3, appendix C.2: an inner request
// (7F21: body with the requested key, signed by that key) optionally wrapped in an
// authentication (67) signed by the key of an existing certificate named by the outer CAR.
type Request struct {
	ProfileIdentifier byte
	CAR               string // inner CAR: the CA the request is for (optional, "" if absent)
	PublicKey         PublicKey
	CHR               string
	Extensions        []Extension
	InnerSignature    []byte

	// Authenticated requests only.
	OuterCAR       string
	OuterSignature []byte

	// Raw is the whole request as received or built (67 or 7F21), Inner the 7F21 object,
	// Body the signed body (7F4E) and OuterSigned the bytes the outer signature covers:
	// the 7F21 object followed by the outer 42 object.
	Raw, Inner, Body, OuterSigned []byte
}

// Authenticated reports whether the request carries an outer signature.
func (r *Request) Authenticated() bool { return r.OuterSignature != nil }

// ParseRequest decodes an authenticated (67) or plain (7F21) certificate request.
func ParseRequest(b []byte) (*Request, error) {
	top, err := ParseSingle(b)
	if err != nil {
		return nil, fmt.Errorf("request: %w", err)
	}
	switch top.Tag {
	case TagCVCertificate:
		r, err := parseInnerRequest(top)
		if err != nil {
			return nil, err
		}
		r.Raw = top.Raw
		return r, nil
	case TagAuthentication:
		objs, err := ParseSequence(top.Value)
		if err != nil {
			return nil, fmt.Errorf("authenticated request: %w", err)
		}
		if len(objs) != 3 || objs[0].Tag != TagCVCertificate || objs[1].Tag != TagCAR || objs[2].Tag != TagSignature {
			return nil, fmt.Errorf("%w: authenticated request must hold 7F21, 42 and 5F37", ErrSyntax)
		}
		r, err := parseInnerRequest(objs[0])
		if err != nil {
			return nil, err
		}
		if r.OuterCAR, err = decodeReference("outer CAR", objs[1].Value); err != nil {
			return nil, err
		}
		if len(objs[2].Value) == 0 {
			return nil, fmt.Errorf("%w: empty outer signature", ErrSyntax)
		}
		r.OuterSignature = objs[2].Value
		// 7F21 and 42 are adjacent in the input, so the signed bytes are one sub-slice.
		n := len(objs[0].Raw) + len(objs[1].Raw)
		r.OuterSigned = top.Value[:n:n]
		r.Raw = top.Raw
		return r, nil
	}
	return nil, fmt.Errorf("%w: request tag %s, want 7F21 or 67", ErrSyntax, top.Tag)
}

func parseInnerRequest(t TLV) (*Request, error) {
	children, err := ParseSequence(t.Value)
	if err != nil {
		return nil, fmt.Errorf("request: %w", err)
	}
	if len(children) != 2 || children[0].Tag != TagCertificateBody || children[1].Tag != TagSignature {
		return nil, fmt.Errorf("%w: request must hold a body (7F4E) and an inner signature (5F37)", ErrSyntax)
	}
	if len(children[1].Value) == 0 {
		return nil, fmt.Errorf("%w: empty inner signature", ErrSyntax)
	}
	r := &Request{Inner: t.Raw, Body: children[0].Raw, InnerSignature: children[1].Value}
	fields, err := ParseSequence(children[0].Value)
	if err != nil {
		return nil, fmt.Errorf("request body: %w", err)
	}
	i := 0
	next := func(tag Tag) (TLV, bool) {
		if i < len(fields) && fields[i].Tag == tag {
			i++
			return fields[i-1], true
		}
		return TLV{}, false
	}
	f, ok := next(TagProfileIdentifier)
	if !ok {
		return nil, fmt.Errorf("%w: request body must start with the profile identifier", ErrSyntax)
	}
	if r.ProfileIdentifier, err = decodeProfile(f.Value); err != nil {
		return nil, err
	}
	if f, ok := next(TagCAR); ok {
		if r.CAR, err = decodeReference("CAR", f.Value); err != nil {
			return nil, err
		}
	}
	if f, ok = next(TagPublicKey); !ok {
		return nil, fmt.Errorf("%w: request body without public key", ErrSyntax)
	}
	if r.PublicKey, err = decodePublicKey(f.Value); err != nil {
		return nil, err
	}
	if f, ok = next(TagCHR); !ok {
		return nil, fmt.Errorf("%w: request body without CHR", ErrSyntax)
	}
	if r.CHR, err = decodeReference("CHR", f.Value); err != nil {
		return nil, err
	}
	if f, ok := next(TagExtensions); ok {
		if r.Extensions, err = decodeExtensions(f.Value); err != nil {
			return nil, err
		}
	}
	if i != len(fields) {
		return nil, fmt.Errorf("%w: unexpected %s in request body", ErrSyntax, fields[i].Tag)
	}
	return r, nil
}

// VerifyInner checks the inner signature with the requested key itself (proof of
// possession). EC keys without domain parameters need domain, the curve of the CA the
// request is for; a request's own parameters take precedence.
func (r *Request) VerifyInner(domain *ecc.Curve) error {
	key, err := r.PublicKey.Key(domain)
	if err != nil {
		return err
	}
	if err := VerifySignature(r.PublicKey.Algorithm, key, r.Body, r.InnerSignature); err != nil {
		return fmt.Errorf("%w: request %s: %v", ErrInnerSignature, r.CHR, err)
	}
	return nil
}

// VerifyOuter checks the outer signature with the key of the certificate named by OuterCAR
// (key as returned by that certificate's PublicKey.Key, alg its algorithm).
func (r *Request) VerifyOuter(key crypto.PublicKey, alg Algorithm) error {
	if !r.Authenticated() {
		return fmt.Errorf("%w: request %s is not authenticated", ErrOuterSignature, r.CHR)
	}
	if err := VerifySignature(alg, key, r.OuterSigned, r.OuterSignature); err != nil {
		return fmt.Errorf("%w: request %s by %s: %v", ErrOuterSignature, r.CHR, r.OuterCAR, err)
	}
	return nil
}

// VerifyOuterWith checks the outer signature with the key of cert, which must be the
// certificate named by the outer CAR; domain is the curve of its CVCA, for EC keys without
// their own parameters.
func (r *Request) VerifyOuterWith(cert *Certificate, domain *ecc.Curve) error {
	if r.OuterCAR != cert.CHR {
		return fmt.Errorf("%w: outer CAR %s does not name certificate %s", ErrOuterSignature, r.OuterCAR, cert.CHR)
	}
	key, err := cert.PublicKey.Key(domain)
	if err != nil {
		return err
	}
	return r.VerifyOuter(key, cert.PublicKey.Algorithm)
}

// RequestTemplate is what a requester puts in a request besides the key.
type RequestTemplate struct {
	CAR        string // the CA asked to issue; optional
	CHR        string // the reference the new certificate should carry
	Extensions []Extension
}

// NewRequest builds and signs the inner request for key (which should carry its EC domain
// parameters, as TR-03110 requires) with signer, the matching private key.
func NewRequest(tmpl RequestTemplate, key PublicKey, signer crypto.Signer) (*Request, error) {
	if tmpl.CAR != "" {
		if err := checkReference("CAR", tmpl.CAR); err != nil {
			return nil, err
		}
	}
	if err := checkReference("CHR", tmpl.CHR); err != nil {
		return nil, err
	}
	pk, err := key.encode()
	if err != nil {
		return nil, err
	}
	parts := [][]byte{EncodeTLV(TagProfileIdentifier, []byte{ProfileIdentifier})}
	if tmpl.CAR != "" {
		parts = append(parts, EncodeTLV(TagCAR, []byte(tmpl.CAR)))
	}
	parts = append(parts, pk, EncodeTLV(TagCHR, []byte(tmpl.CHR)))
	if len(tmpl.Extensions) > 0 {
		parts = append(parts, encodeExtensions(tmpl.Extensions))
	}
	body := EncodeConstructed(TagCertificateBody, parts...)
	sig, err := Sign(signer, key.Algorithm, body)
	if err != nil {
		return nil, err
	}
	return ParseRequest(EncodeConstructed(TagCVCertificate, body, EncodeTLV(TagSignature, sig)))
}

// Authenticate wraps the inner request of r in an authentication signed by signer, the key
// of the holder's current certificate outerCAR, under alg, that certificate's algorithm.
func (r *Request) Authenticate(outerCAR string, signer crypto.Signer, alg Algorithm) (*Request, error) {
	if err := checkReference("outer CAR", outerCAR); err != nil {
		return nil, err
	}
	car := EncodeTLV(TagCAR, []byte(outerCAR))
	signed := make([]byte, 0, len(r.Inner)+len(car))
	signed = append(append(signed, r.Inner...), car...)
	sig, err := Sign(signer, alg, signed)
	if err != nil {
		return nil, err
	}
	return ParseRequest(EncodeConstructed(TagAuthentication, r.Inner, car, EncodeTLV(TagSignature, sig)))
}

// Encode returns the request built from the fields (67 if authenticated, else 7F21). For a
// request decoded from its canonical encoding the result equals Raw byte for byte.
func (r *Request) Encode() ([]byte, error) {
	pk, err := r.PublicKey.encode()
	if err != nil {
		return nil, err
	}
	parts := [][]byte{EncodeTLV(TagProfileIdentifier, []byte{r.ProfileIdentifier})}
	if r.CAR != "" {
		parts = append(parts, EncodeTLV(TagCAR, []byte(r.CAR)))
	}
	parts = append(parts, pk, EncodeTLV(TagCHR, []byte(r.CHR)))
	if len(r.Extensions) > 0 {
		parts = append(parts, encodeExtensions(r.Extensions))
	}
	inner := EncodeConstructed(TagCVCertificate, EncodeConstructed(TagCertificateBody, parts...), EncodeTLV(TagSignature, r.InnerSignature))
	if !r.Authenticated() {
		return inner, nil
	}
	return EncodeConstructed(TagAuthentication, inner, EncodeTLV(TagCAR, []byte(r.OuterCAR)), EncodeTLV(TagSignature, r.OuterSignature)), nil
}
