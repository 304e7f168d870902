package cvc

import "errors"

// Sentinel errors. Every error returned by this package for bad input wraps exactly one of
// them, so that callers can map it to a TR-03129 return code with errors.Is.
var (
	// ErrSyntax: the bytes are not a well-formed CV certificate or request
	// (failure_syntax).
	ErrSyntax = errors.New("cvc: syntax error")
	// ErrDomainParameters: unknown algorithm or curve, missing or mismatching domain
	// parameters, or a key that is not valid for them (failure_domain_parameters).
	ErrDomainParameters = errors.New("cvc: unsupported or invalid domain parameters")
	// ErrInnerSignature: the inner signature of a request (by the requested key itself)
	// does not verify (failure_inner_signature).
	ErrInnerSignature = errors.New("cvc: inner signature invalid")
	// ErrOuterSignature: the outer signature of an authenticated request does not verify
	// with the key of the certificate named by the outer CAR (failure_outer_signature).
	ErrOuterSignature = errors.New("cvc: outer signature invalid")
	// ErrSignature: a certificate's signature does not verify with its issuer's key.
	ErrSignature = errors.New("cvc: certificate signature invalid")
	// ErrExpired: a certificate is not valid at the time of checking (failure_expired).
	ErrExpired = errors.New("cvc: certificate expired or not yet valid")
	// ErrChain: a certificate does not chain to the trust anchor (unknown issuer, wrong
	// role order, CHAT wider than the issuer's).
	ErrChain = errors.New("cvc: certificate chain invalid")
)
