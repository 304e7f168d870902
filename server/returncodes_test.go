package server

import (
	"go/ast"
	"go/parser"
	"go/token"
	"slices"
	"strconv"
	"testing"

	"eacgate/authority"
)

// roleCodes lists every authority.ReturnCode constant (read from its source, so that a new
// code is covered without touching this test) and every value of any enumeration.
func roleCodes(t *testing.T) []authority.ReturnCode {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "../authority/returncode.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []authority.ReturnCode
	for _, d := range f.Decls {
		gd, ok := d.(*ast.GenDecl)
		if !ok || gd.Tok != token.CONST {
			continue
		}
		for _, s := range gd.Specs {
			for _, v := range s.(*ast.ValueSpec).Values {
				if lit, ok := v.(*ast.BasicLit); ok && lit.Kind == token.STRING {
					c, _ := strconv.Unquote(lit.Value)
					out = append(out, authority.ReturnCode(c))
				}
			}
		}
	}
	if len(out) < 20 {
		t.Fatalf("found only %d return codes in authority", len(out))
	}
	for _, p := range allProtocols() {
		for _, op := range allOperations {
			for _, c := range p.ReturnCodes(op) {
				if !slices.Contains(out, c) {
					out = append(out, c)
				}
			}
		}
	}
	return out
}

var allOperations = []string{"RequestCertificate", "RequestForeignCertificate", "GetCACertificates", "SendCertificates",
	"GetDocumentSignerList", "GeneralMessage"}

// Every code any role can produce maps to a member of each version's enumeration for each
// operation, and of its statusInfo; a code the enumeration has stays as it is, and a refusal
// stays a refusal.
func TestCodeForStaysInTheEnumeration(t *testing.T) {
	all := roleCodes(t)
	for _, p := range allProtocols() {
		ops := 0
		for _, op := range allOperations {
			allowed := p.ReturnCodes(op)
			if allowed == nil {
				continue
			}
			ops++
			for _, c := range all {
				got := CodeFor(p, op, c)
				switch {
				case !slices.Contains(allowed, got):
					t.Errorf("%s %s: %s maps to %s, not in %v", p.Namespace, op, c, got, allowed)
				case slices.Contains(allowed, c) && got != c:
					t.Errorf("%s %s: %s is allowed but maps to %s", p.Namespace, op, c, got)
				case !c.OK() && c != "ok" && c != authority.NewCertificateAvailableNotification && (got.OK() || got == "ok"):
					t.Errorf("%s %s: refusal %s maps to %s", p.Namespace, op, c, got)
				}
			}
		}
		if ops < 3 {
			t.Errorf("%s: only %d operations", p.Namespace, ops)
		}
		if status := p.StatusInfoCodes(); status != nil {
			for _, c := range all {
				if got := StatusInfoFor(p, c); !slices.Contains(status, got) {
					t.Errorf("%s statusInfo: %s maps to %s, not in %v", p.Namespace, c, got, status)
				}
			}
		}
	}
}

// The rows the issue names: v1.0 answers carry no v1.1-only code.
func TestCodeForV10(t *testing.T) {
	v10 := []Protocol{CVCAProtocols[1], DVProtocols[1]}
	for _, p := range v10 {
		for _, c := range []authority.ReturnCode{authority.FailureDomainParameters, authority.FailureExpired, authority.FailureInternalError} {
			if got := CodeFor(p, "RequestCertificate", c); got != authority.FailureRequestNotAccepted {
				t.Errorf("%s: %s -> %s", p.Namespace, c, got)
			}
		}
	}
	for _, c := range []authority.ReturnCode{authority.FailureNotForwarded, authority.FailureForeignCARUnknown, authority.FailureRequestNotAcceptedForeign} {
		if got := CodeFor(CVCAProtocols[1], "RequestForeignCertificate", c); got != authority.FailureRequestNotAccepted {
			t.Errorf("v1.0 RequestForeignCertificate: %s -> %s", c, got)
		}
		if got := CodeFor(CVCAProtocols[0], "RequestForeignCertificate", c); got != c {
			t.Errorf("v1.1 RequestForeignCertificate: %s -> %s", c, got)
		}
	}
	if got := CodeFor(DVProtocols[1], "SendCertificates", authority.FailureInternalError); got != authority.FailureMessageIDUnknown {
		t.Errorf("v1.0 SendCertificates: failure_internal_error -> %s", got)
	}
	if got := CodeFor(SPOCProtocols[0], "GetCACertificates", authority.FailureSyntax); got != authority.FailureRequestNotAccepted {
		t.Errorf("CSN GetCACertificates: failure_syntax -> %s", got)
	}
	if got := CodeFor(SPOCProtocols[0], "GeneralMessage", authority.FailureSyntax); got != authority.FailureInternalError {
		t.Errorf("CSN GeneralMessage: failure_syntax -> %s", got)
	}
}

// The lists CodeFor, StatusInfoFor and Refusal replace (ra, spoc and callback had copied
// them by hand) answer as before.
func TestReplacesHandCopiedLists(t *testing.T) {
	oldRefusalRA := func(op string) authority.ReturnCode {
		switch op {
		case "SendCertificates":
			return authority.FailureMessageIDUnknown
		case "GetDocumentSignerList":
			return authority.FailureListNotAvailable
		}
		return authority.FailureRequestNotAccepted
	}
	oldRefusalSPOC := func(op string) authority.ReturnCode {
		switch op {
		case "SendCertificates":
			return authority.FailureMessageIDUnknown
		case "GeneralMessage":
			return authority.FailureInternalError
		}
		return authority.FailureRequestNotAccepted
	}
	oldCSN := func(c authority.ReturnCode) authority.ReturnCode {
		switch c {
		case authority.OKCertAvailable, authority.FailureInnerSignature, authority.FailureOuterSignature,
			authority.FailureSyntax, authority.FailureRequestNotAccepted, authority.FailureInternalError:
			return c
		case authority.OKSyntax, authority.OKReceptionAck:
			return authority.OKReceptionAck
		}
		return authority.FailureRequestNotAccepted
	}
	oldStatusInfo := func(p Protocol, code authority.ReturnCode) authority.ReturnCode {
		allowed := []authority.ReturnCode{authority.OKCertAvailable, authority.FailureInnerSignature,
			authority.FailureOuterSignature, authority.FailureSyntax, authority.FailureRequestNotAccepted}
		switch p.Namespace {
		case DVProtocols[0].Namespace:
			allowed = append(allowed, authority.FailureExpired, authority.FailureDomainParameters, authority.FailureInternalError,
				authority.FailureForeignCARUnknown, authority.FailureNotForwarded, authority.FailureRequestNotAcceptedForeign)
		case SPOCProtocols[0].Namespace:
			allowed = append(allowed, authority.FailureInternalError)
		}
		if slices.Contains(allowed, code) {
			return code
		}
		return authority.FailureRequestNotAccepted
	}
	ra := append(append([]Protocol{}, CVCAProtocols...), DVProtocols...)
	for _, op := range allOperations {
		if got, want := Refusal(op, ra...), oldRefusalRA(op); got != want {
			t.Errorf("ra refusal %s = %s, was %s", op, got, want)
		}
		if got, want := Refusal(op, SPOCProtocols...), oldRefusalSPOC(op); got != want {
			t.Errorf("spoc refusal %s = %s, was %s", op, got, want)
		}
	}
	for _, c := range roleCodes(t) {
		// The one difference: ok_request_forwarded (which the CVCA behind the SPOC never
		// answers) now reads ok_reception_ack, as the request was taken.
		if got, want := CodeFor(SPOCProtocols[0], "RequestCertificate", c), oldCSN(c); got != want &&
			c != authority.NewCertificateAvailableNotification && c != authority.OKRequestForwarded {
			t.Errorf("csnCode(%s) = %s, was %s", c, got, want)
		}
		for _, p := range []Protocol{DVProtocols[0], DVProtocols[1], SPOCProtocols[0]} {
			if c == authority.NewCertificateAvailableNotification {
				continue // a notification is no answer's status
			}
			if got, want := StatusInfoFor(p, c), oldStatusInfo(p, c); got != want {
				t.Errorf("%s statusInfo(%s) = %s, was %s", p.Namespace, c, got, want)
			}
		}
	}
}
