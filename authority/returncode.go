// Package authority holds the issuing policies of the EAC PKI roles: a CVCA issuing DV
// certificates and a DV issuing terminal certificates. It checks a certificate request
// against the registered applicant and the issuer's policy, decides the new certificate's
// CHAT and validity, and signs it. It knows nothing of SOAP or SQL: callers pass in what the
// store knows about the applicant and get back a certificate and a TR-03129 return code.
package authority

import (
	"errors"

	"eacgate/cvc"
)

// ReturnCode is a TR-03129 return code, spelled exactly as in the XSDs.
type ReturnCode string

// Return codes of TR-03129 (v1.1) that the issuing path produces.
const (
	OKCertAvailable                         ReturnCode = "ok_cert_available"
	OKSyntax                                ReturnCode = "ok_syntax"
	OKReceptionAck                          ReturnCode = "ok_reception_ack"
	OKRequestForwarded                      ReturnCode = "ok_request_forwarded"
	OKListAvailable                         ReturnCode = "ok_list_available"
	OKReceivedCorrectly                     ReturnCode = "ok_received_correctly"
	FailureInnerSignature                   ReturnCode = "failure_inner_signature"
	FailureOuterSignature                   ReturnCode = "failure_outer_signature"
	FailureExpired                          ReturnCode = "failure_expired"
	FailureDomainParameters                 ReturnCode = "failure_domain_parameters"
	FailureRequestNotAccepted               ReturnCode = "failure_request_not_accepted"
	FailureSyntax                           ReturnCode = "failure_syntax"
	FailureSynchronousProcessingNotPossible ReturnCode = "failure_synchronous_processing_not_possible"
	FailureMessageIDUnknown                 ReturnCode = "failure_messageID_unknown"
	FailureListNotAvailable                 ReturnCode = "failure_list_not_available"
	FailureInternalError                    ReturnCode = "failure_internal_error"
	// Foreign exchange (RequestForeignCertificate, v1.1) and the SPOC protocol.
	FailureForeignCARUnknown            ReturnCode = "failure_foreignCAR_unknown"
	FailureNotForwarded                 ReturnCode = "failure_not_forwarded"
	FailureRequestNotAcceptedForeign    ReturnCode = "failure_request_not_accepted_foreign"
	NewCertificateAvailableNotification ReturnCode = "new_cer_available_notification"
)

// OK reports whether the code is one of the ok_ codes.
func (c ReturnCode) OK() bool { return len(c) > 3 && c[:3] == "ok_" }

// ErrNotAccepted is wrapped by every refusal that is policy rather than cryptography:
// unregistered or inactive holder, wrong CHR, unauthenticated renewal, reused key
// (failure_request_not_accepted).
var ErrNotAccepted = errors.New("authority: request not accepted")

// CodeFor maps an error of this package or of cvc to its return code. Errors it does not know
// are internal errors: their text must not reach the peer.
func CodeFor(err error) ReturnCode {
	switch {
	case err == nil:
		return OKCertAvailable
	case errors.Is(err, cvc.ErrSyntax):
		return FailureSyntax
	case errors.Is(err, cvc.ErrDomainParameters):
		return FailureDomainParameters
	case errors.Is(err, cvc.ErrInnerSignature):
		return FailureInnerSignature
	case errors.Is(err, cvc.ErrOuterSignature):
		return FailureOuterSignature
	case errors.Is(err, cvc.ErrExpired):
		return FailureExpired
	case errors.Is(err, ErrNotAccepted):
		return FailureRequestNotAccepted
	}
	return FailureInternalError
}
