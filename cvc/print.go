package cvc

import (
	"fmt"
	"io"
	"strings"
)

// Describe writes a human-readable account of a certificate, in the manner of openpace's
// cvc-print: references, CHAT with its rights, dates, key, extensions.
func (c *Certificate) Describe(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "Certificate:\n")
	fmt.Fprintf(&b, "  Profile identifier: %d\n", c.ProfileIdentifier)
	fmt.Fprintf(&b, "  CAR: %s\n", c.CAR)
	fmt.Fprintf(&b, "  CHR: %s\n", c.CHR)
	kind := c.Role().String()
	if c.IsLink() {
		kind = "CVCA (link certificate)"
	}
	fmt.Fprintf(&b, "  Role: %s\n", kind)
	describeKey(&b, &c.PublicKey)
	fmt.Fprintf(&b, "  CHAT: %s, % X\n", c.CHAT.TypeName(), c.CHAT.Bits)
	for _, r := range c.CHAT.RightNames() {
		fmt.Fprintf(&b, "    %s\n", r)
	}
	fmt.Fprintf(&b, "  Effective Date: %s\n", c.EffectiveDate)
	fmt.Fprintf(&b, "  Expiration Date: %s\n", c.ExpirationDate)
	describeExtensions(&b, c.Extensions)
	fmt.Fprintf(&b, "  Signature: %d bytes\n", len(c.Signature))
	_, err := io.WriteString(w, b.String())
	return err
}

// Describe writes a human-readable account of a certificate request.
func (r *Request) Describe(w io.Writer) error {
	var b strings.Builder
	if r.Authenticated() {
		fmt.Fprintf(&b, "Authenticated Certificate Request:\n")
	} else {
		fmt.Fprintf(&b, "Certificate Request:\n")
	}
	fmt.Fprintf(&b, "  Profile identifier: %d\n", r.ProfileIdentifier)
	if r.CAR != "" {
		fmt.Fprintf(&b, "  CAR: %s\n", r.CAR)
	} else {
		fmt.Fprintf(&b, "  CAR: (none)\n")
	}
	fmt.Fprintf(&b, "  CHR: %s\n", r.CHR)
	describeKey(&b, &r.PublicKey)
	describeExtensions(&b, r.Extensions)
	fmt.Fprintf(&b, "  Inner signature: %d bytes\n", len(r.InnerSignature))
	if r.Authenticated() {
		fmt.Fprintf(&b, "  Outer CAR: %s\n", r.OuterCAR)
		fmt.Fprintf(&b, "  Outer signature: %d bytes\n", len(r.OuterSignature))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func describeKey(b *strings.Builder, k *PublicKey) {
	fmt.Fprintf(b, "  Public Key: %s, %s", k.Algorithm, k.KeyDescription(nil))
	if k.Algorithm.IsECDSA() && k.HasDomainParameters() {
		b.WriteString(", with domain parameters")
	}
	b.WriteString("\n")
}

func describeExtensions(b *strings.Builder, exts []Extension) {
	if len(exts) == 0 {
		return
	}
	fmt.Fprintf(b, "  Certificate Extensions:\n")
	for _, e := range exts {
		name := e.OID.String()
		switch name {
		case "0.4.0.127.0.7.3.1.3.1":
			name = "id-description (" + name + ")"
		case "0.4.0.127.0.7.3.1.3.2":
			name = "id-sector (" + name + ")"
		}
		fmt.Fprintf(b, "    %s\n", name)
	}
}
