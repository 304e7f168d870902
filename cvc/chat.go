package cvc

import (
	"bytes"
	"encoding/asn1"
	"fmt"
)

// Terminal types of the certificate holder authorization template (TR-03110 Part 3, C.4):
// the OID says which application the rights are for.
var (
	OIDInspectionSystem       = asn1.ObjectIdentifier{0, 4, 0, 127, 0, 7, 3, 1, 2, 1} // id-IS (ePassport EAC)
	OIDAuthenticationTerminal = asn1.ObjectIdentifier{0, 4, 0, 127, 0, 7, 3, 1, 2, 2} // id-AT (eID)
	OIDSignatureTerminal      = asn1.ObjectIdentifier{0, 4, 0, 127, 0, 7, 3, 1, 2, 3} // id-ST (eSign)
)

// Role is the certificate holder's role, the two most significant bits of the CHAT.
type Role int

// Roles. For inspection systems DV-domestic is 10 and DV-foreign 01; for authentication
// terminals the same bits mean "official domestic" and "non-official / foreign" DV.
const (
	RoleTerminal   Role = 0 // 00
	RoleDVForeign  Role = 1 // 01
	RoleDVDomestic Role = 2 // 10
	RoleCVCA       Role = 3 // 11
)

// String names the role.
func (r Role) String() string {
	switch r {
	case RoleCVCA:
		return "CVCA"
	case RoleDVDomestic:
		return "DV (domestic)"
	case RoleDVForeign:
		return "DV (foreign)"
	case RoleTerminal:
		return "Terminal"
	}
	return fmt.Sprintf("Role(%d)", int(r))
}

// IsDV reports whether r is one of the two DV roles.
func (r Role) IsDV() bool { return r == RoleDVDomestic || r == RoleDVForeign }

// CHAT is the certificate holder authorization template (7F4C): a terminal type and a bit
// string whose two top bits are the role and the rest the access rights.
type CHAT struct {
	Type asn1.ObjectIdentifier
	Bits []byte // the discretionary data (53): 1 byte for IS and ST, 5 bytes for AT
}

// Inspection-system access rights (one byte, TR-03110 Part 3, C.4.1).
const (
	ISReadDG3 byte = 0x01 // fingerprint
	ISReadDG4 byte = 0x02 // iris
)

// NewISCHAT returns an inspection-system CHAT with the given role and rights
// (ISReadDG3 | ISReadDG4).
func NewISCHAT(role Role, rights byte) CHAT {
	return CHAT{Type: OIDInspectionSystem, Bits: []byte{byte(role)<<6 | rights&0x3F}}
}

// Role returns the role bits.
func (c CHAT) Role() Role {
	if len(c.Bits) == 0 {
		return RoleTerminal
	}
	return Role(c.Bits[0] >> 6)
}

// Rights returns the access-right bits with the role bits cleared.
func (c CHAT) Rights() []byte {
	r := bytes.Clone(c.Bits)
	if len(r) > 0 {
		r[0] &= 0x3F
	}
	return r
}

// WithRole returns a copy of c with the role bits replaced.
func (c CHAT) WithRole(role Role) CHAT {
	out := CHAT{Type: c.Type, Bits: bytes.Clone(c.Bits)}
	if len(out.Bits) > 0 {
		out.Bits[0] = out.Bits[0]&0x3F | byte(role)<<6
	}
	return out
}

// Intersect returns c with only the access rights that issuer also has (the role of c is kept).
// Issuers use it to narrow requested rights to their own.
func (c CHAT) Intersect(issuer CHAT) CHAT {
	out := CHAT{Type: c.Type, Bits: bytes.Clone(c.Bits)}
	for i := range out.Bits {
		var m byte
		if i < len(issuer.Bits) {
			m = issuer.Bits[i]
		}
		if i == 0 {
			m |= 0xC0
		}
		out.Bits[i] &= m
	}
	return out
}

// Within reports whether every access right of c is also granted by issuer and both are for
// the same terminal type. Roles are not compared.
func (c CHAT) Within(issuer CHAT) bool {
	if !c.Type.Equal(issuer.Type) || len(c.Bits) != len(issuer.Bits) {
		return false
	}
	for i := range c.Bits {
		m := issuer.Bits[i]
		if i == 0 {
			m |= 0xC0
		}
		if c.Bits[i]&^m != 0 {
			return false
		}
	}
	return true
}

// TypeName names the terminal type.
func (c CHAT) TypeName() string {
	switch {
	case c.Type.Equal(OIDInspectionSystem):
		return "Inspection system"
	case c.Type.Equal(OIDAuthenticationTerminal):
		return "Authentication terminal"
	case c.Type.Equal(OIDSignatureTerminal):
		return "Signature terminal"
	}
	return c.Type.String()
}

// expectedBits is the length of the discretionary data for the known terminal types.
func (c CHAT) expectedBits() int {
	switch {
	case c.Type.Equal(OIDAuthenticationTerminal):
		return 5
	case c.Type.Equal(OIDInspectionSystem), c.Type.Equal(OIDSignatureTerminal):
		return 1
	}
	return 0
}

// RightNames lists the access rights granted, in the words of TR-03110.
func (c CHAT) RightNames() []string {
	var names []string
	var table []string
	switch {
	case c.Type.Equal(OIDInspectionSystem):
		table = isRights[:]
	case c.Type.Equal(OIDAuthenticationTerminal):
		table = atRights[:]
	case c.Type.Equal(OIDSignatureTerminal):
		table = stRights[:]
	default:
		return nil
	}
	nbits := len(c.Bits)*8 - 2
	for bit := nbits - 1; bit >= 0; bit-- {
		byteIdx := len(c.Bits) - 1 - bit/8
		if c.Bits[byteIdx]&(1<<(bit%8)) == 0 {
			continue
		}
		if bit < len(table) && table[bit] != "" {
			names = append(names, table[bit])
		} else {
			names = append(names, fmt.Sprintf("RFU bit %d", bit))
		}
	}
	return names
}

var isRights = [6]string{"Read DG 3 (fingerprint)", "Read DG 4 (iris)", "", "", "", "Read eID application"}

var stRights = [6]string{"Generate electronic signature", "Generate qualified electronic signature"}

var atRights = [38]string{
	"Age Verification", "Community ID Verification", "Restricted Identification",
	"Privileged Terminal", "CAN allowed", "PIN Management", "Install Certificate",
	"Install Qualified Certificate",
	"Read DG 1 (Document Type)", "Read DG 2 (Issuing State)", "Read DG 3 (Date of Expiry)",
	"Read DG 4 (Given Names)", "Read DG 5 (Family Names)", "Read DG 6 (Nom de Plume)",
	"Read DG 7 (Academic Title)", "Read DG 8 (Date of Birth)", "Read DG 9 (Place of Birth)",
	"Read DG 10 (Nationality)", "Read DG 11 (Sex)", "Read DG 12 (Optional Data)",
	"Read DG 13", "Read DG 14", "Read DG 15", "Read DG 16",
	"Read DG 17 (Normal Place of Residence)", "Read DG 18 (Community ID)",
	"Read DG 19 (Residence Permit I)", "Read DG 20 (Residence Permit II)",
	"Read DG 21 (Optional Data)", "", "", "",
	"Write DG 22", "Write DG 21 (Optional Data)", "Write DG 20 (Residence Permit II)",
	"Write DG 19 (Residence Permit I)", "Write DG 18 (Community ID)",
	"Write DG 17 (Normal Place of Residence)",
}

// decodeCHAT decodes the contents of 7F4C.
func decodeCHAT(value []byte) (CHAT, error) {
	children, err := ParseSequence(value)
	if err != nil {
		return CHAT{}, fmt.Errorf("CHAT: %w", err)
	}
	if len(children) != 2 || children[0].Tag != TagOID || children[1].Tag != TagDiscretionaryData {
		return CHAT{}, fmt.Errorf("%w: CHAT must hold an OID (06) and discretionary data (53)", ErrSyntax)
	}
	oid, err := parseOID(children[0].Value)
	if err != nil {
		return CHAT{}, fmt.Errorf("CHAT: %w", err)
	}
	c := CHAT{Type: oid, Bits: bytes.Clone(children[1].Value)}
	if len(c.Bits) == 0 {
		return CHAT{}, fmt.Errorf("%w: empty CHAT", ErrSyntax)
	}
	if n := c.expectedBits(); n != 0 && n != len(c.Bits) {
		return CHAT{}, fmt.Errorf("%w: %s CHAT of %d bytes, want %d", ErrSyntax, c.TypeName(), len(c.Bits), n)
	}
	return c, nil
}

// encode returns the whole 7F4C object.
func (c CHAT) encode() ([]byte, error) {
	oid, err := encodeOID(c.Type)
	if err != nil {
		return nil, err
	}
	return EncodeConstructed(TagCHAT, oid, EncodeTLV(TagDiscretionaryData, c.Bits)), nil
}

// parseOID decodes the contents of an OBJECT IDENTIFIER.
func parseOID(value []byte) (asn1.ObjectIdentifier, error) {
	var oid asn1.ObjectIdentifier
	full := EncodeTLV(TagOID, value)
	rest, err := asn1.Unmarshal(full, &oid)
	if err != nil || len(rest) != 0 {
		return nil, fmt.Errorf("%w: invalid object identifier", ErrSyntax)
	}
	return oid, nil
}

// encodeOID returns the whole 06 object.
func encodeOID(oid asn1.ObjectIdentifier) ([]byte, error) {
	b, err := asn1.Marshal(oid)
	if err != nil {
		return nil, fmt.Errorf("encode OID %s: %w", oid, err)
	}
	return b, nil
}
