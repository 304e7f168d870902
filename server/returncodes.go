package server

import (
	"slices"

	"eacgate/authority"
)

// closest lists, for a code that some protocol version or operation lacks, the codes to
// answer instead, best first; the first one the operation's enumeration has is taken. This
// is the one table of such substitutions (the roles produce v1.1 codes; TR-03129 v1.0 and
// CSN 36 9791 know fewer, and each operation allows only some). Why each row:
func closest(code authority.ReturnCode) []authority.ReturnCode {
	switch code {
	case authority.FailureExpired:
		// The requester's current certificate expired (v1.0 and CSN 36 9791 lack the code):
		// the renewal is refused by policy. Not failure_outer_signature, which would tell the
		// peer its signature is broken.
		return []authority.ReturnCode{authority.FailureRequestNotAccepted}
	case authority.FailureDomainParameters:
		// The request's key or algorithm is not one the issuer supports (v1.0, CSN 36 9791):
		// a well-formed, signed request that policy refuses.
		return []authority.ReturnCode{authority.FailureRequestNotAccepted}
	case authority.FailureForeignCARUnknown, authority.FailureNotForwarded, authority.FailureRequestNotAcceptedForeign:
		// Foreign exchange outcomes of v1.1: for the requester (v1.0, CSN 36 9791) the
		// request was not accepted.
		return []authority.ReturnCode{authority.FailureRequestNotAccepted}
	case authority.FailureSynchronousProcessingNotPossible:
		// CSN 36 9791 has no synchronous/asynchronous choice: the request was not accepted
		// now; GeneralMessage knows only failure_internal_error.
		return []authority.ReturnCode{authority.FailureRequestNotAccepted, authority.FailureInternalError}
	case authority.FailureInternalError:
		// v1.0 has no failure_internal_error: the request was not accepted (the peer may try
		// again), and the operations without that code refuse as they refuse a caller.
		return refusals()
	case authority.FailureSyntax:
		// CSN 36 9791 GetCACertificates and GeneralMessage have no failure_syntax: refused.
		return []authority.ReturnCode{authority.FailureRequestNotAccepted, authority.FailureInternalError}
	case authority.FailureRequestNotAccepted, authority.FailureMessageIDUnknown, authority.FailureListNotAvailable,
		authority.FailureInnerSignature, authority.FailureOuterSignature:
		// A refusal in an operation without this code: the operation's own refusal
		// (SendCertificates: failure_messageID_unknown, GetDocumentSignerList:
		// failure_list_not_available, CSN 36 9791 GeneralMessage: failure_internal_error).
		return refusals()
	case authority.OKSyntax, authority.OKRequestForwarded:
		// The request was taken and will be answered by SendCertificates: CSN 36 9791 says
		// so with ok_reception_ack.
		return []authority.ReturnCode{authority.OKReceptionAck, authority.OKSyntax}
	case authority.OKReceptionAck:
		return []authority.ReturnCode{authority.OKSyntax}
	}
	// An ok code of another operation, or a code no table row names: refused, which every
	// operation can say.
	return refusals()
}

// refusals are the codes with which operations refuse, one of which every operation's
// enumeration has.
func refusals() []authority.ReturnCode {
	return []authority.ReturnCode{authority.FailureRequestNotAccepted, authority.FailureMessageIDUnknown,
		authority.FailureListNotAvailable, authority.FailureInternalError}
}

// CodeFor is the code operation op of protocol p answers for code: code itself where op's
// enumeration (generated from p's XSD) has it, else the closest code it has (see closest).
// An operation p does not have keeps code.
func CodeFor(p Protocol, op string, code authority.ReturnCode) authority.ReturnCode {
	if p.ReturnCodes == nil {
		return code
	}
	return within(p.ReturnCodes(op), code)
}

// StatusInfoFor is the statusInfo with which SendCertificates of protocol p delivers an
// answer whose code is code: code where the statusInfo enumeration has it, else the
// closest value it has.
func StatusInfoFor(p Protocol, code authority.ReturnCode) authority.ReturnCode {
	if p.StatusInfoCodes == nil {
		return code
	}
	return within(p.StatusInfoCodes(), code)
}

// Refusal is the code with which operation op refuses a caller who may not use it:
// failure_request_not_accepted, or where op (in the first of protocols that has it) lacks
// that code, the closest one it has (SendCertificates: failure_messageID_unknown, ...).
func Refusal(op string, protocols ...Protocol) authority.ReturnCode {
	for _, p := range protocols {
		if p.ReturnCodes != nil && p.ReturnCodes(op) != nil {
			return CodeFor(p, op, authority.FailureRequestNotAccepted)
		}
	}
	return authority.FailureRequestNotAccepted
}

func within(allowed []authority.ReturnCode, code authority.ReturnCode) authority.ReturnCode {
	if len(allowed) == 0 || slices.Contains(allowed, code) {
		return code
	}
	for _, c := range closest(code) {
		if slices.Contains(allowed, c) {
			return c
		}
	}
	for _, c := range refusals() {
		if slices.Contains(allowed, c) {
			return c
		}
	}
	return allowed[len(allowed)-1]
}
