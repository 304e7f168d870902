package cvc

import (
	"bytes"
	"crypto"
	"encoding/asn1"
	"fmt"
	"time"
)

// ProfileIdentifier is the only certificate profile TR-03110 defines (version 1, value 0).
const ProfileIdentifier = 0x00

// Extension is one certificate extension: a discretionary data template (73) inside the
// extensions object (65), identified by its OID. Raw keeps the template exactly as received.
type Extension struct {
	OID  asn1.ObjectIdentifier
	Data []TLV // the data objects after the OID (for example 80 and 81 hashes)
	Raw  []byte
}

// NewExtension builds a discretionary data template from an OID and data objects given as
// encoded TLVs.
func NewExtension(oid asn1.ObjectIdentifier, data ...[]byte) (Extension, error) {
	o, err := encodeOID(oid)
	if err != nil {
		return Extension{}, err
	}
	raw := EncodeConstructed(TagDiscretionaryTmpl, append([][]byte{o}, data...)...)
	exts, err := decodeExtensions(raw)
	if err != nil {
		return Extension{}, err
	}
	return exts[0], nil
}

// Certificate is a card-verifiable certificate of BSI TR-03110 Part 3, appendix C.1.
type Certificate struct {
	ProfileIdentifier byte
	CAR               string // certification authority reference: the issuer's CHR
	PublicKey         PublicKey
	CHR               string // certificate holder reference
	CHAT              CHAT
	EffectiveDate     Date
	ExpirationDate    Date
	Extensions        []Extension
	Signature         []byte

	// Raw is the whole certificate (7F21) and Body the signed part (7F4E), exactly as
	// received or as produced by Issue.
	Raw  []byte
	Body []byte
}

// Role is the holder's role from the CHAT.
func (c *Certificate) Role() Role { return c.CHAT.Role() }

// IsSelfSigned reports whether the certificate names itself as issuer (a CVCA's own
// certificate, as opposed to a link certificate).
func (c *Certificate) IsSelfSigned() bool { return c.CAR == c.CHR }

// IsLink reports whether c is a CVCA link certificate: a new CVCA key signed by an older one.
func (c *Certificate) IsLink() bool { return c.Role() == RoleCVCA && !c.IsSelfSigned() }

// ValidAt reports whether t falls on a day from the effective date to the expiration date,
// both inclusive.
func (c *Certificate) ValidAt(t time.Time) bool {
	d := DateOf(t)
	return !d.Before(c.EffectiveDate) && !c.ExpirationDate.Before(d)
}

// ParseCertificate decodes a CV certificate. Every field must be present in the order of
// TR-03110 (extensions optional); nothing may follow the certificate.
func ParseCertificate(b []byte) (*Certificate, error) {
	outer, children, err := ParseConstructed(b, TagCVCertificate)
	if err != nil {
		return nil, fmt.Errorf("certificate: %w", err)
	}
	if len(children) != 2 || children[0].Tag != TagCertificateBody || children[1].Tag != TagSignature {
		return nil, fmt.Errorf("%w: certificate must hold a body (7F4E) and a signature (5F37)", ErrSyntax)
	}
	c := &Certificate{Raw: outer.Raw, Body: children[0].Raw, Signature: children[1].Value}
	fields, err := ParseSequence(children[0].Value)
	if err != nil {
		return nil, fmt.Errorf("certificate body: %w", err)
	}
	want := []Tag{TagProfileIdentifier, TagCAR, TagPublicKey, TagCHR, TagCHAT, TagEffectiveDate, TagExpirationDate}
	if len(fields) == len(want)+1 && fields[len(want)].Tag == TagExtensions {
		exts, err := decodeExtensions(fields[len(want)].Value)
		if err != nil {
			return nil, err
		}
		c.Extensions = exts
		fields = fields[:len(want)]
	}
	if len(fields) != len(want) {
		return nil, fmt.Errorf("%w: certificate body has %d data objects, want %d or %d", ErrSyntax, len(fields), len(want), len(want)+1)
	}
	for i, t := range want {
		if fields[i].Tag != t {
			return nil, fmt.Errorf("%w: certificate body object %d is %s, want %s", ErrSyntax, i+1, fields[i].Tag, t)
		}
	}
	if c.ProfileIdentifier, err = decodeProfile(fields[0].Value); err != nil {
		return nil, err
	}
	if c.CAR, err = decodeReference("CAR", fields[1].Value); err != nil {
		return nil, err
	}
	if c.PublicKey, err = decodePublicKey(fields[2].Value); err != nil {
		return nil, err
	}
	if c.CHR, err = decodeReference("CHR", fields[3].Value); err != nil {
		return nil, err
	}
	if c.CHAT, err = decodeCHAT(fields[4].Value); err != nil {
		return nil, err
	}
	if c.EffectiveDate, err = decodeDate(fields[5].Value); err != nil {
		return nil, fmt.Errorf("effective date: %w", err)
	}
	if c.ExpirationDate, err = decodeDate(fields[6].Value); err != nil {
		return nil, fmt.Errorf("expiration date: %w", err)
	}
	if c.ExpirationDate.Before(c.EffectiveDate) {
		return nil, fmt.Errorf("%w: expiration date %s before effective date %s", ErrSyntax, c.ExpirationDate, c.EffectiveDate)
	}
	if len(c.Signature) == 0 {
		return nil, fmt.Errorf("%w: empty signature", ErrSyntax)
	}
	return c, nil
}

// EncodeBody returns the certificate body (7F4E) built from the fields.
func (c *Certificate) EncodeBody() ([]byte, error) {
	pk, err := c.PublicKey.encode()
	if err != nil {
		return nil, err
	}
	chat, err := c.CHAT.encode()
	if err != nil {
		return nil, err
	}
	parts := [][]byte{
		EncodeTLV(TagProfileIdentifier, []byte{c.ProfileIdentifier}),
		EncodeTLV(TagCAR, []byte(c.CAR)),
		pk,
		EncodeTLV(TagCHR, []byte(c.CHR)),
		chat,
		EncodeTLV(TagEffectiveDate, c.EffectiveDate.encode()),
		EncodeTLV(TagExpirationDate, c.ExpirationDate.encode()),
	}
	if len(c.Extensions) > 0 {
		parts = append(parts, encodeExtensions(c.Extensions))
	}
	return EncodeConstructed(TagCertificateBody, parts...), nil
}

// Encode returns the certificate (7F21) built from the fields. For a certificate decoded
// from its canonical encoding the result equals Raw byte for byte.
func (c *Certificate) Encode() ([]byte, error) {
	body, err := c.EncodeBody()
	if err != nil {
		return nil, err
	}
	return EncodeConstructed(TagCVCertificate, body, EncodeTLV(TagSignature, c.Signature)), nil
}

// CertificateTemplate is what an issuer decides about a new certificate.
type CertificateTemplate struct {
	CAR            string    // the issuer's CHR (equal to CHR for a self-signed CVCA)
	CHR            string    // the holder's reference
	PublicKey      PublicKey // the holder's key; EC domain parameters only for CVCA certificates
	CHAT           CHAT
	EffectiveDate  Date
	ExpirationDate Date
	Extensions     []Extension
}

// Issue builds the certificate from tmpl and signs its body with signer, the issuer's key,
// under alg, the algorithm of the issuer's public key.
func Issue(tmpl CertificateTemplate, signer crypto.Signer, alg Algorithm) (*Certificate, error) {
	if err := checkReference("CAR", tmpl.CAR); err != nil {
		return nil, err
	}
	if err := checkReference("CHR", tmpl.CHR); err != nil {
		return nil, err
	}
	if !tmpl.EffectiveDate.valid() || !tmpl.ExpirationDate.valid() {
		return nil, fmt.Errorf("%w: effective and expiration dates must be days in 2000-2099", ErrSyntax)
	}
	if tmpl.ExpirationDate.Before(tmpl.EffectiveDate) {
		return nil, fmt.Errorf("%w: expiration date before effective date", ErrSyntax)
	}
	if len(tmpl.CHAT.Bits) == 0 || tmpl.CHAT.Type == nil {
		return nil, fmt.Errorf("%w: certificate without CHAT", ErrSyntax)
	}
	if tmpl.CHAT.Role() == RoleCVCA && tmpl.PublicKey.Algorithm.IsECDSA() && !tmpl.PublicKey.HasDomainParameters() {
		return nil, fmt.Errorf("%w: a CVCA certificate's EC key must carry its domain parameters", ErrDomainParameters)
	}
	c := &Certificate{
		ProfileIdentifier: ProfileIdentifier,
		CAR:               tmpl.CAR,
		PublicKey:         tmpl.PublicKey,
		CHR:               tmpl.CHR,
		CHAT:              tmpl.CHAT,
		EffectiveDate:     tmpl.EffectiveDate,
		ExpirationDate:    tmpl.ExpirationDate,
		Extensions:        tmpl.Extensions,
	}
	body, err := c.EncodeBody()
	if err != nil {
		return nil, err
	}
	sig, err := Sign(signer, alg, body)
	if err != nil {
		return nil, err
	}
	c.Body, c.Signature = body, sig
	c.Raw = EncodeConstructed(TagCVCertificate, body, EncodeTLV(TagSignature, sig))
	return ParseCertificate(c.Raw)
}

// CheckSignature verifies the certificate's signature with the issuer's key (as returned by
// PublicKey.Key of the issuer certificate). It hashes the body exactly as received.
func (c *Certificate) CheckSignature(issuerKey crypto.PublicKey, issuerAlg Algorithm) error {
	if err := VerifySignature(issuerAlg, issuerKey, c.Body, c.Signature); err != nil {
		return fmt.Errorf("%w: %s issued by %s: %v", ErrSignature, c.CHR, c.CAR, err)
	}
	return nil
}

func decodeProfile(v []byte) (byte, error) {
	if len(v) != 1 || v[0] != ProfileIdentifier {
		return 0, fmt.Errorf("%w: unsupported certificate profile identifier % X", ErrSyntax, v)
	}
	return v[0], nil
}

// decodeReference decodes a CAR or CHR: country code, holder mnemonic and sequence number
// (TR-03110 Part 3, A.6.1; the shape checkReference checks).
func decodeReference(name string, v []byte) (string, error) {
	s := string(v)
	if err := checkReference(name, s); err != nil {
		return "", err
	}
	return s, nil
}

func decodeExtensions(v []byte) ([]Extension, error) {
	tmpls, err := ParseSequence(v)
	if err != nil {
		return nil, fmt.Errorf("extensions: %w", err)
	}
	if len(tmpls) == 0 {
		return nil, fmt.Errorf("%w: empty extensions object", ErrSyntax)
	}
	out := make([]Extension, 0, len(tmpls))
	for _, t := range tmpls {
		if t.Tag != TagDiscretionaryTmpl {
			return nil, fmt.Errorf("%w: extension tag %s, want 73", ErrSyntax, t.Tag)
		}
		objs, err := ParseSequence(t.Value)
		if err != nil {
			return nil, fmt.Errorf("extension: %w", err)
		}
		if len(objs) == 0 || objs[0].Tag != TagOID {
			return nil, fmt.Errorf("%w: extension without OID", ErrSyntax)
		}
		oid, err := parseOID(objs[0].Value)
		if err != nil {
			return nil, err
		}
		out = append(out, Extension{OID: oid, Data: objs[1:], Raw: t.Raw})
	}
	return out, nil
}

func encodeExtensions(exts []Extension) []byte {
	parts := make([][]byte, len(exts))
	for i, e := range exts {
		parts[i] = e.Raw
	}
	return EncodeConstructed(TagExtensions, parts...)
}

// Equal reports whether two certificates have the same encoding.
func (c *Certificate) Equal(o *Certificate) bool { return bytes.Equal(c.Raw, o.Raw) }
