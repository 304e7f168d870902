package cvc

import (
	"errors"
	"strings"
	"testing"
)

func TestReference(t *testing.T) {
	for _, tc := range []struct {
		in, country, mnemonic, seq, next string
	}{
		{"UTCVCA00001", "UT", "CVCA", "00001", "UTCVCA00002"},
		{"DEDV0000109", "DE", "DV00", "00109", "DEDV0000110"},
		{"ZZA00009", "ZZ", "A", "00009", "ZZA00010"},
		{"UTDVDEMO123456789", "", "", "", ""}, // 17 characters
		{"UTDVDEMO12345678", "UT", "DVDEMO123", "45678", "UTDVDEMO12345679"},
		{"UTDVDE0001", "UT", "DVD", "E0001", ""}, // not decimal: no next
		{"UTDVD99999", "UT", "DVD", "99999", ""}, // the last one
		{"UTDV001", "", "", "", ""},              // too short
		{"", "", "", "", ""},
		{"UT DV00001", "", "", "", ""}, // a space is not printable here
	} {
		r, err := ParseReference(tc.in)
		if tc.country == "" {
			if err == nil || !errors.Is(err, ErrSyntax) || !r.IsZero() {
				t.Errorf("ParseReference(%q) = %v, %v; want an ErrSyntax error", tc.in, r, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseReference(%q): %v", tc.in, err)
			continue
		}
		if r.String() != tc.in || r.Country() != tc.country || r.Mnemonic() != tc.mnemonic || r.Sequence() != tc.seq ||
			r.Holder() != tc.country+tc.mnemonic {
			t.Errorf("%q: country %q mnemonic %q sequence %q holder %q", tc.in, r.Country(), r.Mnemonic(), r.Sequence(), r.Holder())
		}
		next, err := r.Next()
		switch {
		case tc.next == "" && (err == nil || !errors.Is(err, ErrSyntax)):
			t.Errorf("%q.Next() = %v, %v; want an ErrSyntax error", tc.in, next, err)
		case tc.next != "" && (err != nil || next.String() != tc.next):
			t.Errorf("%q.Next() = %v, %v; want %s", tc.in, next, err, tc.next)
		}
	}
	var zero Reference
	if zero.Country() != "" || zero.Mnemonic() != "" || zero.Sequence() != "" || zero.Holder() != "" || zero.String() != "" {
		t.Error("the zero Reference has parts")
	}
	if _, err := zero.Next(); err == nil {
		t.Error("the zero Reference has a next one")
	}
}

func TestNewReference(t *testing.T) {
	r, err := NewReference("UT", "DVDEMO", "00001")
	if err != nil || r.String() != "UTDVDEMO00001" {
		t.Fatalf("NewReference = %v, %v", r, err)
	}
	for _, parts := range [][3]string{{"U", "TDV", "00001"}, {"UT", "DV", "0001"}, {"UT", "", "00001"}, {"UT", "MNEMONIC10", "00001"}} {
		if r, err := NewReference(parts[0], parts[1], parts[2]); !errors.Is(err, ErrSyntax) {
			t.Errorf("NewReference%q = %v, %v; want an ErrSyntax error", parts, r, err)
		}
	}
}

func FuzzReference(f *testing.F) {
	for _, s := range []string{"UTCVCA00001", "ZZA99999", "UTDVDEMO12345678", "", "U", "UTDV0", "UT\x00DV00001"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseReference(s)
		if err != nil {
			if !r.IsZero() {
				t.Fatalf("%q: a reference with the error %v", s, err)
			}
			return
		}
		if r.Country()+r.Mnemonic()+r.Sequence() != s || r.String() != s || len(r.Country()) != 2 ||
			len(r.Sequence()) != 5 || len(r.Mnemonic()) < 1 || len(r.Mnemonic()) > 9 {
			t.Fatalf("%q split as %q %q %q", s, r.Country(), r.Mnemonic(), r.Sequence())
		}
		if next, err := r.Next(); err == nil {
			if next.Holder() != r.Holder() || next.Sequence() <= r.Sequence() || strings.TrimLeft(next.Sequence(), "0123456789") != "" {
				t.Fatalf("%q: next %q", s, next)
			}
		}
	})
}
