package spoc

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"eacgate/authority"
	"eacgate/cvc"
	"eacgate/msg"
)

// Template names one of the notifications TR-03139 Appendix C.4 recommends between SPOCs
// (sent as CSN 36 9791 GeneralMessage).
type Template string

// The C.4 notifications.
const (
	TemplateDisruption            Template = "disruption"             // Disruption of CVCA communication channel
	TemplateSuspension            Template = "suspension"             // Suspension of CVCA service
	TemplateReactivation          Template = "reactivation"           // Reactivation of SPOC service
	TemplateKeyCompromise         Template = "key-compromise"         // [IS|DV|CVCA] private key [lost|stolen|compromised]
	TemplateCertificateInaccurate Template = "certificate-inaccurate" // Certificate inaccurate
	TemplateTermination           Template = "termination"            // [CVCA|DV] Termination
	TemplateDVNotCompliant        Template = "dv-not-compliant"       // DV not compliant
)

// Templates are the C.4 notifications in the order of the appendix.
func Templates() []Template {
	return []Template{TemplateDisruption, TemplateSuspension, TemplateReactivation, TemplateKeyCompromise,
		TemplateCertificateInaccurate, TemplateTermination, TemplateDVNotCompliant}
}

// Params says which Notice fields a template needs (for help texts and error messages).
func (t Template) Params() string {
	switch t {
	case TemplateKeyCompromise:
		return "role (IS, DV or CVCA), loss (lost, stolen or compromised), chr, date (YYYY-MM-DD)"
	case TemplateCertificateInaccurate, TemplateDVNotCompliant:
		return "chr"
	case TemplateTermination:
		return "role (CVCA or DV), chr"
	}
	return "none"
}

// Notice is a notification to partner SPOCs: a C.4 template with its parameters, or free
// text (Template empty, Subject and Body given).
type Notice struct {
	Template Template
	// Role is whose key was lost (IS, DV or CVCA: key-compromise) or what terminates (CVCA or
	// DV: termination).
	Role string
	// Loss is what became of the key: lost, stolen or compromised (key-compromise).
	Loss string
	// CHR is the certificate holder reference the notification is about.
	CHR string
	// Date is the day of the key compromise, YYYY-MM-DD.
	Date string
	// Subject and Body are the free text (Template empty).
	Subject, Body string
}

// ErrNotice refuses a notice that is incomplete or does not fit its template.
var ErrNotice = errors.New("spoc: notice")

// Render returns the GeneralMessage's subject and body: the template's text with the
// parameters filled in (subjects and the bodies C.4 words verbatim), or the free text.
func (n Notice) Render() (subject, body string, err error) {
	if n.Template == "" {
		if strings.TrimSpace(n.Subject) == "" || strings.TrimSpace(n.Body) == "" {
			return "", "", fmt.Errorf("%w: free text needs a subject and a body (or choose a template)", ErrNotice)
		}
		if strings.ContainsAny(n.Subject, "\r\n") {
			return "", "", fmt.Errorf("%w: the subject is one line", ErrNotice)
		}
		return n.Subject, n.Body, nil
	}
	if n.Subject != "" || n.Body != "" {
		return "", "", fmt.Errorf("%w: a template takes no subject or body of its own", ErrNotice)
	}
	if err := n.check(); err != nil {
		return "", "", fmt.Errorf("%w: %s needs %s: %w", ErrNotice, n.Template, n.Template.Params(), err)
	}
	switch n.Template {
	case TemplateDisruption:
		return "Disruption of CVCA communication channel", "The communication channel of our CVCA is disrupted.", nil
	case TemplateSuspension:
		return "Suspension of CVCA service", "The service of our CVCA is suspended.", nil
	case TemplateReactivation:
		return "Reactivation of SPOC service", "The service of our SPOC is reactivated.", nil
	case TemplateKeyCompromise:
		return n.Role + " private key " + n.Loss, "Private key belonging to " + n.CHR + " was " + n.Loss + " on " + n.Date + ".", nil
	case TemplateCertificateInaccurate:
		return "Certificate inaccurate", "The certificate " + n.CHR + " is inaccurate.", nil
	case TemplateTermination:
		return n.Role + " Termination", "The " + n.Role + " " + n.CHR + " terminates its operation.", nil
	case TemplateDVNotCompliant:
		return "DV not compliant", "The DV " + n.CHR + " is no longer compliant to Common CP requirements.", nil
	}
	return "", "", fmt.Errorf("%w: unknown template %q (one of %v)", ErrNotice, n.Template, Templates())
}

// check checks the parameters of n's template: those it needs are there and well formed,
// no others are given.
func (n Notice) check() error {
	var roles []string
	var chr, loss, date bool
	switch n.Template {
	case TemplateKeyCompromise:
		roles, chr, loss, date = []string{"IS", "DV", "CVCA"}, true, true, true
	case TemplateCertificateInaccurate, TemplateDVNotCompliant:
		chr = true
	case TemplateTermination:
		roles, chr = []string{"CVCA", "DV"}, true
	}
	var errs []error
	switch {
	case roles == nil && n.Role != "":
		errs = append(errs, errors.New("no role"))
	case roles != nil && !slices.Contains(roles, n.Role):
		errs = append(errs, fmt.Errorf("role %q is not one of %s", n.Role, strings.Join(roles, ", ")))
	}
	switch {
	case !loss && n.Loss != "":
		errs = append(errs, errors.New("no loss"))
	case loss && !slices.Contains([]string{"lost", "stolen", "compromised"}, n.Loss):
		errs = append(errs, fmt.Errorf("loss %q is not lost, stolen or compromised", n.Loss))
	}
	if !chr && n.CHR != "" {
		errs = append(errs, errors.New("no chr"))
	} else if chr {
		if _, err := cvc.ParseReference(n.CHR); err != nil {
			errs = append(errs, fmt.Errorf("chr %q: %w", n.CHR, err))
		}
	}
	if !date && n.Date != "" {
		errs = append(errs, errors.New("no date"))
	} else if _, err := time.Parse(time.DateOnly, n.Date); date && err != nil {
		errs = append(errs, fmt.Errorf("date %q is not YYYY-MM-DD", n.Date))
	}
	return errors.Join(errs...)
}

// Partners are the countries of the routing table, in its order (ops.PartnerMessenger).
func (f *Forwarder) Partners() []string {
	out := make([]string, 0, len(f.Config.Partners))
	for _, p := range f.Config.Partners {
		out = append(out, p.Country)
	}
	return out
}

// SendGeneralMessage sends a CSN 36 9791 GeneralMessage to country's SPOC and returns its
// return code (ops.PartnerMessenger: the operator's notifications go through ops, which
// stores and audits them).
func (f *Forwarder) SendGeneralMessage(ctx context.Context, country, messageID, subject, body string) (authority.ReturnCode, error) {
	if f.Clients[country] == nil {
		return "", fmt.Errorf("%w: %s", ErrNoPartner, country)
	}
	a, err := f.call(ctx, country, msg.Message{Operation: "GeneralMessage", CallerID: f.Country, MessageID: messageID,
		Subject: subject, Body: body})
	if err != nil {
		return "", fmt.Errorf("spoc: GeneralMessage to %s: %w", country, err)
	}
	return a.ReturnCode, nil
}
