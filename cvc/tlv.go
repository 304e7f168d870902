package cvc

import (
	"fmt"
)

// Tag is a BER-TLV tag as it appears on the wire, e.g. 0x7F21 or 0x5F37 (up to three bytes).
type Tag uint32

// The tags of BSI TR-03110 Part 3, appendix D.
const (
	TagCVCertificate      Tag = 0x7F21
	TagCertificateBody    Tag = 0x7F4E
	TagProfileIdentifier  Tag = 0x5F29
	TagCAR                Tag = 0x42
	TagPublicKey          Tag = 0x7F49
	TagCHR                Tag = 0x5F20
	TagCHAT               Tag = 0x7F4C
	TagEffectiveDate      Tag = 0x5F25
	TagExpirationDate     Tag = 0x5F24
	TagExtensions         Tag = 0x65
	TagDiscretionaryTmpl  Tag = 0x73
	TagSignature          Tag = 0x5F37
	TagAuthentication     Tag = 0x67
	TagOID                Tag = 0x06
	TagDiscretionaryData  Tag = 0x53
	TagDiscretionaryData0 Tag = 0x80
)

// maxTLVLength bounds the length field: four length bytes as TR-03110 allows, but no
// single CV structure is anywhere near 16 MiB, so anything larger is hostile or broken.
const maxTLVLength = 1 << 24

// TLV is one decoded BER-TLV data object. Value and Raw alias the input.
type TLV struct {
	Tag   Tag
	Value []byte // the contents
	Raw   []byte // tag, length and contents exactly as received
}

// Constructed reports whether the tag's first byte has the constructed bit (0x20) set.
func (t Tag) Constructed() bool {
	first := uint32(t)
	for first > 0xFF {
		first >>= 8
	}
	return first&0x20 != 0
}

// String returns the tag in hex, e.g. "7F21".
func (t Tag) String() string { return fmt.Sprintf("%02X", uint32(t)) }

// parseTag reads a BER tag (one to three bytes) from b.
func parseTag(b []byte) (Tag, int, error) {
	if len(b) == 0 {
		return 0, 0, fmt.Errorf("%w: missing tag", ErrSyntax)
	}
	if b[0] == 0x00 || b[0] == 0xFF {
		return 0, 0, fmt.Errorf("%w: invalid tag byte %02X", ErrSyntax, b[0])
	}
	if b[0]&0x1F != 0x1F {
		return Tag(b[0]), 1, nil
	}
	tag := uint32(b[0])
	for i := 1; i < 3; i++ {
		if i >= len(b) {
			return 0, 0, fmt.Errorf("%w: truncated tag", ErrSyntax)
		}
		if i == 1 && b[i]&0x7F == 0 {
			return 0, 0, fmt.Errorf("%w: non-minimal tag %02X%02X", ErrSyntax, b[0], b[1])
		}
		tag = tag<<8 | uint32(b[i])
		if b[i]&0x80 == 0 {
			return Tag(tag), i + 1, nil
		}
	}
	return 0, 0, fmt.Errorf("%w: tag longer than three bytes", ErrSyntax)
}

// parseLength reads a definite BER length (short form, or long form with one to four bytes).
// Lengths that could have been written shorter are rejected.
func parseLength(b []byte) (int, int, error) {
	if len(b) == 0 {
		return 0, 0, fmt.Errorf("%w: missing length", ErrSyntax)
	}
	first := b[0]
	if first < 0x80 {
		return int(first), 1, nil
	}
	if first == 0x80 {
		return 0, 0, fmt.Errorf("%w: indefinite length", ErrSyntax)
	}
	n := int(first & 0x7F)
	if n > 4 {
		return 0, 0, fmt.Errorf("%w: length of %d bytes", ErrSyntax, n)
	}
	if len(b) < 1+n {
		return 0, 0, fmt.Errorf("%w: truncated length", ErrSyntax)
	}
	if b[1] == 0 {
		return 0, 0, fmt.Errorf("%w: overlong length encoding", ErrSyntax)
	}
	length := 0
	for _, c := range b[1 : 1+n] {
		length = length<<8 | int(c)
	}
	if length < 0x80 {
		return 0, 0, fmt.Errorf("%w: overlong length encoding", ErrSyntax)
	}
	if length > maxTLVLength {
		return 0, 0, fmt.Errorf("%w: length %d too large", ErrSyntax, length)
	}
	return length, 1 + n, nil
}

// ParseTLV decodes the first data object of b and returns it with the bytes that follow it.
func ParseTLV(b []byte) (TLV, []byte, error) {
	tag, tn, err := parseTag(b)
	if err != nil {
		return TLV{}, nil, err
	}
	length, ln, err := parseLength(b[tn:])
	if err != nil {
		return TLV{}, nil, fmt.Errorf("tag %s: %w", tag, err)
	}
	hdr := tn + ln
	if length > len(b)-hdr {
		return TLV{}, nil, fmt.Errorf("%w: tag %s: length %d exceeds the %d bytes available", ErrSyntax, tag, length, len(b)-hdr)
	}
	end := hdr + length
	return TLV{Tag: tag, Value: b[hdr:end:end], Raw: b[:end:end]}, b[end:], nil
}

// ParseSingle decodes b as exactly one data object: trailing bytes are an error.
func ParseSingle(b []byte) (TLV, error) {
	t, rest, err := ParseTLV(b)
	if err != nil {
		return TLV{}, err
	}
	if len(rest) != 0 {
		return TLV{}, fmt.Errorf("%w: %d trailing bytes after tag %s", ErrSyntax, len(rest), t.Tag)
	}
	return t, nil
}

// ParseSequence decodes the concatenated data objects in b (the contents of a constructed
// object). It never allocates more than one TLV per three input bytes.
func ParseSequence(b []byte) ([]TLV, error) {
	out := make([]TLV, 0, min(len(b)/3+1, 16))
	for len(b) > 0 {
		t, rest, err := ParseTLV(b)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
		b = rest
	}
	return out, nil
}

// ParseConstructed decodes b as one data object with the given tag whose contents are
// themselves data objects.
func ParseConstructed(b []byte, tag Tag) (TLV, []TLV, error) {
	t, err := ParseSingle(b)
	if err != nil {
		return TLV{}, nil, err
	}
	if t.Tag != tag {
		return TLV{}, nil, fmt.Errorf("%w: expected tag %s, found %s", ErrSyntax, tag, t.Tag)
	}
	children, err := ParseSequence(t.Value)
	if err != nil {
		return TLV{}, nil, fmt.Errorf("inside %s: %w", tag, err)
	}
	return t, children, nil
}

// appendTag writes the tag bytes (without leading zero bytes).
func appendTag(dst []byte, tag Tag) []byte {
	switch {
	case tag > 0xFFFF:
		return append(dst, byte(tag>>16), byte(tag>>8), byte(tag))
	case tag > 0xFF:
		return append(dst, byte(tag>>8), byte(tag))
	default:
		return append(dst, byte(tag))
	}
}

// appendLength writes a minimal definite length.
func appendLength(dst []byte, n int) []byte {
	switch {
	case n < 0x80:
		return append(dst, byte(n))
	case n <= 0xFF:
		return append(dst, 0x81, byte(n))
	case n <= 0xFFFF:
		return append(dst, 0x82, byte(n>>8), byte(n))
	case n <= 0xFFFFFF:
		return append(dst, 0x83, byte(n>>16), byte(n>>8), byte(n))
	default:
		return append(dst, 0x84, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
}

// AppendTLV appends the encoding of one data object to dst.
func AppendTLV(dst []byte, tag Tag, value []byte) []byte {
	dst = appendTag(dst, tag)
	dst = appendLength(dst, len(value))
	return append(dst, value...)
}

// EncodeTLV returns the encoding of one data object.
func EncodeTLV(tag Tag, value []byte) []byte {
	return AppendTLV(make([]byte, 0, len(value)+8), tag, value)
}

// EncodeConstructed encodes a constructed data object from already encoded children.
func EncodeConstructed(tag Tag, children ...[]byte) []byte {
	n := 0
	for _, c := range children {
		n += len(c)
	}
	value := make([]byte, 0, n)
	for _, c := range children {
		value = append(value, c...)
	}
	return EncodeTLV(tag, value)
}
