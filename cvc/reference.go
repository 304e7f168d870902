package cvc

import (
	"fmt"
	"strconv"
)

// Reference is a certification authority or holder reference (CAR, CHR) as this gateway
// writes them: a two-letter country code, a holder mnemonic of 1 to 9 characters and a
// five-character sequence number (TR-03110 Part 3, A.6.1; TR-03139 3.1). It lets code ask
// for the parts by name instead of slicing the string.
type Reference struct {
	s string
}

// refSeqLen is the length of a reference's sequence number.
const refSeqLen = 5

// ParseReference splits a CAR or CHR of the shape TR-03110 gives them (upper-case country
// code, mnemonic of 1 to 9 printable characters, sequence number of 5 digits or upper-case
// letters); any other string is an ErrSyntax error. The country code is not looked up
// (see CheckCountry).
func ParseReference(s string) (Reference, error) {
	if err := checkReference("reference", s); err != nil {
		return Reference{}, err
	}
	return Reference{s: s}, nil
}

// NewReference joins a country code, a mnemonic and a sequence number into a reference,
// checked as ParseReference does (and the country of 2 characters, the sequence number of
// 5).
func NewReference(country, mnemonic, sequence string) (Reference, error) {
	if len(country) != 2 || len(sequence) != refSeqLen {
		return Reference{}, fmt.Errorf("%w: reference: country %q must have 2 characters and sequence number %q 5", ErrSyntax, country, sequence)
	}
	return ParseReference(country + mnemonic + sequence)
}

// String returns the reference as written in certificates.
func (r Reference) String() string { return r.s }

// IsZero reports whether r is the zero Reference (not parsed from anything).
func (r Reference) IsZero() bool { return r.s == "" }

// Country returns the country code (the first two characters).
func (r Reference) Country() string {
	if r.IsZero() {
		return ""
	}
	return r.s[:2]
}

// Mnemonic returns the holder mnemonic (between country code and sequence number).
func (r Reference) Mnemonic() string {
	if r.IsZero() {
		return ""
	}
	return r.s[2 : len(r.s)-refSeqLen]
}

// Holder returns country code and mnemonic: the reference without its sequence number,
// which names the holder in all of its certificates.
func (r Reference) Holder() string {
	if r.IsZero() {
		return ""
	}
	return r.s[:len(r.s)-refSeqLen]
}

// Sequence returns the five-character sequence number.
func (r Reference) Sequence() string {
	if r.IsZero() {
		return ""
	}
	return r.s[len(r.s)-refSeqLen:]
}

// Next returns the reference of the holder's next key: the sequence number, which must be
// decimal, plus one (00001 -> 00002). It fails for a non-decimal sequence number or after
// 99999.
func (r Reference) Next() (Reference, error) {
	seq := r.Sequence()
	n, err := strconv.ParseUint(seq, 10, 32)
	if err != nil {
		return Reference{}, fmt.Errorf("%w: reference %q: the sequence number is not decimal", ErrSyntax, r.s)
	}
	if n >= 99999 {
		return Reference{}, fmt.Errorf("%w: reference %q: no sequence number after 99999", ErrSyntax, r.s)
	}
	return Reference{s: fmt.Sprintf("%s%05d", r.Holder(), n+1)}, nil
}
